"""DomainChecker: doubt is never unsafe, only the registry's own server may say unsafe, and unsafe
needs two agreeing lookups."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from lapsewatch.check import CHECK_BUDGET, LOOKUP_BUDGET, CheckResult, DomainChecker, exit_status
from lapsewatch.lifecycle import Lifecycle, parse_unsafe
from lapsewatch.providers import Observation

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


class ScriptedProvider:
    """Answers each lookup with the next observation (or raises it), and records the calls."""

    name = "scripted"

    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = []

    def lookup(self, domain, *, deadline=None):
        self.calls.append((domain, deadline))
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, Lifecycle):
            return Observation(provider=self.name, lifecycle=answer, statuses=(str(answer),))
        return answer


class FakeClock:
    def __init__(self):
        self.now = 100.0
        self.slept = []

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


def checker(provider, **kwargs):
    clock = FakeClock()
    kwargs.setdefault("confirm_delay", 0)
    built = DomainChecker(provider, clock=lambda: NOW, monotonic=clock.monotonic, sleep=clock.sleep, **kwargs)
    return built, clock


@pytest.mark.parametrize("lifecycle", [Lifecycle.ACTIVE, Lifecycle.GRACE, Lifecycle.HOLD, Lifecycle.UNKNOWN])
def test_a_safe_or_doubtful_answer_needs_no_confirmation(lifecycle):
    provider = ScriptedProvider(lifecycle)
    result = checker(provider)[0].check("user@example.com")
    assert result.lifecycle is lifecycle
    assert not result.unsafe
    assert len(provider.calls) == 1


@pytest.mark.parametrize(
    "lifecycle", [Lifecycle.REDEMPTION, Lifecycle.PENDING_DELETE, Lifecycle.UNREGISTERED]
)
def test_unsafe_when_the_confirmation_agrees(lifecycle):
    provider = ScriptedProvider(lifecycle, lifecycle)
    result = checker(provider)[0].check("user@example.com")
    assert result.lifecycle is lifecycle
    assert result.unsafe
    assert [domain for domain, _ in provider.calls] == ["example.com", "example.com"]


def test_confirmation_waits_the_delay():
    provider = ScriptedProvider(Lifecycle.REDEMPTION, Lifecycle.REDEMPTION)
    built, clock = checker(provider, confirm_delay=1.0)
    assert built.check("example.com").unsafe
    assert clock.slept == [1.0]


@pytest.mark.parametrize(
    "second", [Lifecycle.ACTIVE, Lifecycle.PENDING_DELETE, Lifecycle.UNKNOWN, RuntimeError("boom")]
)
def test_disagreeing_confirmation_is_unknown(second):
    provider = ScriptedProvider(Lifecycle.REDEMPTION, second)
    result = checker(provider)[0].check("example.com")
    assert result.lifecycle is Lifecycle.UNKNOWN
    assert not result.unsafe
    assert "two lookups disagreed (redemption then " in result.reason


def test_invalid_input_is_never_looked_up():
    provider = ScriptedProvider(Lifecycle.UNREGISTERED)
    result = checker(provider)[0].check("not a domain")
    assert result.lifecycle is Lifecycle.INVALID
    assert not result.unsafe
    assert result.domain is None
    assert "white space" in result.reason
    assert provider.calls == []


def test_a_provider_that_raises_is_unknown():
    provider = ScriptedProvider(ValueError("provider bug"))
    result = checker(provider)[0].check("example.com")
    assert result.lifecycle is Lifecycle.UNKNOWN
    assert not result.unsafe
    assert "provider bug" in result.error
    assert "could not tell the state of example.com" in result.reason


def test_the_provider_gets_a_deadline_within_the_budgets():
    provider = ScriptedProvider(Lifecycle.UNREGISTERED)
    built, _ = checker(provider)
    built.check("example.com")
    first, second = (deadline for _, deadline in provider.calls)
    assert first == pytest.approx(100.0 + LOOKUP_BUDGET)
    assert second <= 100.0 + CHECK_BUDGET


def test_dates_decide_reregistration():
    verified = NOW - timedelta(days=200)
    observation = Observation(
        provider="scripted", lifecycle=Lifecycle.ACTIVE, registered_at=NOW - timedelta(days=3)
    )
    result = checker(ScriptedProvider(observation, observation))[0].check("example.com", verified)
    assert result.lifecycle is Lifecycle.REREGISTERED
    assert result.unsafe
    assert result.verified_at == verified
    assert "registered again" in result.reason


def test_past_expiry_is_grace_and_safe():
    observation = Observation(
        provider="scripted", lifecycle=Lifecycle.ACTIVE, expires_at=NOW - timedelta(days=1)
    )
    result = checker(ScriptedProvider(observation))[0].check("example.com")
    assert result.lifecycle is Lifecycle.GRACE
    assert not result.unsafe
    assert "expired on" in result.reason


def test_a_registration_date_in_the_future_is_unknown_and_safe():
    observation = Observation(
        provider="scripted",
        lifecycle=Lifecycle.ACTIVE,
        registered_at=NOW + timedelta(days=30),
        expires_at=NOW + timedelta(days=395),
    )
    result = checker(ScriptedProvider(observation))[0].check("example.com", NOW - timedelta(days=200))
    assert result.lifecycle is Lifecycle.UNKNOWN
    assert not result.unsafe
    assert result.reason == (
        "could not tell the state of example.com: the answer says it was registered on 2026-12-21, "
        "which is in the future"
    )


REDIRECTED = "https://rdap.registrar.example/domain/example.com"


def _redirected(lifecycle, **fields):
    return Observation(
        provider="scripted",
        lifecycle=lifecycle,
        source=REDIRECTED,
        authoritative=False,
        service="https://rdap.verisign.com/com/v1/",
        **fields,
    )


@pytest.mark.parametrize(
    "lifecycle",
    [
        Lifecycle.HOLD,
        Lifecycle.REDEMPTION,
        Lifecycle.PENDING_DELETE,
        Lifecycle.UNREGISTERED,
    ],
)
def test_only_the_registrys_own_server_may_say_more_than_held(lifecycle):
    provider = ScriptedProvider(_redirected(lifecycle))
    result = checker(provider)[0].check("example.com")
    assert result.lifecycle is Lifecycle.UNKNOWN
    assert not result.unsafe
    assert result.reason == (
        f"could not tell the state of example.com: only the registry's own server may say example.com "
        f"is {lifecycle}; this answer came through a redirect to {REDIRECTED}"
    )
    assert result.source == REDIRECTED
    assert result.service == "https://rdap.verisign.com/com/v1/"
    assert len(provider.calls) == 1


def test_a_redirected_answer_cannot_say_reregistered():
    observation = _redirected(Lifecycle.ACTIVE, registered_at=NOW - timedelta(days=3))
    result = checker(ScriptedProvider(observation))[0].check("example.com", NOW - timedelta(days=90))
    assert result.lifecycle is Lifecycle.UNKNOWN
    assert not result.unsafe
    assert "may say example.com is reregistered; this answer came through a redirect" in result.reason


def test_the_registrys_own_answer_may_say_reregistered():
    observation = replace(
        _redirected(Lifecycle.ACTIVE, registered_at=NOW - timedelta(days=3)), authoritative=True
    )
    result = checker(ScriptedProvider(observation))[0].check("example.com", NOW - timedelta(days=90))
    assert result.lifecycle is Lifecycle.REREGISTERED
    assert result.unsafe


@pytest.mark.parametrize(
    ("observation", "lifecycle"),
    [
        (_redirected(Lifecycle.ACTIVE), Lifecycle.ACTIVE),
        (_redirected(Lifecycle.GRACE), Lifecycle.GRACE),
        # Dates still apply: past its expiration, an active domain is in grace.
        (_redirected(Lifecycle.ACTIVE, expires_at=NOW - timedelta(days=2)), Lifecycle.GRACE),
    ],
)
def test_a_redirected_answer_may_confirm_a_domain_is_held(observation, lifecycle):
    result = checker(ScriptedProvider(observation))[0].check("example.com")
    assert result.lifecycle is lifecycle
    assert not result.unsafe
    assert result.source == REDIRECTED


def test_a_redirected_doubt_keeps_its_own_reason():
    observation = replace(_redirected(Lifecycle.UNKNOWN), error="the answer is not JSON")
    result = checker(ScriptedProvider(observation))[0].check("example.com")
    assert result.reason == "could not tell the state of example.com: the answer is not JSON"


def test_the_unsafe_set_is_the_operators():
    provider = ScriptedProvider(Lifecycle.UNREGISTERED)
    result = checker(provider, unsafe=parse_unsafe("redemption"))[0].check("example.com")
    assert result.lifecycle is Lifecycle.UNREGISTERED
    assert not result.unsafe
    assert len(provider.calls) == 1


def test_check_many_keeps_the_order():
    provider = ScriptedProvider(Lifecycle.ACTIVE)
    targets = [f"user{i}@example{i}.com" for i in range(20)] + ["nonsense"]
    results = checker(provider)[0].check_many(targets)
    assert [r.input for r in results] == targets
    assert [r.domain for r in results[:3]] == ["example0.com", "example1.com", "example2.com"]
    assert results[-1].lifecycle is Lifecycle.INVALID


def test_result_dictionary_fields():
    result = checker(ScriptedProvider(Lifecycle.HOLD))[0].check("Someone@Example.COM")
    assert result.to_dict() == {
        "input": "Someone@Example.COM",
        "domain": "example.com",
        "lifecycle": "hold",
        "unsafe": False,
        "reason": "example.com is registered but suspended (on hold) (status: hold)",
        "provider": "scripted",
        "statuses": ["hold"],
        "registered_at": None,
        "expires_at": None,
        "checked_at": "2026-11-21T12:00:00Z",
        "verified_at": None,
        "source": None,
        "service": None,
        "error": None,
        "dns": None,
    }


def test_the_result_names_the_service_asked():
    observation = Observation(
        provider="rdap",
        lifecycle=Lifecycle.ACTIVE,
        source="https://rdap.verisign.com/com/v1/domain/example.com",
        service="https://rdap.verisign.com/com/v1/",
    )
    result = checker(ScriptedProvider(observation))[0].check("example.com")
    assert result.to_dict()["service"] == "https://rdap.verisign.com/com/v1/"
    assert result.to_dict()["source"] == "https://rdap.verisign.com/com/v1/domain/example.com"


def _result(lifecycle, unsafe=False):
    return CheckResult(
        input="x", domain="x.com", lifecycle=lifecycle, unsafe=unsafe, reason="", provider="scripted"
    )


@pytest.mark.parametrize(
    ("results", "status"),
    [
        ([], 0),
        ([_result(Lifecycle.ACTIVE), _result(Lifecycle.GRACE), _result(Lifecycle.HOLD)], 0),
        ([_result(Lifecycle.ACTIVE), _result(Lifecycle.REDEMPTION, unsafe=True)], 1),
        ([_result(Lifecycle.UNKNOWN), _result(Lifecycle.UNREGISTERED, unsafe=True)], 1),
        ([_result(Lifecycle.ACTIVE), _result(Lifecycle.UNKNOWN)], 3),
        ([_result(Lifecycle.INVALID)], 3),
    ],
)
def test_exit_status(results, status):
    assert exit_status(results) == status


# Caps on what an answer hands on (issue 17: an oversized answer must not make an oversized item).


def test_an_answer_over_the_status_caps_is_doubt():
    from lapsewatch.providers import MAX_STATUS_LENGTH, MAX_STATUSES

    many = ScriptedProvider(Observation("rdap", Lifecycle.REDEMPTION, statuses=("redemption period",) * 33))
    result = DomainChecker(many, sleep=lambda s: None).check("a.com")
    assert result.lifecycle is Lifecycle.UNKNOWN
    assert f"over the cap of {MAX_STATUSES}" in result.reason
    long = ScriptedProvider(Observation("rdap", Lifecycle.ACTIVE, statuses=("x" * (MAX_STATUS_LENGTH + 1),)))
    assert "characters" in DomainChecker(long, sleep=lambda s: None).check("a.com").reason


def test_reasons_and_sources_from_outside_are_cut():
    from lapsewatch.providers import MAX_TEXT

    huge = ScriptedProvider(Observation.doubt("rdap", "e" * 10 * MAX_TEXT, source="s" * 10 * MAX_TEXT))
    result = DomainChecker(huge, sleep=lambda s: None).check("a.com")
    assert len(result.error) == MAX_TEXT + 1
    assert len(result.source) == MAX_TEXT + 1
    assert len(result.reason) < 2 * MAX_TEXT
