"""Early warning: the owners of a domain in grace or on hold are told once, before they lose anything."""

from datetime import UTC, datetime

import pytest
import requests

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


def test_a_new_expiry_date_is_a_new_notice(sweep):
    populate(sweep)
    sweep.run()
    # Renewed, then expired again a year later: the owners are told again.
    sweep.rdap.set_domain("renew-me.test", answer("grace", expires_at=datetime(2026, 11, 20, tzinfo=UTC)))

    second = sweep.run("2026-11-22T03:00:00Z", check_all=True)

    assert second["notices"]["sent"] == 1


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
