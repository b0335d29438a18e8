"""The lifecycle table: status spellings, severity, and what dates add."""

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from lapsewatch.lifecycle import (
    DEFAULT_UNSAFE,
    SAFE,
    Lifecycle,
    apply_dates,
    contradiction,
    lifecycle_from_statuses,
    most_severe,
    normalize_status,
    parse_unsafe,
)

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "spelling",
    [
        "redemption period",
        "Redemption Period",
        "redemptionPeriod",
        "redemption_period",
        " REDEMPTION-PERIOD ",
    ],
)
def test_status_spellings_are_one(spelling):
    assert normalize_status(spelling) == "redemption period"


@pytest.mark.parametrize(
    ("statuses", "lifecycle"),
    [
        ([], Lifecycle.ACTIVE),
        (["active"], Lifecycle.ACTIVE),
        (["inactive"], Lifecycle.ACTIVE),  # EPP inactive: registered, no name servers
        (["client transfer prohibited", "server update prohibited"], Lifecycle.ACTIVE),
        (["add period"], Lifecycle.ACTIVE),
        (["renew period", "transfer period"], Lifecycle.ACTIVE),
        (["auto renew period"], Lifecycle.GRACE),
        (["autoRenewPeriod"], Lifecycle.GRACE),
        (["client hold"], Lifecycle.HOLD),
        (["serverHold", "auto renew period"], Lifecycle.HOLD),
        (["redemption period"], Lifecycle.REDEMPTION),
        (["Redemption Period", "Pending Delete"], Lifecycle.REDEMPTION),
        (["redemptionPeriod", "pendingDelete"], Lifecycle.REDEMPTION),
        (["pending restore", "pending delete"], Lifecycle.REDEMPTION),
        (["pending delete"], Lifecycle.PENDING_DELETE),
        (["pendingDelete", "serverHold"], Lifecycle.PENDING_DELETE),
        (["client hold", 7, None], Lifecycle.HOLD),
        (["active", "auto renew period"], Lifecycle.GRACE),  # Nomulus in autorenew grace
        (["active", "client hold"], Lifecycle.HOLD),
        (["active", "redemption period"], Lifecycle.UNKNOWN),
        (["ok", "pendingDelete"], Lifecycle.UNKNOWN),
        (["Active", "Pending Restore", "Pending Delete"], Lifecycle.UNKNOWN),
    ],
)
def test_lifecycle_from_statuses(statuses, lifecycle):
    assert lifecycle_from_statuses(statuses) is lifecycle


def test_lifecycle_from_statuses_reads_a_generator_once():
    assert lifecycle_from_statuses(s for s in ["redemption period"]) is Lifecycle.REDEMPTION


@pytest.mark.parametrize(
    ("statuses", "why"),
    [
        (["active", "redemption period"], "'active' beside 'redemption period'"),
        (["ok", "pendingRestore"], "'ok' beside 'pendingRestore'"),
        (["client transfer prohibited", "Active", "Pending Delete"], "'Active' beside 'Pending Delete'"),
    ],
)
def test_active_beside_a_deletion_state_is_a_contradiction(statuses, why):
    assert contradiction(statuses) == f"the statuses contradict each other: {why}"


@pytest.mark.parametrize(
    "statuses",
    [
        [],
        ["active"],
        ["active", "client transfer prohibited", "server delete prohibited", "client update prohibited"],
        ["ok", "server transfer prohibited"],
        ["redemption period", "pending delete"],
        ["inactive", "pending delete"],
        ["active", 7, None],
    ],
)
def test_no_contradiction(statuses):
    assert contradiction(statuses) is None


def test_most_severe_follows_the_table():
    order = [
        Lifecycle.ACTIVE,
        Lifecycle.GRACE,
        Lifecycle.HOLD,
        Lifecycle.REDEMPTION,
        Lifecycle.PENDING_DELETE,
        Lifecycle.UNREGISTERED,
        Lifecycle.REREGISTERED,
    ]
    for weaker, stronger in itertools.pairwise(order):
        assert most_severe(weaker, stronger) is stronger
        assert most_severe(stronger, weaker) is stronger
    assert most_severe(*order) is Lifecycle.REREGISTERED


def test_default_unsafe_and_safe_sets():
    assert {
        Lifecycle.REDEMPTION,
        Lifecycle.PENDING_DELETE,
        Lifecycle.UNREGISTERED,
        Lifecycle.REREGISTERED,
    } == DEFAULT_UNSAFE
    assert {Lifecycle.ACTIVE, Lifecycle.GRACE, Lifecycle.HOLD} == SAFE
    assert Lifecycle.UNKNOWN not in DEFAULT_UNSAFE | SAFE


def _dates(lifecycle, *, registered=None, expires=None, verified=None):
    return apply_dates(lifecycle, registered_at=registered, expires_at=expires, verified_at=verified, now=NOW)


def test_registration_after_verification_is_reregistered():
    lifecycle, why = _dates(
        Lifecycle.ACTIVE, registered=NOW - timedelta(days=3), verified=NOW - timedelta(days=90)
    )
    assert lifecycle is Lifecycle.REREGISTERED
    assert "registered again" in why


def test_registration_within_a_day_of_verification_is_slack():
    verified = NOW - timedelta(days=10)
    lifecycle, _ = _dates(Lifecycle.ACTIVE, registered=verified + timedelta(hours=23), verified=verified)
    assert lifecycle is Lifecycle.ACTIVE


def test_no_verification_time_no_reregistration():
    assert _dates(Lifecycle.ACTIVE, registered=NOW - timedelta(days=1))[0] is Lifecycle.ACTIVE


def test_past_expiry_is_grace_for_an_active_domain():
    lifecycle, why = _dates(Lifecycle.ACTIVE, expires=NOW - timedelta(days=2))
    assert lifecycle is Lifecycle.GRACE
    assert "expired on" in why


@pytest.mark.parametrize("lifecycle", [Lifecycle.HOLD, Lifecycle.REDEMPTION, Lifecycle.PENDING_DELETE])
def test_past_expiry_never_lowers_a_more_severe_status(lifecycle):
    assert _dates(lifecycle, expires=NOW - timedelta(days=2)) == (lifecycle, None)


@pytest.mark.parametrize("lifecycle", [Lifecycle.UNKNOWN, Lifecycle.INVALID, Lifecycle.UNREGISTERED])
def test_dates_do_not_touch_doubt_or_absence(lifecycle):
    got = _dates(
        lifecycle,
        registered=NOW - timedelta(days=1),
        expires=NOW - timedelta(days=1),
        verified=NOW - timedelta(days=100),
    )
    assert got == (lifecycle, None)


@pytest.mark.parametrize("lifecycle", [Lifecycle.ACTIVE, Lifecycle.GRACE, Lifecycle.REDEMPTION])
def test_a_registration_date_in_the_future_is_doubt(lifecycle):
    got, why = _dates(
        lifecycle, registered=NOW + timedelta(minutes=1), expires=NOW + timedelta(days=365), verified=NOW
    )
    assert got is Lifecycle.UNKNOWN
    assert why == "the answer says it was registered on 2026-11-21, which is in the future"


def test_a_registration_date_after_the_expiration_is_doubt():
    got, why = _dates(
        Lifecycle.ACTIVE,
        registered=NOW - timedelta(days=3),
        expires=NOW - timedelta(days=10),
        verified=NOW - timedelta(days=100),
    )
    assert got is Lifecycle.UNKNOWN
    assert why == "the answer says it was registered on 2026-11-18, after it expires on 2026-11-11"


def test_a_registration_date_of_now_is_no_doubt():
    assert _dates(Lifecycle.ACTIVE, registered=NOW, expires=NOW + timedelta(days=365)) == (
        Lifecycle.ACTIVE,
        None,
    )


def test_future_expiry_changes_nothing():
    assert _dates(Lifecycle.ACTIVE, expires=NOW + timedelta(days=30)) == (Lifecycle.ACTIVE, None)


def test_parse_unsafe():
    assert parse_unsafe("redemption, unregistered") == {Lifecycle.REDEMPTION, Lifecycle.UNREGISTERED}
    assert parse_unsafe(["grace", "hold"]) == {Lifecycle.GRACE, Lifecycle.HOLD}
    assert parse_unsafe("pending_delete,,") == {Lifecycle.PENDING_DELETE}


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("active", "cannot be unsafe"),
        ("unknown", "cannot be unsafe"),
        ("invalid", "cannot be unsafe"),
        ("lapsed", "unknown lifecycle"),
        ("", "empty"),
        (" , ", "empty"),
    ],
)
def test_parse_unsafe_refuses(text, why):
    with pytest.raises(ValueError, match=why):
        parse_unsafe(text)
