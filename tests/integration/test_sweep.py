"""The daily sweep through its handlers, on moto, the reference registry and loopback RDAP."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from lapsewatch.registry import RegistryClient
from lapsewatch.sweep import handlers
from lapsewatch.sweep.finalize import RunStateError
from lapsewatch.sweep.messages import Shard
from lapsewatch.sweep.store import RunStore
from lapsewatch_tools.local.lambdas import LocalContext
from lapsewatch_tools.local.rdap_server import DomainAnswer
from lapsewatch_tools.registry.app import UNVERIFY
from lapsewatch_tools.registry.faults import Fault
from sweep_harness import user

pytestmark = pytest.mark.integration

OLD = datetime(2015, 3, 1, tzinfo=UTC)
FUTURE = datetime(2027, 9, 1, tzinfo=UTC)


def unverify(**counts):
    return {"requested": 0, "emails_unverified": 0, "failed": 0} | counts


def answer(lifecycle, registered_at=OLD, expires_at=FUTURE):
    return DomainAnswer.for_lifecycle(lifecycle, registered_at=registered_at, expires_at=expires_at)


def populate(sweep):
    sweep.seed(
        user("alice", "alice@active.test"),
        user("bob", "bob@mail.lapsed.test"),
        user("bo", "bo@Lapsed.TEST"),
        user("carol", "carol@gone.test"),
        user("dave", "dave@newowner.test", "2020-01-15T00:00:00Z"),
        user("eve", "eve@newowner.test", "2026-06-01T00:00:00Z"),
        user("frank", "frank@suspended.test"),
        user("gina", "gina@bücher.test"),
        user("hal", "hal@deleting.test"),
        user("ivy", "ivy@expired.test"),
        user("jo", "jo@localhost"),
        user("kim", "kim@[10.0.0.1]"),
        user("lee", "lee@nowhere.invalidtld"),
        user("mo", "mo@unverified.test", verified=False),
    )
    rdap = sweep.rdap
    rdap.set_domain("active.test", answer("active"))
    rdap.set_domain("lapsed.test", answer("redemption"))
    rdap.set_domain("newowner.test", answer("active", registered_at=datetime(2026, 1, 10, tzinfo=UTC)))
    rdap.set_domain("suspended.test", answer("hold"))
    rdap.set_domain("xn--bcher-kva.test", answer("active"))
    rdap.set_domain("deleting.test", answer("pending_delete"))
    rdap.set_domain("expired.test", answer("grace"))
    # gone.test is not set: the registry answers 404.


def test_sweep_unverifies_exactly_the_unsafe_domains(sweep):
    populate(sweep)
    summary = sweep.run()

    assert summary["status"] == "done" and not summary["held"], summary["held_reason"]
    # The counts add up: listed = invalid + merged + distinct, distinct = not due + dispatched,
    # dispatched = checked + refused + dead-lettered + not checked.
    assert summary["domains"] == {
        "listed": 12,
        "invalid": 2,
        "merged": 1,
        "distinct": 9,
        "skipped_not_due": 0,
        "dispatched": 9,
        "checked": 9,
        "refused": 0,
        "dead_lettered": 0,
        "not_checked": 0,
        "not_stored": 0,
    }
    assert summary["warnings"] == []
    assert summary["by_lifecycle"] == {
        "active": 2,
        "grace": 1,
        "hold": 1,
        "pending_delete": 1,
        "redemption": 1,
        "reregistered": 1,
        "unknown": 1,
        "unregistered": 1,
    }
    assert summary["unsafe"] == ["deleting.test", "gone.test", "lapsed.test", "newowner.test"]
    assert summary["unverify"] == unverify(requested=4, emails_unverified=5)
    assert summary["held_domains"] == [] and summary["held_reason"] is None

    assert sweep.emails("lapsed.test") == {"bob@mail.lapsed.test": False, "bo@Lapsed.TEST": False}
    assert sweep.emails("gone.test") == {"carol@gone.test": False}
    assert sweep.emails("deleting.test") == {"hal@deleting.test": False}
    # Re-registration: the old holder's address goes, the new holder's own address stays.
    assert sweep.emails("newowner.test") == {"dave@newowner.test": False, "eve@newowner.test": True}
    for safe in ("active.test", "suspended.test", "xn--bcher-kva.test", "expired.test"):
        assert all(sweep.emails(safe).values()), safe

    calls = {entry["domain"]: entry for entry in sweep.audit()}
    assert calls["newowner.test"]["verified_before"] == "2026-01-10T00:00:00Z"
    assert calls["lapsed.test"]["evidence"]["lifecycle"] == "redemption"
    assert "redemption period" in calls["lapsed.test"]["evidence"]["statuses"]


def test_a_second_sweep_changes_nothing(sweep):
    populate(sweep)
    sweep.run()
    audit = sweep.audit()

    second = sweep.run("2026-11-22T03:00:00Z", check_all=True)

    assert second["status"] == "done"
    assert second["unsafe"] == []
    assert second["unverify"] == unverify()
    assert sweep.audit() == audit


def test_a_dry_run_decides_but_unverifies_nothing(sweep):
    populate(sweep)
    summary = sweep.run(dry_run=True)

    assert summary["dry_run"] is True
    assert len(summary["unsafe"]) == 4
    assert summary["unverify"]["requested"] == 0
    assert sweep.audit() == []


def test_an_event_cannot_make_a_run_on_a_dry_stack_live(sweep):
    sweep.configure(LAPSEWATCH_DRY_RUN="true")
    populate(sweep)

    summary = sweep.run(dry_run=False)

    assert summary["dry_run"] is True and summary["settings"]["dry_run"] is True
    assert len(summary["unsafe"]) == 4
    assert summary["unverify"]["requested"] == 0
    assert sweep.audit() == []


def test_an_operators_domains_on_a_dry_stack_stay_dry(sweep):
    sweep.configure(LAPSEWATCH_DRY_RUN="true")
    populate(sweep)

    started = handlers.dispatch({"domains": ["gone.test"], "dry_run": False}, sweep.runtime)
    sweep.drain()

    assert sweep.summary(started["run_id"])["dry_run"] is True
    assert sweep.audit() == []


def test_a_run_recorded_live_sends_nothing_once_the_stack_is_dry(sweep):
    populate(sweep)
    started = sweep.dispatch()
    # Redeployed with DryRun=true while the run was checking (or its record forged live).
    sweep.configure(LAPSEWATCH_DRY_RUN="true")
    sweep.drain()

    summary = sweep.summary(started["run_id"])
    assert summary["dry_run"] is True
    assert summary["unverify"]["requested"] == 0
    assert sweep.audit() == []


def test_an_event_can_make_a_run_on_a_live_stack_dry(sweep):
    populate(sweep)
    assert sweep.run(dry_run=True)["dry_run"] is True
    with pytest.raises(handlers.BadEvent):
        sweep.dispatch("2026-11-22T03:00:00Z", dry_run="false")


def test_the_next_run_checks_only_the_domains_that_are_due(sweep):
    populate(sweep)
    sweep.run()
    tomorrow = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
    states = sweep.runtime.store.domain_states(["active.test", "xn--bcher-kva.test", "expired.test"])
    waiting = [d for d, state in states.items() if state.next_check_at > tomorrow]

    second = sweep.run("2026-11-22T03:00:00Z")

    # Active domains far from expiry wait for their slot in the cycle; the others come back daily.
    assert states["expired.test"].next_check_at <= tomorrow
    assert second["domains"]["skipped_not_due"] == len(waiting)
    assert second["domains"]["checked"] == second["domains"]["distinct"] - len(waiting)


def test_a_duplicated_delivery_checks_each_domain_once(sweep):
    populate(sweep)
    started = sweep.dispatch()
    source = sweep.shards
    message = sweep.sqs.receive_message(
        QueueUrl=source.source.queue_url, MaxNumberOfMessages=1, MessageSystemAttributeNames=["All"]
    )["Messages"][0]
    event = {"Records": [source._record(message)]}
    first = source.invoke(event)
    again = source.invoke(event)
    assert first == again == {"batchItemFailures": []}
    sweep.sqs.delete_message(QueueUrl=source.source.queue_url, ReceiptHandle=message["ReceiptHandle"])
    sweep.drain()

    summary = sweep.summary(started["run_id"])
    assert summary["domains"]["checked"] == 9
    assert summary["shards"] == {"count": started["shards"], "done": started["shards"], "dead": 0}
    # Unsafe domains are looked up twice by design (the confirmation); the others once.
    assert sweep.rdap.asked("active.test") == 1
    assert sweep.rdap.asked("lapsed.test") == 2


class FailingStore(RunStore):
    """A data layer that fails while reading some domains' states (what a checker does first
    with its shard), the way a throttled table does."""

    def __init__(self, failing: set[str], times: int, **tables: str) -> None:
        super().__init__(**tables)
        self.failing = failing
        self.left = dict.fromkeys(failing, times)

    def domain_states(self, domains):
        domains = list(domains)
        for domain in self.failing.intersection(domains):
            if self.left[domain] > 0:
                self.left[domain] -= 1
                raise RuntimeError(f"throttled while reading {domain}")
        return super().domain_states(domains)


def test_a_checker_crash_fails_only_its_own_shard(sweep):
    populate(sweep)
    sweep.configure(LAPSEWATCH_SHARD_SIZE="1")
    sweep.runtime = sweep.make_runtime(store=FailingStore({"active.test"}, times=1, **sweep.tables))
    started = sweep.dispatch()

    source = sweep.shards
    while source.poll_once():
        pass
    sweep.drain()

    summary = sweep.summary(started["run_id"])
    assert source.failures == 1
    assert summary["status"] == "done"
    assert summary["domains"]["checked"] == 9
    assert summary["shards"]["dead"] == 0
    assert len(summary["unsafe"]) == 4


def test_a_shard_that_keeps_failing_is_dead_lettered_and_the_run_still_ends(sweep):
    populate(sweep)
    sweep.configure(LAPSEWATCH_SHARD_SIZE="1")
    sweep.runtime = sweep.make_runtime(store=FailingStore({"lapsed.test"}, times=99, **sweep.tables))
    summary = sweep.run()

    assert summary["status"] == "done"
    assert summary["shards"]["dead"] == 1
    assert summary["domains"]["dead_lettered"] == 1
    assert summary["domains"]["checked"] == 8
    assert sweep.dead_letters() == 1
    # The rest went ahead.
    assert "gone.test" in summary["unsafe"] and "lapsed.test" not in summary["unsafe"]


def test_unverify_calls_that_fail_stay_pending_and_are_made_by_the_next_run(sweep):
    populate(sweep)
    # More failures than the client retries: every call of this run fails.
    sweep.registry.app.faults.add(UNVERIFY, *[Fault.unavailable()] * 12)
    first = sweep.run()
    assert first["unverify"] == unverify(requested=4, failed=4)
    assert all(sweep.emails("gone.test").values())
    assert len(list(sweep.runtime.store.outstanding())) == 4

    second = sweep.run("2026-11-22T03:00:00Z")
    # Yesterday's decisions and today's are the same decisions: one call each.
    assert second["unverify"] == unverify(requested=4, emails_unverified=5)
    assert not any(sweep.emails("gone.test").values())
    assert list(sweep.runtime.store.outstanding()) == []
    assert len(sweep.audit()) == 4


def test_an_outage_answering_404_for_everything_is_held(sweep):
    sweep.seed(*[user(f"u{i}", f"u{i}@company{i}.test") for i in range(60)])
    summary = sweep.run()

    assert summary["status"] == "held" and summary["held"] is True
    assert "60 of the 60 domains checked at http://127.0.0.1" in summary["held_reason"]
    assert summary["held_domains"] == sorted(f"company{i}.test" for i in range(60))
    assert summary["unverify"]["requested"] == 0
    assert sweep.audit() == []


def test_a_tld_that_comes_back_unsafe_at_once_is_held_even_under_the_limit(sweep):
    sweep.seed(*[user(f"u{i}", f"u{i}@company{i}.test") for i in range(12)])
    sweep.seed(*[user(f"v{i}", f"v{i}@firm{i}.example") for i in range(14)])
    for i in range(14):
        sweep.rdap.set_domain(f"firm{i}.example", answer("active"))
    summary = sweep.run()

    assert summary["held"] is True
    assert "12 of the 12 .test domains checked at" in summary["held_reason"]
    assert len(summary["held_domains"]) == 12
    assert sweep.audit() == []


def test_half_of_a_run_coming_back_unsafe_is_held(sweep):
    sweep.seed(*[user(f"u{i}", f"u{i}@company{i}.test") for i in range(6)])
    sweep.seed(*[user(f"v{i}", f"v{i}@firm{i}.example") for i in range(6)])
    summary = sweep.run()

    assert summary["held"] is True
    assert "12 of the 12 domains checked" in summary["held_reason"]


def test_an_operator_approves_a_held_run(sweep):
    sweep.seed(*[user(f"u{i}", f"u{i}@company{i}.test") for i in range(12)])
    held = sweep.run()

    approved = sweep.runtime.finalizer.approve(held["run_id"])

    assert approved["status"] == "done"
    assert approved["unverify"]["emails_unverified"] == 12
    assert len(sweep.audit()) == 12


def test_an_operator_discards_a_held_run(sweep):
    sweep.seed(*[user(f"u{i}", f"u{i}@company{i}.test") for i in range(12)])
    held = sweep.run()

    discarded = sweep.runtime.finalizer.discard(held["run_id"])

    assert discarded["status"] == "discarded"
    assert sweep.audit() == []
    assert sweep.summary(held["run_id"])["status"] == "discarded"


def test_the_breaker_limits_come_from_the_configuration(sweep):
    sweep.seed(*[user(f"u{i}", f"u{i}@company{i}.test") for i in range(60)])
    sweep.configure(LAPSEWATCH_MAX_UNVERIFY="100")
    for i in range(60, 80):
        sweep.seed(user(f"u{i}", f"u{i}@active{i}.example"))
        sweep.rdap.set_domain(f"active{i}.example", answer("active"))
    # 60 of the 80 domains at the one server unsafe still trips the outage guard; raising the
    # limit does not lift it: an operator's approval does.
    assert sweep.run()["held"] is True


def test_a_dispatcher_short_of_time_continues_without_losing_or_repeating_a_shard(sweep):
    domains = [f"company{i:03d}.example" for i in range(230)]
    sweep.seed(*[user(f"u{i}", f"u{i}@{domain}") for i, domain in enumerate(domains)])
    for domain in domains:
        sweep.rdap.set_domain(domain, answer("active"))
    # Every invocation believes it is about to time out: it does one page (or one chunk of
    # shards) of work, saves a checkpoint and hands the run over.
    sweep.configure(
        LAPSEWATCH_PAGE_SIZE="40", LAPSEWATCH_SHARD_SIZE="2", LAPSEWATCH_DISPATCH_RESERVE_SECONDS="100000"
    )
    started = handlers.dispatch(
        {"time": "2026-11-21T03:00:00Z"}, sweep.runtime, LocalContext("dispatcher", 900)
    )
    assert started["status"] == "continuing"

    invocations = 1
    while sweep.continuations.poll_once():
        invocations += 1
    seen = []
    shards = sweep.shards
    check = shards.invoke
    shards.invoke = lambda event: (
        seen.extend(Shard.from_body(r["body"]) for r in event["Records"]) or check(event)
    )
    while shards.poll_once():
        pass
    sweep.drain()

    run = sweep.runtime.store.get_run(started["run_id"])
    # 230 domains at 40 a page: 6 pages, so 5 hand-overs while listing; 115 shards sent 100 at a
    # time, so one more while sending.
    assert invocations == 7
    assert run.shard_count == 115
    assert sorted(s.number for s in seen) == list(range(115))
    assert sorted(d.domain for s in seen for d in s.domains) == sorted(domains)
    assert run.summary["domains"]["checked"] == 230
    assert all(sweep.rdap.asked(domain) == 1 for domain in domains)


def test_a_repeated_continuation_message_is_done_once(sweep):
    sweep.seed(*[user(f"u{i}", f"u{i}@c{i}.example") for i in range(30)])
    sweep.configure(LAPSEWATCH_PAGE_SIZE="10", LAPSEWATCH_DISPATCH_RESERVE_SECONDS="100000")
    started = handlers.dispatch(
        {"time": "2026-11-21T03:00:00Z"}, sweep.runtime, LocalContext("dispatcher", 900)
    )
    assert started["generation"] == 1

    first = sweep.runtime.dispatcher.resume(started["run_id"], 1, time_left=lambda: 0)
    again = sweep.runtime.dispatcher.resume(started["run_id"], 1, time_left=lambda: 0)

    assert first["status"] == "continuing" and first["generation"] == 2
    assert again["duplicate"] is True


def test_a_decision_made_again_with_fresh_evidence_is_not_applied_twice(sweep):
    populate(sweep)
    sweep.configure(LAPSEWATCH_MAX_UNVERIFY="100")
    sweep.run()
    unverified = sweep.audit()
    # The same user verifies again at the lapsed domain's address: the registry lists the domain
    # with the same earliest verification as before, so the sweep makes the same decision.
    sweep.registry.load_seed([json.dumps(user("bob2", "bob2@lapsed.test", "2020-01-15T00:00:00Z"))])
    second = sweep.run("2026-11-22T03:00:00Z")

    assert second["unsafe"] == ["lapsed.test"]
    assert second["unverify"]["failed"] == 0
    assert list(sweep.runtime.store.outstanding()) == []
    assert sweep.audit() == unverified


def test_an_address_verified_again_at_a_lapsed_domain_is_unverified_again(sweep):
    populate(sweep)
    sweep.run()
    sweep.registry.load_seed([json.dumps(user("bob3", "bob3@lapsed.test", "2026-11-21T12:00:00Z"))])

    second = sweep.run("2026-11-22T03:00:00Z")

    assert second["unsafe"] == ["lapsed.test"]
    assert second["unverify"]["emails_unverified"] == 1
    assert sweep.emails("lapsed.test")["bob3@lapsed.test"] is False


class DyingQueue:
    """A shard queue whose invocation dies (a Lambda timeout) after its first chunk of shards."""

    def __init__(self, queue):
        self.queue = queue
        self.sent = 0

    def send(self, shards):
        if self.sent:
            raise TimeoutError("Task timed out after 900.00 seconds")
        self.sent += self.queue.send(shards)
        return self.sent


def test_a_dispatcher_that_dies_while_sending_is_taken_over_by_the_retry(sweep):
    domains = [f"company{i:03d}.example" for i in range(230)]
    sweep.seed(*[user(f"u{i}", f"u{i}@{domain}") for i, domain in enumerate(domains)])
    for domain in domains:
        sweep.rdap.set_domain(domain, answer("active"))
    sweep.configure(LAPSEWATCH_SHARD_SIZE="2")
    dispatcher = sweep.runtime.dispatcher
    working_queue = dispatcher.queue
    dispatcher.queue = DyingQueue(working_queue)
    with pytest.raises(TimeoutError):
        sweep.dispatch()
    # Some shards were checked before the retry: they are no longer due, but the retry sends the
    # same shards as the first attempt would have.
    sweep.shards.poll_once()

    dispatcher.queue = working_queue
    assert sweep.dispatch()["duplicate"] is True  # the dead attempt's lease still runs
    sweep.now += timedelta(minutes=20)  # EventBridge's retry, after the lease
    retried = handlers.dispatch({"time": "2026-11-21T03:00:00Z"}, sweep.runtime)
    sweep.drain()

    run = sweep.runtime.store.get_run(retried["run_id"])
    assert retried["shards"] == run.shard_count == 115
    assert run.summary["domains"]["checked"] == 230
    assert run.summary["shards"] == {"count": 115, "done": 115, "dead": 0}
    assert all(sweep.rdap.asked(domain) == 1 for domain in domains)


def test_an_operator_closes_a_run_stuck_on_a_lost_shard(sweep):
    populate(sweep)
    sweep.configure(LAPSEWATCH_SHARD_SIZE="3")
    started = sweep.dispatch()
    source = sweep.shards.source
    # One shard is lost with the invocation that held it: never written off, never retried.
    lost = sweep.sqs.receive_message(QueueUrl=source.queue_url, MaxNumberOfMessages=1)["Messages"][0]
    sweep.sqs.delete_message(QueueUrl=source.queue_url, ReceiptHandle=lost["ReceiptHandle"])
    sweep.drain()
    assert sweep.summary(started["run_id"])["status"] == "checking"

    closed = handlers.finalize({"close_run": started["run_id"]}, sweep.runtime)

    assert closed["status"] == "done"
    assert closed["domains"]["checked"] == 6
    assert closed["shards"] == {"count": 3, "done": 2, "dead": 0}
    with pytest.raises(RunStateError):
        handlers.finalize({"close_run": started["run_id"]}, sweep.runtime)


def test_a_registry_that_repeats_its_cursors_fails_the_dispatch_instead_of_paging_forever(sweep):
    from lapsewatch.registry import Page, PermanentRegistryError

    class Looping:
        def page(self, cursor, limit):
            return Page([], "same-again")

        pages, _pages = RegistryClient.pages, RegistryClient._pages

    sweep.runtime = sweep.make_runtime(registry_client=Looping)
    with pytest.raises(PermanentRegistryError):
        sweep.dispatch()


def test_a_listing_that_never_ends_fails_the_dispatch_across_hand_overs(sweep):
    from lapsewatch.registry import EmailDomain, Page, PermanentRegistryError

    class Endless:
        def page(self, cursor, limit):
            number = int(cursor or 0) + 1
            return Page([EmailDomain(f"d{number}.test", 1, None)], str(number))

        pages, _pages = RegistryClient.pages, RegistryClient._pages

    sweep.configure(LAPSEWATCH_MAX_LISTING_PAGES="7", LAPSEWATCH_DISPATCH_RESERVE_SECONDS="100000")
    sweep.runtime = sweep.make_runtime(registry_client=Endless)
    # Every invocation reads one page and hands over; the seventh page still has a next cursor.
    started = handlers.dispatch({"time": "2026-11-21T03:00:00Z"}, sweep.runtime, LocalContext("d", 900))
    assert started["status"] == "continuing"
    generation = started["generation"]
    with pytest.raises(PermanentRegistryError, match="the listing did not end"):
        for _ in range(10):
            resumed = sweep.runtime.dispatcher.resume(started["run_id"], generation, time_left=lambda: 0)
            generation = resumed["generation"]
    assert generation == 6
    run = sweep.runtime.store.get_run(started["run_id"])
    assert run.status == "dispatching" and not run.shard_count


def test_a_dispatcher_that_dies_while_listing_is_taken_over_once_its_lease_runs_out(sweep):
    from lapsewatch.registry import PermanentRegistryError

    sweep.seed(*[user(f"u{i}", f"u{i}@c{i}.example") for i in range(30)])
    sweep.configure(LAPSEWATCH_PAGE_SIZE="10")
    working = sweep.runtime.registry_client

    class Dying:
        def pages(self, limit, cursor=None, *, max_pages=None):
            yield next(working().pages(limit, cursor, max_pages=max_pages))
            raise PermanentRegistryError("the invocation died while listing")

    sweep.runtime = sweep.make_runtime(registry_client=Dying)
    with pytest.raises(PermanentRegistryError):
        sweep.dispatch()

    sweep.runtime = sweep.make_runtime()
    # EventBridge's retry within the lease: the dead attempt may still be listing.
    assert sweep.dispatch()["duplicate"] is True
    sweep.now += timedelta(minutes=20)
    retried = handlers.dispatch({"time": "2026-11-21T03:00:00Z"}, sweep.runtime)
    sweep.drain()

    assert retried["distinct"] == 30
    assert sweep.runtime.store.get_run(retried["run_id"]).summary["domains"]["checked"] == 30


def test_a_run_whose_lookups_mostly_failed_says_so(sweep):
    from lapsewatch_tools.local.rdap_server import DomainAnswer

    sweep.seed(*[user(f"u{i}", f"u{i}@company{i}.test") for i in range(12)])
    for i in range(12):
        sweep.rdap.set_domain(f"company{i}.test", DomainAnswer.malformed())
    summary = sweep.run()

    assert summary["by_lifecycle"] == {"unknown": 12}
    assert summary["held"] is False and summary["unsafe"] == []
    [warning] = summary["warnings"]
    assert warning.startswith("12 of 12 domains checked (100%) are unknown")
