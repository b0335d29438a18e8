"""Early warning: the owners of a domain in grace or on hold are told once, before they lose anything."""

from datetime import UTC, datetime

import pytest
import requests

from lapsewatch.registry import notice_key
from lapsewatch.sweep.store import NoticeRecord
from lapsewatch_tools.local.rdap_server import DomainAnswer
from sweep_harness import user

pytestmark = pytest.mark.integration

OLD = datetime(2015, 3, 1, tzinfo=UTC)
FUTURE = datetime(2027, 9, 1, tzinfo=UTC)


def answer(lifecycle, expires_at=FUTURE):
    return DomainAnswer.for_lifecycle(lifecycle, registered_at=OLD, expires_at=expires_at)


def notices(sweep):
    got = requests.get(
        f"{sweep.registry.url}/v1/notices",
        headers={"Authorization": f"Bearer {sweep.registry.token}"},
        timeout=5,
    )
    got.raise_for_status()
    return got.json()["items"]


def populate(sweep):
    sweep.seed(
        user("ann", "ann@renew-me.test"),
        user("al", "al@mail.renew-me.test"),
        user("bo", "bo@suspended.test"),
        user("cy", "cy@fine.test"),
        user("di", "di@gone.test"),
        user("ed", "ed@redeem.test"),
    )
    sweep.rdap.set_domain("renew-me.test", answer("grace", expires_at=datetime(2026, 11, 10, tzinfo=UTC)))
    sweep.rdap.set_domain("suspended.test", answer("hold"))
    sweep.rdap.set_domain("fine.test", answer("active"))
    sweep.rdap.set_domain("redeem.test", answer("redemption"))
    # gone.test answers 404: unregistered, unsafe, unverified: no notice.


def test_grace_and_hold_get_one_notice_each_and_nothing_else_does(sweep):
    populate(sweep)

    first = sweep.run()

    assert first["notices"] == {"sent": 2, "failed": 0, "unsupported": 0}
    told = {(n["domain"], n["stage"], n["email"]) for n in notices(sweep)}
    assert told == {
        ("renew-me.test", "grace", "ann@renew-me.test"),
        ("renew-me.test", "grace", "al@mail.renew-me.test"),
        ("suspended.test", "hold", "bo@suspended.test"),
    }
    # A notice warns; it unverifies nothing.
    assert all(sweep.emails("renew-me.test").values())


def test_a_second_day_sends_none_again(sweep):
    populate(sweep)
    sweep.run()
    before = notices(sweep)

    second = sweep.run("2026-11-22T03:00:00Z", check_all=True)

    assert second["notices"] == {"sent": 0, "failed": 0, "unsupported": 0}
    assert notices(sweep) == before


def test_a_new_expiry_date_is_a_new_notice_a_week_on(sweep):
    populate(sweep)
    sweep.run()
    # Renewed, then expired again: the owners are told again, once a week has gone by.
    sweep.rdap.set_domain("renew-me.test", answer("grace", expires_at=datetime(2026, 11, 25, tzinfo=UTC)))

    later = sweep.run("2026-11-29T03:00:00Z", check_all=True)

    assert later["notices"]["sent"] == 1
    assert later["settings"]["notice_interval_days"] == 7


def test_a_new_expiry_date_every_day_earns_no_second_notice_within_the_week(sweep):
    populate(sweep)
    sweep.run()
    for day in range(22, 28):
        # A server saying the domain "expired yesterday", every day.
        expired = datetime(2026, 11, day - 1, tzinfo=UTC)
        sweep.rdap.set_domain("renew-me.test", answer("grace", expires_at=expired))
        summary = sweep.run(f"2026-11-{day}T03:00:00Z", check_all=True)
        assert summary["notices"]["sent"] == 0, day
    assert len([n for n in notices(sweep) if n["domain"] == "renew-me.test"]) == 2


def test_a_grace_reached_through_a_redirect_earns_no_notice(sweep):
    sweep.rdap.add_registry("registrar")
    sweep.seed(user("gus", "gus@referred.test"))
    sweep.rdap.set_domain("referred.test", DomainAnswer.redirect("/registrar/domain/{domain}"))
    sweep.rdap.set_domain("referred.test", answer("grace"), registry="registrar")

    summary = sweep.run()

    assert summary["by_lifecycle"] == {"grace": 1}
    assert summary["notices"] == {"sent": 0, "failed": 0, "unsupported": 0}
    assert notices(sweep) == []


def test_a_grace_the_second_lookup_does_not_confirm_earns_no_notice(sweep):
    sweep.seed(user("ann", "ann@renewed.test"))
    # Grace on the first lookup, renewed by the second: the two disagree, so doubt.
    sweep.rdap.set_domain("renewed.test", DomainAnswer.flaky(answer("grace"), times=1, then=answer("active")))

    summary = sweep.run()

    assert summary["by_lifecycle"] == {"unknown": 1}
    assert sweep.rdap.asked("renewed.test") == 2
    assert notices(sweep) == []


def test_a_protected_domain_earns_no_notice(sweep):
    sweep.configure(LAPSEWATCH_PROTECTED_DOMAINS="renew-me.test")
    populate(sweep)

    summary = sweep.run()

    assert summary["notices"]["sent"] == 1
    assert {n["domain"] for n in notices(sweep)} == {"suspended.test"}


def test_a_notices_evidence_is_capped_and_escaped(sweep):
    sweep.seed(user("ann", "ann@shouty.test"))
    # Within the caps on an answer (32 statuses of 64 characters: beyond them it is doubt).
    statuses = ["auto renew period", "<script>alert(1)</script>", "x" * 64, *[f"s{i}" for i in range(29)]]
    sweep.rdap.set_domain(
        "shouty.test",
        DomainAnswer.for_lifecycle("grace", registered_at=OLD, expires_at=FUTURE, statuses=statuses),
    )

    sweep.run()

    [told] = notices(sweep)
    evidence = told["evidence"]
    assert len(evidence["statuses"]) == 10
    texts = [*evidence["statuses"], evidence["reason"]]
    assert all(len(text) <= 300 for text in texts)
    assert all("<" not in text and ">" not in text for text in texts)
    assert "&lt;script&gt;" in evidence["statuses"][1]


def test_a_forged_notice_item_for_a_protected_domain_is_withheld(sweep):
    populate(sweep)
    started = sweep.dispatch()
    forged = NoticeRecord(
        domain="gmail.com",
        stage="grace",
        expires_at=datetime(2026, 11, 20, tzinfo=UTC),
        idempotency_key=notice_key("gmail.com", "grace", datetime(2026, 11, 20, tzinfo=UTC)),
        evidence={"reason": "gmail.com expired yesterday"},
    )
    sweep.runtime.store.record_notice(started["run_id"], forged)
    sweep.drain()

    assert {n["domain"] for n in notices(sweep)} == {"renew-me.test", "suspended.test"}
    [kept] = [n for n in sweep.runtime.store.notices(started["run_id"]) if n.domain == "gmail.com"]
    assert kept.state == "withheld" and "protected" in kept.error


def test_a_forged_notice_item_the_domains_state_does_not_bear_out_is_withheld(sweep):
    populate(sweep)
    started = sweep.dispatch()
    # fine.test is active: no notice is owed, whatever an item in the table says.
    forged = NoticeRecord(
        domain="fine.test",
        stage="hold",
        expires_at=FUTURE,
        idempotency_key=notice_key("fine.test", "hold", FUTURE),
        evidence={"reason": "<b>pay us</b>"},
    )
    sweep.runtime.store.record_notice(started["run_id"], forged)
    sweep.drain()

    assert "fine.test" not in {n["domain"] for n in notices(sweep)}


def test_a_registry_without_notices_still_gets_its_lapses_unverified(sweep):
    sweep.registry.app.notices_supported = False
    populate(sweep)

    summary = sweep.run()

    assert summary["notices"] == {"sent": 0, "failed": 0, "unsupported": 2}
    assert summary["unverify"]["emails_unverified"] == 2
    assert sweep.emails("gone.test") == {"di@gone.test": False}
    # Owed again next time: a registry may add the endpoint.
    assert sweep.run("2026-11-22T03:00:00Z", check_all=True)["notices"]["unsupported"] == 2


def test_notices_can_be_turned_off(sweep):
    sweep.configure(LAPSEWATCH_NOTICE_STAGES="")
    populate(sweep)
    assert sweep.run()["notices"] == {"sent": 0, "failed": 0, "unsupported": 0}
    assert notices(sweep) == []
