"""The sweep's data access: the only module that talks to DynamoDB, on the two tables named when
it is built. The items and their bounds are `lapsewatch.sweep.records`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from pynamodb.constants import NONE
from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.expressions.update import Action
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from lapsewatch.sweep.bounds import bound_decision, bound_state, bounded_json, bounded_text
from lapsewatch.sweep.records import (
    APPROVAL_PREFIX,
    CHECKPOINT_CHUNK,
    CHECKPOINT_PREFIX,
    DECISION_OUTCOME,
    DECISION_PREFIX,
    DISPATCH_LEASE,
    NOTICE_OUTCOME,
    NOTICE_PREFIX,
    OUTSTANDING,
    RUN_SK,
    SHARD_PREFIX,
    SHARD_RETENTION,
    Approval,
    CheckpointChunk,
    Decision,
    DecisionState,
    DomainState,
    NoticeRecord,
    RunRecord,
    RunStatus,
    ShardPlan,
    ShardRecord,
    plan_sk,
    run_pk,
)
from lapsewatch.sweep.segments import parallel_pages
from lapsewatch.sweep.tables import bound_model, if_condition_holds, transaction_cancelled_by_condition

# Segments of the domain table's Scan read at once: each a thread waiting on its pages.
SCHEDULE_SEGMENTS = 4


class RunStore:
    """Data access for the sweep: runs, shards, decisions, domain state, on the two tables named
    when it is built (the function's environment gives them).

    The sweep's logic builds items as plain models; the store writes each to its own tables."""

    def __init__(self, *, domains_table: str, runs_table: str, clock=lambda: datetime.now(UTC)) -> None:
        self._clock = clock
        self._domains = bound_model(DomainState, domains_table)
        self._runs = bound_model(RunRecord, runs_table)
        self._shards = bound_model(ShardRecord, runs_table)
        self._chunks = bound_model(CheckpointChunk, runs_table)
        self._decisions = bound_model(Decision, runs_table)
        self._notices = bound_model(NoticeRecord, runs_table)
        self._plans = bound_model(ShardPlan, runs_table)
        self._approvals = bound_model(Approval, runs_table)

    def _on_table[M: Model](self, item: M, bound: type[M]) -> M:
        """`item` as an item of this store's tables: itself when it was read from them."""
        return item if isinstance(item, bound) else bound.from_raw_data(item.serialize(null_check=False))

    # Runs ------------------------------------------------------------------------------------
    def create_run(self, run: RunRecord) -> bool:
        """Save a new run; False when a run with that id exists already."""
        item = self._on_table(run, self._runs)
        return if_condition_holds(lambda: item.save(condition=RunRecord.pk.does_not_exist()))

    def get_run(self, run_id: str) -> RunRecord | None:
        try:
            return self._runs.get(run_pk(run_id), RUN_SK, consistent_read=True)
        except DoesNotExist:
            return None

    def recent_runs(self, limit: int) -> list[RunRecord]:
        """The newest `limit` runs. A scan of the runs table: for an operator's listing, never
        for the sweep."""
        runs = self._runs.scan(self._runs.sk == RUN_SK)
        return sorted(runs, key=lambda run: run.created_at, reverse=True)[:limit]

    def transition(self, run: RunRecord, expected: Iterable[str], new_status: str, **changes) -> bool:
        """Move a run to `new_status` only if it is still in one of `expected`: the guard that
        makes each step happen once, however often SQS or an operator repeats it."""
        actions: list[Action] = [RunRecord.status.set(new_status)]
        actions += [getattr(RunRecord, name).set(value) for name, value in changes.items()]
        # ReturnValues NONE, not the ALL_NEW of Model.update: the checker's role may not read back
        # attributes through a write (template.yaml's dynamodb:ReturnValues).
        # The model's own connection: PynamoDB offers none other that knows the table's keys
        # without a DescribeTable call, which no function's role may make.
        connection = self._runs._get_connection()
        moved = if_condition_holds(
            lambda: connection.update_item(
                run.pk,
                range_key=run.sk,
                actions=actions,
                condition=RunRecord.status.is_in(*expected),
                return_values=NONE,
            )
        )
        if not moved:
            return False
        for name, value in {"status": new_status, **changes}.items():
            setattr(run, name, value)
        return True

    def hold_run(self, run_id: str, reason: str) -> bool:
        """Put a finished run back to waiting for an operator: one of its decisions was held at
        the moment of sending (the per-decision rules). False when the run is not finished
        (the final step at work on it settles its status itself) or does not exist."""
        return self.transition(
            self._runs(run_pk(run_id), RUN_SK),
            (RunStatus.DONE, RunStatus.DISCARDED),
            RunStatus.HELD,
            held_reason=reason,
        )

    def record_shard(self, run_id: str, shard: ShardRecord) -> RunRecord | None:
        """Record a finished (or dead) shard and count it on its run, both or neither.

        Returns the updated run, or None when this shard had been recorded already.
        """
        shard = self._on_table(shard, self._shards)
        shard.pk = run_pk(run_id)
        shard.expires = int((self._clock() + SHARD_RETENTION).timestamp())
        counter = RunRecord.shards_done if shard.outcome == "done" else RunRecord.shards_dead
        run = self._runs(run_pk(run_id), RUN_SK)
        try:
            with TransactWrite(connection=self._runs._get_connection().connection) as transaction:
                transaction.save(shard, condition=ShardRecord.sk.does_not_exist())
                transaction.update(run, actions=[counter.add(1)], condition=RunRecord.pk.exists())
        except TransactWriteError as exc:
            if transaction_cancelled_by_condition(exc):
                return None
            raise
        return self.get_run(run_id)

    def save_checkpoint(
        self, run: RunRecord, generation: int, data: bytes, *, cursor: str | None, claim: bool = False
    ) -> None:
        """Save a dispatcher's state for the invocation that continues it; with `claim`, for the
        invocation saving it, which carries on (a crash of it leaves the checkpoint to a retry)."""
        expires = int((self._clock() + SHARD_RETENTION).timestamp())
        prefix = f"{CHECKPOINT_PREFIX}{generation:06d}#"
        with self._chunks.batch_write() as batch:
            for number, start in enumerate(range(0, max(len(data), 1), CHECKPOINT_CHUNK)):
                chunk = data[start : start + CHECKPOINT_CHUNK]
                batch.save(self._chunks(run.pk, f"{prefix}{number:06d}", data=chunk, expires=expires))
        actions: list[Action] = [
            RunRecord.checkpoint_generation.set(generation),
            RunRecord.cursor.set(cursor) if cursor else RunRecord.cursor.remove(),
            RunRecord.next_shard.set(int(run.next_shard or 0)),
            RunRecord.skipped_not_due.set(int(run.skipped_not_due or 0)),
        ]
        if claim:
            actions += [
                RunRecord.resumed_generation.set(generation),
                RunRecord.claimed_until.set(self._clock() + DISPATCH_LEASE),
            ]
        self._on_table(run, self._runs).update(actions=actions)

    def claim_listing(self, run: RunRecord) -> bool:
        """Take over the listing of a run whose first invocation saved nothing: False while that
        one's lease runs (a repeated schedule event), True once it has run out (it died)."""
        now = self._clock()
        item = self._on_table(run, self._runs)
        return if_condition_holds(
            lambda: item.update(
                actions=[RunRecord.claimed_until.set(now + DISPATCH_LEASE)],
                condition=(RunRecord.status == RunStatus.DISPATCHING)
                & (RunRecord.checkpoint_generation == 0)
                & (RunRecord.claimed_until.does_not_exist() | (RunRecord.claimed_until < now)),
            )
        )

    def claim_checkpoint(self, run: RunRecord, generation: int) -> bool:
        """Take checkpoint `generation` for one invocation alone: False while another holds it (a
        repeated message), True again once that one's lease has run out (it died)."""
        now = self._clock()
        item = self._on_table(run, self._runs)
        return if_condition_holds(
            lambda: item.update(
                actions=[
                    RunRecord.resumed_generation.set(generation),
                    RunRecord.claimed_until.set(now + DISPATCH_LEASE),
                ],
                condition=(RunRecord.checkpoint_generation == generation)
                & (
                    (RunRecord.resumed_generation < generation)
                    | RunRecord.claimed_until.does_not_exist()
                    | (RunRecord.claimed_until < now)
                ),
            )
        )

    def load_checkpoint(self, run_id: str, generation: int) -> bytes:
        chunks = self._chunks.query(
            run_pk(run_id),
            CheckpointChunk.sk.startswith(f"{CHECKPOINT_PREFIX}{generation:06d}#"),
            consistent_read=True,
        )
        return b"".join(chunk.data for chunk in chunks)

    def shards(self, run_id: str) -> Iterator[ShardRecord]:
        return self._shards.query(run_pk(run_id), ShardRecord.sk.startswith(SHARD_PREFIX))

    # Shard plans -----------------------------------------------------------------------------
    def record_plans(self, run_id: str, plans: Iterable[tuple[int, str, dict[str, int]]]) -> None:
        """The dispatcher's record of the shards it is about to send: (number, digest,
        {domain: addresses}) each. Written before the messages, the same on every resend."""
        expires = int((self._clock() + SHARD_RETENTION).timestamp())
        with self._plans.batch_write() as batch:
            for number, digest, addresses in plans:
                batch.save(
                    self._plans(
                        run_pk(run_id),
                        plan_sk(number),
                        digest=digest,
                        domain_addresses=addresses,
                        expires=expires,
                    )
                )

    def shard_plan(self, run_id: str, shard: int) -> ShardPlan | None:
        """The dispatcher's plan of a shard; None without one, or for an item lacking its digest
        (not one the dispatcher wrote)."""
        try:
            plan = self._plans.get(run_pk(run_id), plan_sk(shard), consistent_read=True)
        except DoesNotExist:
            return None
        return plan if isinstance(plan.digest, str) and plan.digest else None

    def planned_addresses(
        self, decisions: Sequence[Decision], plans: dict[tuple[str, int], dict] | None = None
    ) -> list[int | None]:
        """Each decision's domain's verified addresses as the dispatcher recorded them from the
        registry: in the shard of the decision's run that checked it, else in the shard that
        last checked the domain (the manual entry's decisions). None where no plan names it.

        One read per distinct plan (GetItem: every function that sends may read items one by
        one, and a plan serves all the decisions of its shard); `plans` keeps them across calls."""
        plans = {} if plans is None else plans
        counts: list[int | None] = []
        for decision in decisions:
            where: tuple[str, int] | None = None
            if decision.shard is not None:
                where = (decision.run_id, int(decision.shard))
            elif (state := self.domain_state(decision.domain)) is not None and (
                state.last_run_id and state.last_shard is not None
            ):
                where = (str(state.last_run_id), int(state.last_shard))
            if where is None:
                counts.append(None)
                continue
            if where not in plans:
                plan = self.shard_plan(*where)
                plans[where] = _plan_addresses(plan)
            count = plans[where].get(decision.domain)
            counts.append(count if isinstance(count, int) and not isinstance(count, bool) else None)
        return counts

    # Approvals -------------------------------------------------------------------------------
    def record_approval(self, decision: Decision, operator: str | None) -> None:
        self._approvals(
            run_pk(decision.run_id),
            f"{APPROVAL_PREFIX}{decision.idempotency_key}",
            domain=decision.domain,
            operator=bounded_text(operator),
            approved_at=self._clock(),
        ).save()

    def approved(self, decision: Decision) -> bool:
        """Whether an operator approved this decision by its exact Idempotency-Key. An approval
        counts only with its `approved_at`, which no role but the final function's writes."""
        try:
            approval = self._approvals.get(
                run_pk(decision.run_id), f"{APPROVAL_PREFIX}{decision.idempotency_key}", consistent_read=True
            )
        except DoesNotExist:
            return False
        return approval.domain == decision.domain and approval.approved_at is not None

    # Decisions -------------------------------------------------------------------------------
    def record_decision(self, decision: Decision) -> None:
        decision.pk = run_pk(decision.run_id)
        decision.sk = f"{DECISION_PREFIX}{decision.domain}"
        self.save_decision(decision)

    def record_finding(self, decision: Decision) -> None:
        """A decision as the checker records it: what it found and nothing of what becomes of it
        (DECISION_OUTCOME), so that it is read back as recorded."""
        bound_decision(decision)
        decision.pk = run_pk(decision.run_id)
        decision.sk = f"{DECISION_PREFIX}{decision.domain}"
        # On the table's model first: building it from the item sets the defaults again.
        item = self._on_table(decision, self._decisions)
        for name in DECISION_OUTCOME:
            setattr(item, name, None)
        item.save()

    def decisions(self, run_id: str) -> Iterator[Decision]:
        return self._decisions.query(run_pk(run_id), Decision.sk.startswith(DECISION_PREFIX))

    def save_decision(self, decision: Decision) -> None:
        bound_decision(decision)
        # Only a pending decision stays in the outstanding index.
        decision.outstanding = OUTSTANDING if decision.state == DecisionState.PENDING else None
        self._on_table(decision, self._decisions).save()

    def outstanding(self) -> Iterator[Decision]:
        """Every decision still to send, from any run, oldest first. The index is eventually
        consistent: the caller adds the decisions it has just queued itself."""
        return self._decisions.outstanding_index.query(OUTSTANDING)

    # Notices ---------------------------------------------------------------------------------
    def record_notice(self, run_id: str, notice: NoticeRecord) -> None:
        """A notice as the checker records it, without its outcome (NOTICE_OUTCOME): pending."""
        notice.evidence = bounded_json(notice.evidence or {})
        notice.pk, notice.sk = run_pk(run_id), f"{NOTICE_PREFIX}{notice.domain}"
        item = self._on_table(notice, self._notices)
        for name in NOTICE_OUTCOME:
            setattr(item, name, None)
        item.save()

    def notices(self, run_id: str) -> Iterator[NoticeRecord]:
        return self._notices.query(run_pk(run_id), NoticeRecord.sk.startswith(NOTICE_PREFIX))

    def save_notice(self, notice: NoticeRecord) -> None:
        notice.evidence = bounded_json(notice.evidence or {})
        notice.error = bounded_text(notice.error)
        self._on_table(notice, self._notices).save()

    def mark_noticed(self, domain: str, key: str, at: datetime) -> None:
        """The registry took this notice at `at`: the domain's later checks owe no other for it,
        and none at all for a week."""
        self._domains(domain).update(
            actions=[DomainState.notice_key.set(key), DomainState.noticed_at.set(at)]
        )

    # Domains ---------------------------------------------------------------------------------
    def domain_states(self, domains: Iterable[str]) -> dict[str, DomainState]:
        keys = list(dict.fromkeys(domains))
        if not keys:
            return {}
        return {state.domain: state for state in self._domains.batch_get(keys)}

    def domain_state(self, domain: str) -> DomainState | None:
        try:
            return self._domains.get(domain, consistent_read=True)
        except DoesNotExist:
            return None

    def save_domain_state(self, state: DomainState) -> None:
        bound_state(state)
        self._on_table(state, self._domains).save()

    def not_due(self, run_at: datetime, *, segments: int = SCHEDULE_SEGMENTS) -> Iterator[str]:
        """The known domains not due by `run_at`, from one parallel Scan of the domain table
        (no per-domain reads).

        DynamoDB leaves out the due ones and sends the names alone (a filter and a projection:
        the read units are those of the whole table either way), and the names come as raw
        items: at millions of domains a model object, or even a parsed time, for each would
        cost the dispatcher more than everything else it does."""
        connection = self._domains._get_connection()
        not_due = DomainState.next_check_at > run_at

        def read_page(segment: int, start_key: Any) -> tuple[list[str], Any]:
            page = connection.scan(
                filter_condition=not_due,
                attributes_to_get=["domain"],
                segment=segment,
                total_segments=segments,
                exclusive_start_key=start_key,
            )
            return [item["domain"]["S"] for item in page.get("Items", [])], page.get(
                "LastEvaluatedKey"
            ) or None

        for names in parallel_pages(read_page, segments):
            yield from names


def _plan_addresses(plan: ShardPlan | None) -> dict:
    addresses = plan.domain_addresses if plan is not None else None
    return addresses if isinstance(addresses, dict) else {}
