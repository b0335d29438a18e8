"""What must never unverify a healthy maintainer: decisions weighed by addresses, holds confined to
the anomaly, stale decisions cancelled, forged shard messages refused."""

from datetime import UTC, datetime, timedelta

import boto3
import pytest

from lapsewatch.sweep import handlers
from lapsewatch.sweep.messages import PlannedDomain, Shard
from lapsewatch.sweep.store import Decision, DecisionState, DomainState
from lapsewatch_tools.local.rdap_server import DomainAnswer
from lapsewatch_tools.registry.app import UNVERIFY
from lapsewatch_tools.registry.faults import Fault
from sweep_harness import user

pytestmark = pytest.mark.integration

OLD = datetime(2015, 3, 1, tzinfo=UTC)
FUTURE = datetime(2027, 9, 1, tzinfo=UTC)


def answer(lifecycle):
    return DomainAnswer.for_lifecycle(lifecycle, registered_at=OLD, expires_at=FUTURE)


def fail_calls(sweep, calls):
    """Make the next `calls` unverify calls fail, retries included (the harness tries 3 times)."""
    sweep.registry.app.faults.add(UNVERIFY, *[Fault.unavailable()] * (3 * calls))


def add_service(sweep, name, tlds, tmp_path, default=None):
    """Another RDAP server (its own bootstrap base URL) for `tlds`."""
    sweep.rdap.add_registry(name, tlds=tlds, default=default)
    sweep.bootstrap = sweep.rdap.bootstrap_file(tmp_path / f"dns-{name}.json")
    sweep.runtime = sweep.make_runtime()


def test_a_giant_domain_answering_404_waits_while_a_small_lapse_goes(sweep):
    sweep.seed(*[user(f"u{i}", f"u{i}@bigmail.test") for i in range(3000)])
    sweep.seed(user("ann", "ann@small-lapse.test"), user("bea", "bea@fine.test"))
    sweep.rdap.set_domain("small-lapse.test", answer("redemption"))
    sweep.rdap.set_domain("fine.test", answer("active"))
    # bigmail.test is not set: its registry answers 404, as a broken server might.

    summary = sweep.run()

    assert summary["held"] is True and summary["status"] == "held"
    assert summary["held_domains"] == ["bigmail.test"]
    assert "MaxAddressesPerDomain" in summary["held_reason"]
    assert summary["settings"]["max_addresses_per_domain"] == 100
    assert summary["unverify"]["emails_unverified"] == 1
    assert sweep.emails("small-lapse.test") == {"ann@small-lapse.test": False}
    assert all(sweep.emails("bigmail.test").values())


def test_a_protected_mailbox_provider_always_waits(sweep, tmp_path):
    add_service(sweep, "mailbox", ["com"], tmp_path)
    sweep.seed(user("gus", "gus@gmail.com"), user("hu", "hu@lapsed.test"))
    sweep.rdap.set_domain("lapsed.test", answer("redemption"))
    # gmail.com answers 404 at its server.

    summary = sweep.run()

    assert summary["held_domains"] == ["gmail.com"]
    assert sweep.emails("gmail.com") == {"gus@gmail.com": True}
    assert sweep.emails("lapsed.test") == {"hu@lapsed.test": False}


def test_an_outage_at_one_service_is_held_and_real_lapses_elsewhere_go(sweep, tmp_path):
    add_service(sweep, "broken", ["broken"], tmp_path)  # 404 for every name
    sweep.seed(*[user(f"b{i}", f"b{i}@shop{i}.broken") for i in range(9)])
    sweep.seed(*[user(f"a{i}", f"a{i}@fine{i}.test") for i in range(8)])
    sweep.seed(user("lu", "lu@lapsed.test"), user("mi", "mi@gone.example"))
    for i in range(8):
        sweep.rdap.set_domain(f"fine{i}.test", answer("active"))
    sweep.rdap.set_domain("lapsed.test", answer("pending_delete"))
    # gone.example is not set: a real 404 at a healthy server.

    summary = sweep.run()

    assert summary["held_domains"] == sorted(f"shop{i}.broken" for i in range(9))
    assert "9 of the 9 domains checked at " + sweep.rdap.base_url("broken") in summary["held_reason"]
    assert sweep.emails("lapsed.test") == {"lu@lapsed.test": False}
    assert sweep.emails("gone.example") == {"mi@gone.example": False}
    assert all(sweep.emails("shop0.broken").values())


def test_approving_the_held_outage_later_sends_only_what_is_still_unsafe(sweep, tmp_path):
    add_service(sweep, "broken", ["broken"], tmp_path)
    sweep.seed(*[user(f"b{i}", f"b{i}@shop{i}.broken") for i in range(4)])
    held = sweep.run()
    assert held["held_domains"] == [f"shop{i}.broken" for i in range(4)]

    # The outage ends; two of the four really were gone. Five days later an operator approves.
    for i in range(2):
        sweep.rdap.set_domain(f"shop{i}.broken", answer("active"), registry="broken")
    sweep.now += timedelta(days=5)
    approved = handlers.finalize({"approve_run": held["run_id"]}, sweep.runtime)

    assert approved["status"] == "done" and approved["held"] is False
    assert approved["withheld"]["cancelled"] == 2
    assert approved["unverify"]["emails_unverified"] == 2
    assert sweep.emails("shop0.broken") == {"b0@shop0.broken": True}
    assert sweep.emails("shop3.broken") == {"b3@shop3.broken": False}


def test_a_pending_unverify_is_cancelled_once_the_domain_recovers(sweep):
    sweep.seed(user("ann", "ann@wobbly.test"), user("bea", "bea@fine.test"))
    sweep.rdap.set_domain("wobbly.test", answer("redemption"))
    sweep.rdap.set_domain("fine.test", answer("active"))
    fail_calls(sweep, 1)
    first = sweep.run()
    assert first["unverify"]["failed"] == 1

    sweep.rdap.set_domain("wobbly.test", answer("active"))  # renewed from redemption
    second = sweep.run("2026-11-22T03:00:00Z")

    assert second["unverify"] == {"requested": 0, "emails_unverified": 0, "failed": 0}
    assert second["withheld"] == {
        "cancelled": 1,
        "deferred": 0,
        "superseded": 0,
        "held": 0,
        "unsent": 0,
        "errors": 0,
    }
    assert sweep.emails("wobbly.test") == {"ann@wobbly.test": True}
    assert list(sweep.runtime.store.outstanding()) == []
    (decision,) = sweep.runtime.store.decisions(first["run_id"])
    assert decision.state == "cancelled" and "active again" in decision.error


def test_an_old_pending_decision_needs_a_fresh_lookup_that_confirms_it(sweep):
    sweep.seed(user("ann", "ann@wobbly.test"), user("cy", "cy@gone.test"))
    sweep.rdap.set_domain("wobbly.test", answer("redemption"))
    fail_calls(sweep, 2)
    assert sweep.run()["unverify"]["failed"] == 2
    # Four days on, with no run in between: the stored states still say unsafe, but the
    # registry now says wobbly.test was renewed.
    sweep.rdap.set_domain("wobbly.test", answer("active"))
    sweep.now += timedelta(days=4)
    asked = sweep.rdap.asked("wobbly.test")

    counts = sweep.runtime.applier.apply(list(sweep.runtime.store.outstanding()))

    assert sweep.rdap.asked("wobbly.test") > asked
    assert (counts.cancelled, counts.requested, counts.emails_unverified) == (1, 1, 1)
    assert sweep.emails("wobbly.test") == {"ann@wobbly.test": True}
    assert sweep.emails("gone.test") == {"cy@gone.test": False}
    assert sweep.runtime.store.domain_state("wobbly.test").lifecycle == "active"


def test_a_pending_decision_waits_while_lookups_cannot_tell(sweep):
    sweep.seed(user("ann", "ann@wobbly.test"))
    sweep.rdap.set_domain("wobbly.test", answer("redemption"))
    fail_calls(sweep, 1)
    first = sweep.run()
    sweep.rdap.set_domain("wobbly.test", DomainAnswer.raw(503, b""))

    second = sweep.run("2026-11-22T03:00:00Z")

    assert second["unverify"]["requested"] == 0
    assert second["withheld"] == {
        "cancelled": 0,
        "deferred": 1,
        "superseded": 0,
        "held": 0,
        "unsent": 0,
        "errors": 0,
    }
    (decision,) = sweep.runtime.store.decisions(first["run_id"])
    assert decision.state == "pending" and "could not tell" in decision.error
    assert sweep.emails("wobbly.test") == {"ann@wobbly.test": True}


def test_a_re_registration_since_the_decision_cancels_it(sweep):
    sweep.seed(user("ann", "ann@dropped.test"))
    fail_calls(sweep, 1)
    sweep.run()  # dropped.test answers 404: unregistered, and the call fails
    # Someone registers it the next day; the old owner's address is still verified.
    sweep.rdap.set_domain(
        "dropped.test",
        DomainAnswer.for_lifecycle("active", registered_at=datetime(2026, 11, 21, 12, tzinfo=UTC)),
    )

    second = sweep.run("2026-11-22T03:00:00Z")

    # Today's decision (reregistered, verified_before the new registration) replaces it.
    assert second["withheld"]["superseded"] == 1
    assert second["unverify"]["emails_unverified"] == 1
    (call,) = sweep.audit()
    assert call["reason"] == "reregistered" and call["verified_before"] == "2026-11-21T12:00:00Z"


def take_shards(sweep):
    """The shard messages the dispatcher sent, taken off the queue: [(body), ...]."""
    queue = sweep.shards.source.queue_url
    bodies = []
    while messages := sweep.sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages"):
        for message in messages:
            bodies.append(message["Body"])
            sweep.sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    return bodies


def send_shard(sweep, body):
    sweep.sqs.send_message(QueueUrl=sweep.shards.source.queue_url, MessageBody=body)


def test_a_forged_shard_naming_public_suffixes_is_dropped_unchecked(sweep):
    sweep.seed(user("ann", "ann@fine.test"))
    sweep.rdap.set_domain("fine.test", answer("active"))
    started = sweep.dispatch()
    (real,) = take_shards(sweep)
    names = ("co.uk", "test", "mail.fine.test", "fine.test")
    send_shard(sweep, Shard(started["run_id"], 0, tuple(PlannedDomain(name) for name in names)).to_body())

    sweep.drain()

    assert list(sweep.runtime.store.shards(started["run_id"])) == []
    assert sweep.summary(started["run_id"])["status"] == "checking"
    assert sweep.rdap.asked("co.uk", registry="testreg") == sweep.rdap.asked("fine.test") == 0
    send_shard(sweep, real)
    sweep.drain()
    summary = sweep.summary(started["run_id"])
    assert summary["status"] == "done" and summary["domains"]["checked"] == 1


def test_forged_empty_shards_with_unused_numbers_cannot_end_a_run_early(sweep):
    sweep.configure(LAPSEWATCH_SHARD_SIZE="1")
    sweep.seed(user("ann", "ann@fine.test"), user("lu", "lu@lapsed.test"))
    sweep.rdap.set_domain("fine.test", answer("active"))
    sweep.rdap.set_domain("lapsed.test", answer("redemption"))
    started = sweep.dispatch()
    real = take_shards(sweep)
    assert len(real) == 2
    for number in (2, 3, -1, 0):
        send_shard(sweep, Shard(started["run_id"], number, ()).to_body())

    sweep.drain()

    assert sweep.dead_letters() == 0
    assert sweep.summary(started["run_id"])["status"] == "checking"
    for body in real:
        send_shard(sweep, body)
    sweep.drain()
    summary = sweep.summary(started["run_id"])
    assert summary["status"] == "done" and summary["unsafe"] == ["lapsed.test"]
    assert sweep.emails("lapsed.test") == {"lu@lapsed.test": False}


def test_a_forged_shard_claiming_one_address_for_a_big_domain_changes_nothing(sweep):
    sweep.seed(*[user(f"u{i}", f"u{i}@bigco.test") for i in range(300)])
    started = sweep.dispatch()
    (real,) = take_shards(sweep)
    forged = Shard.from_body(real)
    (planned,) = forged.domains
    send_shard(
        sweep,
        Shard(
            forged.run_id,
            0,
            (PlannedDomain(planned.domain, planned.oldest_verified_at, planned.email_domains, 1),),
        ).to_body(),
    )
    sweep.drain()
    assert sweep.summary(started["run_id"])["status"] == "checking"

    send_shard(sweep, real)
    sweep.drain()

    # bigco.test answers 404: 300 addresses wait for an operator.
    summary = sweep.summary(started["run_id"])
    assert summary["held_domains"] == ["bigco.test"] and "MaxAddressesPerDomain" in summary["held_reason"]
    assert all(sweep.emails("bigco.test").values())


def test_the_summary_says_which_domains_no_provider_serves(sweep):
    sweep.seed(user("ann", "ann@fine.test"), user("bo", "bo@one.nowhere"), user("cy", "cy@one.nowhere"))
    sweep.seed(user("di", "di@two.nowhere"), user("ed", "ed@lone.elsewhere"))
    sweep.rdap.set_domain("fine.test", answer("active"))

    summary = sweep.run()

    assert summary["unprotected"] == {
        "domains": 3,
        "addresses": 4,
        "top_tlds": [
            {"tld": "nowhere", "domains": 2, "addresses": 3},
            {"tld": "elsewhere", "domains": 1, "addresses": 1},
        ],
    }
    # Never protected is not an unknown streak: it has its own count.
    assert summary["unknown_streaks"] == {"count": 0, "examples": []}


def test_a_domain_unknown_for_a_week_is_an_unknown_streak(sweep):
    sweep.seed(user("ann", "ann@flaky.test"), user("bea", "bea@fine.test"))
    sweep.rdap.set_domain("flaky.test", DomainAnswer.raw(503, b""))
    sweep.rdap.set_domain("fine.test", answer("active"))

    first = sweep.run("2026-11-21T03:00:00Z")
    sixth_day = sweep.run("2026-11-27T03:00:00Z")
    eighth_day = sweep.run("2026-11-29T03:00:00Z")

    assert first["unknown_streaks"]["count"] == sixth_day["unknown_streaks"]["count"] == 0
    assert eighth_day["unknown_streaks"] == {"count": 1, "examples": ["flaky.test"]}
    assert eighth_day["settings"]["unknown_streak_days"] == 7


def forge_pending_decision(sweep, run_id, domain, *, addresses=1, shard=0, lifecycle="unregistered"):
    """A decision item as the checker's role could write it: pending, outstanding, claiming few
    addresses; and a domain state saying the domain lapsed."""
    store = sweep.runtime.store
    store.record_decision(
        Decision(
            run_id=run_id,
            domain=domain,
            shard=shard,
            lifecycle=lifecycle,
            idempotency_key=f"forged-{domain}",
            evidence={"lifecycle": lifecycle},
            addresses=addresses,
            state=DecisionState.PENDING,
            decided_at=sweep.now - timedelta(hours=1),
        )
    )
    store.save_domain_state(
        DomainState(
            domain,
            lifecycle=lifecycle,
            unsafe=True,
            last_checked_at=sweep.now,
            next_check_at=sweep.now + timedelta(days=30),
            history=[],
        )
    )


def test_a_forged_pending_decision_for_a_protected_domain_is_held_not_sent(sweep, tmp_path):
    add_service(sweep, "mailbox", ["com"], tmp_path)
    sweep.seed(user("gus", "gus@gmail.com"), user("bea", "bea@fine.test"))
    sweep.rdap.set_domain("fine.test", answer("active"))
    sweep.rdap.set_domain("gmail.com", answer("active"), registry="mailbox")
    first = sweep.run()
    forge_pending_decision(sweep, first["run_id"], "gmail.com")

    second = sweep.run("2026-11-22T03:00:00Z")

    assert sweep.audit() == []
    assert sweep.emails("gmail.com") == {"gus@gmail.com": True}
    assert second["withheld"]["held"] == 1
    (decision,) = sweep.runtime.store.decisions(first["run_id"])
    assert decision.state == "held" and "protected" in decision.hold_reason
    assert sweep.summary(first["run_id"])["status"] == "held"


def test_a_forged_decision_claiming_one_address_weighs_what_the_dispatcher_recorded(sweep):
    sweep.seed(*[user(f"u{i}", f"u{i}@bigco.test") for i in range(300)])
    sweep.rdap.set_domain("bigco.test", answer("active"))
    first = sweep.run()
    forge_pending_decision(sweep, first["run_id"], "bigco.test", addresses=1)

    second = sweep.run("2026-11-22T03:00:00Z")

    assert sweep.audit() == [] and all(sweep.emails("bigco.test").values())
    (decision,) = sweep.runtime.store.decisions(first["run_id"])
    assert decision.state == "held" and "MaxAddressesPerDomain" in decision.hold_reason
    assert decision.addresses == 300
    assert second["withheld"]["held"] == 1


def test_a_forged_decision_in_a_run_the_dispatcher_never_planned_is_held(sweep):
    sweep.seed(user("ann", "ann@small.test"))
    sweep.rdap.set_domain("small.test", answer("active"))
    forge_pending_decision(sweep, "run-19990101T000000Z", "small.test", shard=0)

    sweep.run()

    assert sweep.audit() == [] and sweep.emails("small.test") == {"ann@small.test": True}
    (decision,) = sweep.runtime.store.decisions("run-19990101T000000Z")
    assert decision.state == "held" and "no record by the dispatcher" in decision.hold_reason


def test_pending_decisions_keep_to_the_runs_address_budget(sweep):
    for name in ("one", "two", "three"):
        sweep.seed(*[user(f"{name}{i}", f"{name}{i}@{name}.test") for i in range(25)])
    sweep.seed(*[user(f"f{i}", f"f{i}@fine{i}.test") for i in range(30)])
    for i in range(30):
        sweep.rdap.set_domain(f"fine{i}.test", answer("active"))
    fail_calls(sweep, 3)
    assert sweep.run()["unverify"]["failed"] == 3
    # The budget shrinks (a redeploy): 75 addresses pending, 60 may go today.
    sweep.configure(LAPSEWATCH_MAX_ADDRESSES_PER_RUN="60")
    sweep.now += timedelta(hours=1)

    counts = sweep.runtime.applier.apply(list(sweep.runtime.store.outstanding()))

    assert (counts.requested, counts.deferred) == (2, 1)
    (left,) = sweep.runtime.store.outstanding()
    assert "MaxAddressesPerRun" in left.error


def test_an_operator_approving_a_held_protected_domain_sends_it_by_its_exact_key(sweep, tmp_path):
    add_service(sweep, "mailbox", ["com"], tmp_path)
    sweep.seed(user("gus", "gus@lapsedmail.com"), user("bea", "bea@fine.test"))
    sweep.rdap.set_domain("fine.test", answer("active"))
    sweep.configure(LAPSEWATCH_PROTECTED_DOMAINS="lapsedmail.com")
    held = sweep.run()
    assert held["held_domains"] == ["lapsedmail.com"]

    approved = handlers.finalize({"approve_run": held["run_id"], "by": "ops"}, sweep.runtime)

    assert approved["unverify"]["emails_unverified"] == 1
    assert sweep.emails("lapsedmail.com") == {"gus@lapsedmail.com": False}


def test_an_operators_list_of_domains_has_no_address_count_so_its_decisions_wait(sweep):
    sweep.seed(*[user(f"u{i}", f"u{i}@bigco.test") for i in range(300)])
    started = handlers.dispatch({"domains": ["bigco.test"]}, sweep.runtime)
    sweep.drain()

    summary = sweep.summary(started["run_id"])

    assert (
        summary["held_domains"] == ["bigco.test"] and "no record by the dispatcher" in summary["held_reason"]
    )
    assert all(sweep.emails("bigco.test").values())


def put_raw(sweep, item):
    """An item as a role limited to the checker's attributes could write it."""
    boto3.client("dynamodb").put_item(TableName=sweep.tables["runs_table"], Item=item)


def test_a_plan_or_an_approval_forged_with_the_checkers_attributes_counts_for_nothing(sweep):
    sweep.seed(*[user(f"u{i}", f"u{i}@bigco.test") for i in range(300)])
    sweep.rdap.set_domain("bigco.test", answer("active"))
    first = sweep.run()
    run_id = "run-19990101T000000Z"
    forge_pending_decision(sweep, run_id, "bigco.test", addresses=1, shard=0)
    pk = {"S": f"RUN#{run_id}"}
    put_raw(sweep, {"pk": pk, "sk": {"S": "PLAN#000000"}, "addresses": {"S": '{"bigco.test": 1}'}})
    put_raw(sweep, {"pk": pk, "sk": {"S": "APPROVAL#forged-bigco.test"}, "domain": {"S": "bigco.test"}})

    sweep.run("2026-11-22T03:00:00Z")

    assert first["status"] == "done" and sweep.audit() == []
    (decision,) = sweep.runtime.store.decisions(run_id)
    assert decision.state == "held" and "no record by the dispatcher" in decision.hold_reason
