"""The per-domain rows a run's output shows: the evidence that decided each domain, the addresses
at stake, and what became of the decision, in words an operator can act on."""

from datetime import UTC, datetime

from lapsewatch.sweep.records import Decision, DecisionState, DomainState, NoticeRecord
from lapsewatch_tools.decisions import decision_row, evidence_text, notice_row, u_label
from lapsewatch_tools.report import domain_sections, domains_table

DECIDED = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


def decision(domain="recycled-name.com", lifecycle="reregistered", **outcome) -> Decision:
    evidence = {
        "lifecycle": lifecycle,
        "reason": "why, in the provider's words",
        "statuses": ["client transfer prohibited"],
        "registered_at": "2026-10-05T00:00:00Z",
        "expires_at": "2027-10-05T00:00:00Z",
        "oldest_verified_at": "2020-04-11T09:30:00Z",
        "provider": "rdap",
        "checked_at": "2026-12-01T03:00:00Z",
        "dns": {"delegated": True, "zone": "com"},
    }
    return Decision(
        run_id="run-20261201T030000Z",
        domain=domain,
        lifecycle=lifecycle,
        idempotency_key="lapsewatch-v1-" + "0" * 64,
        evidence=evidence,
        addresses=3,
        decided_at=DECIDED,
        **outcome,
    )


def test_a_reregistration_is_told_by_its_registration_date_against_the_verification_date():
    row = decision_row(decision(), None)
    assert row["evidence"] == (
        "rdap: registered 2026-10-05, after the addresses were verified (oldest 2020-04-11)"
    )
    # Not the statuses nor the expiry: they say nothing about who holds the name now.
    assert "transfer" not in row["evidence"] and "2027" not in row["evidence"]
    assert (row["registered_at"], row["verified_at"]) == ("2026-10-05T00:00:00Z", "2020-04-11T09:30:00Z")


def test_a_lapse_is_told_by_its_statuses_its_expiry_and_the_dns():
    evidence = {
        "provider": "whois",
        "statuses": ["pendingDelete / redemptionPeriod"],
        "expires_at": "2026-10-25T00:00:00Z",
        "checked_at": "2026-12-01T03:00:00Z",
        "dns": {"delegated": False, "zone": "it"},
    }
    assert evidence_text("redemption", evidence) == (
        "whois: status pendingDelete / redemptionPeriod; expired 2026-10-25; not in the it zone"
    )
    assert evidence_text("unregistered", {"provider": "rdap", "statuses": []}) == (
        "rdap: no such domain at the registry"
    )


def test_what_became_of_each_decision_and_why():
    applied = decision_row(
        decision(state=DecisionState.APPLIED, emails_unverified=2, operator="ops@desk"), None
    )
    assert (applied["outcome"], applied["why"]) == ("unverified", "2 of 3 addresses; approved by ops@desk")
    held = decision_row(decision(state=DecisionState.HELD, hold_reason="an outage of one service"), None)
    assert (held["outcome"], held["why"]) == ("held", "an outage of one service")
    waiting = decision_row(
        decision(state=DecisionState.PENDING, error="the latest lookup could not tell"), None
    )
    assert (waiting["outcome"], waiting["why"]) == ("deferred", "the latest lookup could not tell")
    cancelled = decision_row(decision(state=DecisionState.CANCELLED, error="active again"), None)
    assert (cancelled["outcome"], cancelled["why"]) == ("cancelled", "active again")


def test_an_idn_is_shown_beside_its_u_label_and_its_addresses_by_their_email_domains():
    state = DomainState(
        domain="xn--bckerei-mller-bfb28a.com",
        lifecycle="redemption",
        email_domains=["Bäckerei-Müller.COM", "bäckerei-müller.com", "mail.bäckerei-müller.com"],
    )
    row = decision_row(decision("xn--bckerei-mller-bfb28a.com", "redemption"), state)
    assert row["unicode"] == "bäckerei-müller.com"
    assert row["email_domains"] == ["bäckerei-müller.com", "mail.bäckerei-müller.com"]
    line = domains_table([row]).splitlines()[2]
    assert line.startswith("xn--bckerei-mller-bfb28a.com (bäckerei-müller.com)")
    assert "3 at bäckerei-müller.com, mail.bäckerei-müller.com" in line
    assert u_label("example.com") is None


def test_sections_put_what_waits_for_an_operator_first_and_notices_last():
    notice = NoticeRecord(
        domain="brightside-dental.com",
        stage="grace",
        idempotency_key="k",
        evidence={"lifecycle": "grace", "provider": "rdap", "statuses": ["auto renew period"]},
        state="sent",
    )
    rows = [
        decision_row(decision("a.com", state=DecisionState.APPLIED, emails_unverified=1), None),
        decision_row(decision("b.com", state=DecisionState.HELD, hold_reason="the whole run"), None),
        notice_row("run-20261201T030000Z", notice, None),
    ]
    text = domain_sections(rows)
    assert text.index("waiting for approval (1):") < text.index("other decisions (1):")
    assert text.index("other decisions (1):") < text.index("early warnings (notices) (1):")
    # Why it is held is told once under its table, by number: a breaker holds many for one reason.
    assert "HELD [1]" in text and "  [1] held: the whole run" in text and "warned" in text


def test_a_registrys_control_characters_reach_the_terminal_escaped_never_acted_on():
    hostile = decision(lifecycle="redemption")
    hostile.evidence = {
        **hostile.evidence,
        "statuses": ["redemption period\x1b[2J\x1b]0;owned\x07", "pending\u202edelete"],
    }
    text = domains_table([decision_row(hostile, None)])
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    assert "redemption period\\x1b[2J\\x1b]0;owned\\x07" in text
    assert "pending\\u202edelete" in text
