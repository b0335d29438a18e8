"""The rules that keep a hostile or broken answer from unverifying anyone, without a network:
strict JSON, registration dates, and properties over random answers."""

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lapsewatch.check import DomainChecker
from lapsewatch.lifecycle import Lifecycle
from lapsewatch.net.doubt import Doubt
from lapsewatch.net.strict_json import read_json
from lapsewatch.providers import Observation
from lapsewatch.providers.rdap_answers import read_answer
from lapsewatch.timefmt import rfc3339
from lapsewatch_tools.local.rdap_documents import LIFECYCLE_STATUSES

FIXTURES = Path(__file__).parent.parent / "fixtures" / "rdap"
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
DOMAIN = "example.com"


class SameAnswer:
    """A provider that answers every lookup with one observation."""

    name = "rdap"

    def __init__(self, observation):
        self.observation = observation

    def lookup(self, domain, *, deadline=None):
        return self.observation


def check(observation, verified_at=None):
    checker = DomainChecker(SameAnswer(observation), confirm_delay=0, clock=lambda: NOW, sleep=lambda _: None)
    return checker.check_domain(DOMAIN, verified_at)


# Strict JSON.


@pytest.mark.parametrize(
    ("body", "member"),
    [
        (b'{"status": [], "status": []}', "status"),
        (b'{"a": {"b": 1, "b": 1}}', "b"),
        (b'{"events": [{"eventDate": "x"}, {"eventDate": "x", "eventDate": "y"}]}', "eventDate"),
        (b'[{"ldhName": "example.com", "ldhName": "example.net"}]', "ldhName"),
    ],
)
def test_a_member_named_twice_anywhere_is_doubt(body, member):
    with pytest.raises(Doubt, match=f"names the member '{member}' twice in one object"):
        read_json(body)


def test_the_same_name_in_different_objects_is_fine():
    assert read_json(b'{"a": {"x": 1}, "b": {"x": 2}, "x": 3}') == {"a": {"x": 1}, "b": {"x": 2}, "x": 3}


@pytest.mark.parametrize("body", [b"", b"<html>", b"[" * 100_000, b"\xff\xfe"])
def test_what_is_not_json_is_doubt(body):
    with pytest.raises(Doubt, match="the answer is not JSON"):
        read_json(body)


# Registration dates.


def test_a_renewed_nomulus_domain_is_active_not_reregistered():
    """Nomulus reports each renewal as a "reregistration"; the holder is the one who registered.
    Verified between the registration (2019) and the last renewal (2026): still theirs."""
    body = (FIXTURES / "nomulus_app_renewed.json").read_bytes()
    observation = read_answer(body, "lapsewatch-renewed.app")
    verified = datetime(2023, 1, 10, tzinfo=UTC)
    checker = DomainChecker(SameAnswer(observation), confirm_delay=0, clock=lambda: NOW)
    result = checker.check_domain("lapsewatch-renewed.app", verified)
    assert result.lifecycle is Lifecycle.ACTIVE
    assert not result.unsafe
    assert result.registered_at == datetime(2019, 5, 8, 17, 9, 31, 112000, tzinfo=UTC)
    assert result.registered_at < verified < datetime(2026, 5, 8, tzinfo=UTC)
    assert result.verified_at == verified


def test_a_future_registration_date_in_an_answer_is_unknown():
    document = json.loads((FIXTURES / "reregistered.json").read_text())
    document["events"][0]["eventDate"] = "2027-01-30T16:20:00Z"
    observation = read_answer(json.dumps(document).encode(), "lapsewatch-new-owner.com")
    result = DomainChecker(SameAnswer(observation), confirm_delay=0, clock=lambda: NOW).check_domain(
        "lapsewatch-new-owner.com", NOW - timedelta(days=365)
    )
    assert result.lifecycle is Lifecycle.UNKNOWN
    assert not result.unsafe
    assert "registered on 2027-01-30, which is in the future" in result.reason


# Properties over random answers.

STATUSES = sorted(
    {status for statuses in LIFECYCLE_STATUSES.values() for status in statuses}
    | {"active", "ok", "inactive", "redemptionPeriod", "pendingDelete", "pending restore", "serverHold"}
)
ACTIONS = ["registration", "reregistration", "expiration", "last changed", "transfer", "Registration"]
moments = st.datetimes(min_value=datetime(1985, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))
future = st.datetimes(
    min_value=NOW.replace(tzinfo=None) + timedelta(seconds=1),
    max_value=datetime(2100, 1, 1),
    timezones=st.just(UTC),
)


def events(actions=ACTIONS):
    return st.lists(
        st.fixed_dictionaries(
            {
                "eventAction": st.sampled_from(actions),
                "eventDate": st.one_of(moments.map(rfc3339), st.text(max_size=4)),
            }
        ),
        max_size=6,
    )


documents = st.fixed_dictionaries(
    {
        "objectClassName": st.just("domain"),
        "ldhName": st.sampled_from([DOMAIN, DOMAIN.upper(), DOMAIN + "."]),
        "status": st.lists(st.sampled_from(STATUSES), max_size=5),
        "events": events(),
    }
)
verified_at = st.one_of(st.none(), moments)


@given(document=documents, verified=verified_at)
def test_no_answer_through_a_redirect_is_ever_unsafe(document, verified):
    observation = read_answer(json.dumps(document).encode(), DOMAIN)
    result = check(replace(observation, authoritative=False), verified)
    assert not result.unsafe
    assert result.lifecycle in {Lifecycle.ACTIVE, Lifecycle.GRACE, Lifecycle.UNKNOWN}


@given(
    lifecycle=st.sampled_from(list(Lifecycle)),
    registered=st.one_of(st.none(), moments),
    expires=st.one_of(st.none(), moments),
    verified=verified_at,
)
def test_no_observation_through_a_redirect_is_ever_unsafe(lifecycle, registered, expires, verified):
    observation = Observation(
        provider="rdap",
        lifecycle=lifecycle,
        registered_at=registered,
        expires_at=expires,
        source="https://rdap.registrar.example/domain/example.com",
        authoritative=False,
    )
    assert not check(observation, verified).unsafe


@given(document=documents, registered=future, at=st.integers(min_value=0, max_value=6), verified=verified_at)
def test_no_answer_with_a_future_registration_date_is_ever_unsafe(document, registered, at, verified):
    document["events"].insert(at, {"eventAction": "registration", "eventDate": rfc3339(registered)})
    observation = read_answer(json.dumps(document).encode(), DOMAIN)
    result = check(observation, verified)
    assert not result.unsafe
    assert result.lifecycle is Lifecycle.UNKNOWN
