"""The sweep under faults: what fails, fails alone, and is counted; nothing is unverified because
something else failed, and nothing real is missed for it."""

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from lapsewatch.sweep import handlers
from lapsewatch.sweep.apply import ApplyCounts
from lapsewatch.sweep.bounds import MAX_TEXT_CHARS, MAX_TOKENS
from lapsewatch.sweep.breaker import Tally
from lapsewatch.sweep.records import (
    Decision,
    DecisionState,
    DomainState,
    RunRecord,
    RunStatus,
    run_pk,
)
from lapsewatch.sweep.store import RunStore
from lapsewatch.sweep.summary import summarize
from lapsewatch_tools.local.lambdas import EventSourceMapping
from lapsewatch_tools.local.rdap_server import DomainAnswer
from lapsewatch_tools.registry.app import UNVERIFY
from lapsewatch_tools.registry.faults import Fault
from sweep_harness import user

pytestmark = pytest.mark.integration

OLD = datetime(2015, 3, 1, tzinfo=UTC)
FUTURE = datetime(2027, 9, 1, tzinfo=UTC)
# DynamoDB's limit on an item.
ITEM_LIMIT = 400 * 1024


def answer(lifecycle, **extra):
    return DomainAnswer.for_lifecycle(lifecycle, registered_at=OLD, expires_at=FUTURE, **extra)


def fail_calls(sweep, calls):
    """Make the next `calls` unverify calls fail, retries included (the harness tries 3 times)."""
    sweep.registry.app.faults.add(UNVERIFY, *[Fault.unavailable()] * (3 * calls))


def oversized_answer():
    """An answer under the 1 MiB body cap whose statuses alone are 800 kB."""
    tokens = ["redemption period", *(f"status-{i:05d}-" + "x" * 186 for i in range(4000))]
    return answer("redemption", statuses=tokens)


def raw_item_size(table: str, hash_key: str, range_key: str | None = None) -> int:
    """The size of an item as DynamoDB holds it (its JSON, a little more than DynamoDB counts)."""
    item = boto3.client("dynamodb").get_item(
        TableName=table,
        Key={"domain": {"S": hash_key}}
        if range_key is None
        else {"pk": {"S": hash_key}, "sk": {"S": range_key}},
        ConsistentRead=True,
    )["Item"]
    return len(json.dumps(item))


class FlakyStore(RunStore):
    """Fails on the named domains' states or decisions, as an item too large or a throttled
    table does; `failing` can be changed between runs."""

    def __init__(self, *, states=(), decisions=(), shards=(), reads=(), **tables) -> None:
        super().__init__(**tables)
        self.failing_states = set(states)
        self.failing_decisions = set(decisions)
        self.failing_shards = set(shards)
        self.failing_reads = set(reads)

    def domain_state(self, domain):
        if domain in self.failing_reads:
            raise RuntimeError(f"could not read {domain}")
        return super().domain_state(domain)

    def save_domain_state(self, state):
        if state.domain in self.failing_states:
            raise RuntimeError(f"could not store {state.domain}")
        super().save_domain_state(state)

    def save_decision(self, decision):
        if decision.domain in self.failing_decisions and decision.state != DecisionState.RECORDED:
            raise RuntimeError(f"could not store the decision about {decision.domain}")
        super().save_decision(decision)

    def record_shard(self, run_id, shard):
        if shard.outcome == "done" and shard.sk in self.failing_shards:
            raise RuntimeError(f"could not record {shard.sk}")
        return super().record_shard(run_id, shard)


def flaky(sweep, **failing) -> FlakyStore:
    store = FlakyStore(**failing, **sweep.tables, clock=lambda: sweep.now)
    sweep.runtime = sweep.make_runtime(store=store)
    return store


# One domain's failure to store ---------------------------------------------------------------
def test_one_domain_that_cannot_be_stored_never_takes_its_shard_down(sweep):
    sweep.seed(user("ann", "ann@broken.test"), user("bo", "bo@lapsed.test"), user("cy", "cy@fine.test"))
    for domain, lifecycle in (
        ("broken.test", "active"),
        ("lapsed.test", "redemption"),
        ("fine.test", "active"),
    ):
        sweep.rdap.set_domain(domain, answer(lifecycle))
    flaky(sweep, states={"broken.test"})

    summary = sweep.run()

    assert summary["shards"] == {"count": 1, "done": 1, "dead": 0}
    assert summary["domains"]["checked"] == 3 and summary["domains"]["not_stored"] == 1
    assert any("could not be stored" in warning for warning in summary["warnings"])
    assert sweep.dead_letters() == 0
    assert sweep.emails("lapsed.test") == {"bo@lapsed.test": False}
    assert sweep.runtime.store.domain_state("broken.test") is None
    assert sweep.runtime.store.domain_state("fine.test").lifecycle == "active"


def test_the_largest_answer_allowed_is_stored_and_its_items_fit(sweep):
    sweep.seed(user("ann", "ann@huge.test"), user("bo", "bo@fine.test"))
    sweep.rdap.set_domain("huge.test", oversized_answer())
    sweep.rdap.set_domain("fine.test", answer("active"))

    first = sweep.run()
    second = sweep.run("2026-11-22T03:00:00Z")

    assert first["shards"]["dead"] == second["shards"]["dead"] == 0
    assert first["domains"]["not_stored"] == 0
    store = sweep.runtime.store
    state = store.domain_state("huge.test")
    assert state is not None and len(state.statuses) <= MAX_TOKENS
    assert raw_item_size(sweep.tables["domains_table"], "huge.test") < ITEM_LIMIT
    for decision in store.decisions(first["run_id"]):
        assert len(json.dumps(decision.evidence)) < ITEM_LIMIT / 4


def test_a_state_and_a_decision_built_from_anything_fit_their_items(sweep):
    store = sweep.runtime.store
    now = sweep.now
    state = DomainState(
        "huge.test",
        lifecycle="redemption",
        statuses=["s" * 1000] * 5000,
        reason="r" * 900_000,
        error="e" * 900_000,
        provider="p" * 10_000,
        service="https://" + "v" * 10_000,
        email_domains=["m" * 300] * 50,
        history=[],
    )
    store.save_domain_state(state)
    decision = Decision(
        run_id="run-x",
        domain="huge.test",
        lifecycle="redemption",
        idempotency_key="k",
        evidence={
            "statuses": ["s" * 5000] * 5000,
            "reason": "r" * 900_000,
            **{f"k{i}": i for i in range(999)},
        },
        error="e" * 900_000,
        decided_at=now,
    )
    store.record_decision(decision)

    saved = store.domain_state("huge.test")
    assert len(saved.statuses) == MAX_TOKENS and len(saved.reason) <= MAX_TEXT_CHARS
    (recorded,) = store.decisions("run-x")
    assert len(recorded.evidence["statuses"]) == MAX_TOKENS
    assert recorded.evidence["reason"].endswith("[truncated]")


# One bad decision never stops the final step -------------------------------------------------
def test_one_decision_that_fails_never_stops_the_final_step(sweep):
    sweep.seed(user("ann", "ann@bad.test"), user("bo", "bo@real.test"))
    sweep.rdap.set_domain("bad.test", answer("redemption"))
    sweep.rdap.set_domain("real.test", answer("active"))
    fail_calls(sweep, 1)
    first = sweep.run()  # bad.test's call fails: pending
    assert first["unverify"]["failed"] == 1
    # The next day the final step fails on bad.test's decision; meanwhile real.test lapses.
    sweep.rdap.set_domain("real.test", answer("pending_delete"))
    flaky(sweep, reads={"bad.test"})

    second = sweep.run("2026-11-22T03:00:00Z", check_all=True)

    assert second["status"] == "done" and second["withheld"]["errors"] == 1
    assert any("failed on 1 decisions" in warning for warning in second["warnings"])
    assert sweep.emails("real.test") == {"bo@real.test": False}
    assert sweep.emails("bad.test") == {"ann@bad.test": True}
    # Yesterday's decision and today's (the same, one key) stay pending, today's with the error.
    pending = list(sweep.runtime.store.outstanding())
    assert {d.domain for d in pending} == {"bad.test"}
    assert any("failed on this decision" in (d.error or "") for d in pending)

    sweep.runtime = sweep.make_runtime()
    sweep.run("2026-11-23T03:00:00Z")
    assert sweep.emails("bad.test") == {"ann@bad.test": False}
    assert [call["domain"] for call in sweep.audit()].count("bad.test") == 1


def test_a_fresh_lookup_that_cannot_be_stored_fails_that_decision_alone(sweep):
    sweep.seed(user("ann", "ann@bad.test"), user("bo", "bo@other.test"))
    sweep.rdap.set_domain("bad.test", answer("redemption"))
    sweep.rdap.set_domain("other.test", answer("redemption"))
    fail_calls(sweep, 2)
    sweep.run()
    flaky(sweep, states={"bad.test"})
    sweep.now += timedelta(days=5)

    counts = sweep.runtime.applier.apply(list(sweep.runtime.store.outstanding()))

    assert counts.errors == 1 and counts.emails_unverified == 1
    assert sweep.emails("other.test") == {"bo@other.test": False}
    (pending,) = sweep.runtime.store.outstanding()
    assert pending.domain == "bad.test" and "failed on this decision" in pending.error


# A dead shard keeps its outage evidence ------------------------------------------------------
def outage_world(sweep, tmp_path):
    """19 .org domains at one server answering 404 (an outage), beside healthy .test ones."""
    sweep.rdap.add_registry("orgreg", tlds=["org"])
    sweep.bootstrap = sweep.rdap.bootstrap_file(tmp_path / "dns-org.json")
    sweep.configure(LAPSEWATCH_SHARD_SIZE="20")
    sweep.seed(*[user(f"o{i}", f"o{i}@shop{i:02d}.org") for i in range(19)])
    sweep.seed(*[user(f"t{i}", f"t{i}@fine{i:02d}.test") for i in range(30)])
    for i in range(30):
        sweep.rdap.set_domain(f"fine{i:02d}.test", answer("active"))


def test_a_dead_shard_keeps_its_outage_evidence(sweep, tmp_path):
    outage_world(sweep, tmp_path)
    # The .org shard checks and records every domain, then can never be recorded: dead-lettered.
    flaky(sweep, shards={"SHARD#000002"})

    summary = sweep.run()

    assert summary["shards"]["dead"] == 1
    assert summary["held_count"] == 19 and "looks like an outage" in summary["held_reason"]
    assert all(sweep.emails("shop00.org").values())
    assert summary["unverify"]["requested"] == 0
    # What was sent: 19 checked in the dead shard, none unverified; nothing left unchecked.
    domains = summary["domains"]
    assert domains["checked"] == 49 and domains["dead_lettered"] == 0 and domains["not_checked"] == 0


def test_the_same_outage_without_the_fault_is_held_the_same(sweep, tmp_path):
    outage_world(sweep, tmp_path)

    summary = sweep.run()

    assert summary["shards"]["dead"] == 0 and summary["held_count"] == 19
    assert summary["domains"]["checked"] == 49


def test_an_oversized_answer_among_an_outage_neither_kills_the_shard_nor_lets_the_outage_through(
    sweep, tmp_path
):
    outage_world(sweep, tmp_path)
    sweep.seed(user("big", "big@huge.org"))
    sweep.rdap.set_domain("huge.org", oversized_answer(), registry="orgreg")

    summary = sweep.run()

    assert summary["shards"]["dead"] == 0 and sweep.dead_letters() == 0
    # The 19 of the outage are held; the oversized answer, over the caps on one answer, is doubt.
    assert summary["held_count"] == 19 and summary["unverify"]["requested"] == 0
    assert sweep.runtime.store.domain_state("huge.org").lifecycle == "unknown"


def test_a_lost_shards_decisions_still_count_in_their_places(sweep, tmp_path):
    outage_world(sweep, tmp_path)
    sweep.configure(LAPSEWATCH_CHECK_MAX_RECEIVES="99")
    flaky(sweep, shards={"SHARD#000002"})
    started = sweep.dispatch()
    source = sweep.shards
    for _ in range(4):
        source.poll_once()
    sweep.sqs.purge_queue(QueueUrl=source.source.queue_url)  # the .org shard is lost

    summary = handlers.finalize({"close_run": started["run_id"]}, sweep.runtime)

    assert summary["held_count"] == 19
    assert all(sweep.emails("shop03.org").values())


# A big hold is stored --------------------------------------------------------------------------
def test_a_run_holding_50000_domains_stores_its_summary(sweep):
    store = sweep.runtime.store
    run_id = "run-20261121T030000Z"
    run = RunRecord(
        run_pk(run_id),
        "RUN",
        run_id=run_id,
        status=RunStatus.FINALIZING,
        created_at=sweep.now,
        distinct=50_000,
    )
    assert store.create_run(run)
    reason = "1 of the 1 .com domains checked at https://rdap.verisign.com/com/v1/ came back unsafe"
    decisions = [
        Decision(
            pk=run_pk(run_id),
            sk=f"UNSAFE#{i}",
            run_id=run_id,
            domain=f"a-rather-long-name-for-a-maintainers-domain-number-{i:06d}.com",
            lifecycle="unregistered",
            idempotency_key=str(i),
            evidence={},
            state=DecisionState.HELD,
            hold_reason=f"{reason} #{i % 40}",
            decided_at=sweep.now,
        )
        for i in range(50_000)
    ]
    summary = summarize(
        run, Tally(checked=50_000), decisions, ApplyCounts(), sweep.runtime.settings.in_summary()
    )

    assert store.transition(run, (RunStatus.FINALIZING,), RunStatus.HELD, summary=summary)

    stored = store.get_run(run_id).summary
    assert stored["held_count"] == stored["unsafe_count"] == 50_000
    assert len(stored["held_domains"]) == len(stored["unsafe"]) == 100
    assert sum(group["count"] for group in stored["held_groups"][:10]) <= 50_000
    assert raw_item_size(sweep.tables["runs_table"], run_pk(run_id), "RUN") < ITEM_LIMIT


# One lapse, one unverify ---------------------------------------------------------------------
def test_one_lapse_seen_through_a_registry_outage_is_one_call(sweep):
    sweep.seed(user("ann", "ann@lapsing.test"), user("bo", "bo@fine.test"))
    sweep.rdap.set_domain("fine.test", answer("active"))
    days = ["2026-11-21T03:00:00Z", "2026-11-22T03:00:00Z", "2026-11-23T03:00:00Z"]
    runs = []
    for day, lifecycle in zip(days, ("redemption", "pending_delete", "unregistered"), strict=True):
        sweep.rdap.set_domain("lapsing.test", answer(lifecycle))
        fail_calls(sweep, 1)
        runs.append(sweep.run(day))
        assert runs[-1]["unverify"]["failed"] == 1

    sweep.run("2026-11-24T03:00:00Z")

    assert [call["domain"] for call in sweep.audit()] == ["lapsing.test"]
    assert sweep.emails("lapsing.test") == {"ann@lapsing.test": False}
    assert runs[1]["withheld"]["superseded"] == runs[2]["withheld"]["superseded"] == 1
    decisions = [d for run in runs for d in sweep.runtime.store.decisions(run["run_id"])]
    superseded = [d for d in decisions if d.state == DecisionState.SUPERSEDED]
    assert {d.lifecycle for d in superseded} >= {"redemption", "pending_delete"}
    assert all(d.superseded_by and "superseded" in d.error for d in superseded)
    assert list(sweep.runtime.store.outstanding()) == []


# The final step keeps to its deadline --------------------------------------------------------
class Deadline:
    """A Lambda context whose time runs out after `calls` looks at it."""

    def __init__(self, calls: int) -> None:
        self.calls = calls

    def get_remaining_time_in_millis(self) -> int:
        self.calls -= 1
        return 900_000 if self.calls >= 0 else 10_000


def test_what_does_not_fit_the_final_steps_time_is_left_pending_and_sent_first_next_run(sweep):
    sweep.seed(*[user(f"u{i}", f"u{i}@gone{i}.test") for i in range(4)])
    sweep.seed(*[user(f"f{i}", f"f{i}@fine{i}.test") for i in range(40)])
    for i in range(40):
        sweep.rdap.set_domain(f"fine{i}.test", answer("active"))
    source = sweep.aws.sqs_source("FinalFunction")
    short = EventSourceMapping(
        sweep.sqs, source, lambda event: handlers.finalize(event, sweep.runtime, Deadline(calls=1))
    )
    started = sweep.dispatch()
    while sweep.shards.poll_once():
        pass
    short.poll_once()

    summary = sweep.summary(started["run_id"])
    assert summary["unverify"]["requested"] == 1 and summary["withheld"]["unsent"] == 3
    assert any("did not fit the final step's time" in warning for warning in summary["warnings"])
    assert len(list(sweep.runtime.store.outstanding())) == 3

    sweep.seed(user("new", "new@fresh-lapse.test"))
    sweep.run("2026-11-22T03:00:00Z")
    calls = [call["domain"] for call in sweep.audit()]
    assert sorted(calls[1:4]) == ["gone1.test", "gone2.test", "gone3.test"]
    assert calls[4:] == ["fresh-lapse.test"]
    assert list(sweep.runtime.store.outstanding()) == []


def test_a_final_step_retried_after_it_held_part_of_a_run_holds_the_rest(sweep):
    sweep.configure(LAPSEWATCH_MAX_UNVERIFY="5")
    sweep.seed(*[user(f"g{i}", f"g{i}@gone{i}.test") for i in range(8)])
    sweep.seed(*[user(f"f{i}", f"f{i}@fine{i:02d}.test") for i in range(20)])
    for i in range(20):
        sweep.rdap.set_domain(f"fine{i:02d}.test", answer("active"))
    started = sweep.dispatch()
    while sweep.shards.poll_once():
        pass
    # A first attempt of the final step held four of the eight, then ran out of time.
    store = sweep.runtime.store
    for decision in sorted(store.decisions(started["run_id"]), key=lambda d: d.domain)[:4]:
        decision.state, decision.hold_reason = DecisionState.HELD, "the whole run: 8 unsafe domains"
        store.save_decision(decision)

    sweep.drain()

    summary = sweep.summary(started["run_id"])
    assert summary["held_count"] == 8 and sweep.audit() == []
