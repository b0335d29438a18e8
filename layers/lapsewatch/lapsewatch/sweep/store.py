"""Everything the sweep keeps in DynamoDB, and the only module that talks to it.

Two tables, both keyed as template.yaml defines them:

* the domain table, one item per registrable domain: its last observed lifecycle and evidence,
  error streak, capped history of lifecycle changes and when it is next due;
* the run table, one partition per run (`RUN#<id>`): the run record (`RUN`), one item per
  shard the dispatcher sent (`PLAN#<n>`: the message's digest and each domain's addresses), one
  item per finished shard (`SHARD#<n>`) carrying that shard's counts, one item per unsafe
  decision (`UNSAFE#<domain>`) and one per decision an operator approved (`APPROVAL#<key>`). A
  decision whose unverify call is still to make carries the sparse `outstanding` attribute, and
  the `outstanding` index finds those across runs.

Items are at most 400 KB. What comes from outside (a provider's statuses, reasons and errors,
and the evidence built from them) is bounded here before it is saved, whatever the providers let
through: one domain's answer can never make an item too large to store.

No email address is ever stored: the registry keeps those.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from pynamodb.attributes import (
    BinaryAttribute,
    BooleanAttribute,
    JSONAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.constants import NONE
from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.expressions.update import Action
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

HISTORY_LIMIT = 20
EMAIL_DOMAIN_LIMIT = 10
# The bounds on what comes from outside, as it is saved: status tokens (and any list in the
# evidence), and the length of a token and of any other text. With them a domain's state or a
# decision stays far below DynamoDB's 400 KB, whatever a provider answered.
MAX_TOKENS = 32
MAX_TOKEN_CHARS = 100
MAX_TEXT_CHARS = 2000
MAX_EVIDENCE_KEYS = 32
# The run summary is one item (400 KB at most), so its per-domain lists are bounded: at most
# this many domains in `held_domains` and `unsafe`, this many groups in `held_groups` with this
# many domains each; `held_count` and `unsafe_count` count them all, and the decisions (one item
# each, `lapsewatch runs show`) are the whole list.
SUMMARY_DOMAINS = 100
SUMMARY_GROUPS = 10
SUMMARY_GROUP_DOMAINS = 20
SHARD_RETENTION = timedelta(days=90)
# How long the invocation that works on a run's dispatch (listing, or a checkpoint) may do so
# undisturbed: a Lambda lives 15 minutes, so past this it is taken for dead and another may
# take over. The one guard against dispatching a run twice.
DISPATCH_LEASE = timedelta(minutes=16)


class RunStatus(StrEnum):
    """dispatching → checking → finalizing → done, or held (decisions wait for an operator) →
    finalizing → done once approved, or discarded."""

    DISPATCHING = "dispatching"
    CHECKING = "checking"
    FINALIZING = "finalizing"
    DONE = "done"
    HELD = "held"
    DISCARDED = "discarded"


class DecisionState(StrEnum):
    """recorded → pending → applied | cancelled (the domain recovered before the call went out).
    A call that fails, or that waits for a lookup that can tell, stays pending for the next run.
    recorded → held (the breaker) → pending once approved, or discarded. A dry run's decisions
    stay recorded."""

    RECORDED = "recorded"
    PENDING = "pending"
    APPLIED = "applied"
    CANCELLED = "cancelled"
    HELD = "held"
    DISCARDED = "discarded"
    # A later decision about the same domain, still to send, replaced it: one lapse, one call.
    SUPERSEDED = "superseded"


class LifecycleChange(MapAttribute):
    at = UTCDateTimeAttribute()
    previous = UnicodeAttribute(null=True)
    current = UnicodeAttribute()
    run_id = UnicodeAttribute(null=True)


class DomainState(Model):
    class Meta:
        table_name = "lapsewatch-domains"

    domain = UnicodeAttribute(hash_key=True)
    lifecycle = UnicodeAttribute()
    unsafe = BooleanAttribute(default=False)
    reason = UnicodeAttribute(null=True)
    provider = UnicodeAttribute(null=True)
    # The provider's base URL that answered (an RDAP bootstrap entry).
    service = UnicodeAttribute(null=True)
    statuses: ListAttribute = ListAttribute(of=UnicodeAttribute, default=list)
    registered_at = UTCDateTimeAttribute(null=True)
    expires_at = UTCDateTimeAttribute(null=True)
    error = UnicodeAttribute(null=True)
    first_seen_at = UTCDateTimeAttribute(null=True)
    last_checked_at = UTCDateTimeAttribute(null=True)
    next_check_at = UTCDateTimeAttribute(null=True)
    consecutive_errors = NumberAttribute(default=0)
    # Since when every lookup has been `unknown` (None once one can tell): unknown streaks.
    unknown_since = UTCDateTimeAttribute(null=True)
    # The Idempotency-Key of the last early-warning notice the registry took for this domain.
    notice_key = UnicodeAttribute(null=True)
    # When the registry took it: at most one notice a domain a week, whatever the expiry dates say.
    noticed_at = UTCDateTimeAttribute(null=True)
    history: ListAttribute = ListAttribute(of=LifecycleChange, default=list)
    email_domains: ListAttribute = ListAttribute(of=UnicodeAttribute, default=list)
    oldest_verified_at = UTCDateTimeAttribute(null=True)
    # Which run and shard last checked it: a message delivered twice is not checked twice.
    last_run_id = UnicodeAttribute(null=True)
    last_shard = NumberAttribute(null=True)
    # What the zone above the domain said at the last check (`check --json`'s dns), if asked.
    dns = JSONAttribute(null=True)


class RunRecord(Model):
    class Meta:
        table_name = "lapsewatch-runs"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default="RUN")
    run_id = UnicodeAttribute()
    status = UnicodeAttribute()  # a RunStatus
    created_at = UTCDateTimeAttribute()
    finished_at = UTCDateTimeAttribute(null=True)
    trigger = UnicodeAttribute(default="schedule")
    dry_run = BooleanAttribute(default=False)
    check_all = BooleanAttribute(default=False)
    listed = NumberAttribute(default=0)
    invalid = NumberAttribute(default=0)
    invalid_reasons: MapAttribute = MapAttribute(default=dict)
    distinct = NumberAttribute(default=0)
    skipped_not_due = NumberAttribute(default=0)
    shard_count = NumberAttribute(null=True)
    shards_done = NumberAttribute(default=0)
    shards_dead = NumberAttribute(default=0)
    held_reason = UnicodeAttribute(null=True)
    summary = JSONAttribute(null=True)
    # Dispatcher continuation (very large registries): where the listing resumes, the shards
    # already sent, and which checkpoint holds the domains collected so far.
    cursor = UnicodeAttribute(null=True)
    next_shard = NumberAttribute(default=0)
    checkpoint_generation = NumberAttribute(default=0)
    resumed_generation = NumberAttribute(default=0)
    # Until when the invocation working on the dispatch (listing, or a checkpoint) may do so
    # undisturbed (DISPATCH_LEASE).
    claimed_until = UTCDateTimeAttribute(null=True)


class ShardRecord(Model):
    class Meta:
        table_name = "lapsewatch-runs"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    outcome = UnicodeAttribute()  # done | dead
    checked = NumberAttribute(default=0)
    # Domains of the message that are not registrable domains: refused, never looked up.
    refused = NumberAttribute(default=0)
    by_lifecycle: MapAttribute = MapAttribute(default=dict)
    # Checked and unsafe domains per place: "<tld> <service>", the service being the status
    # provider's base URL (an RDAP bootstrap entry). The breaker weighs outages by place.
    by_place: MapAttribute = MapAttribute(default=dict)
    unsafe_by_place: MapAttribute = MapAttribute(default=dict)
    # Lapses the DNS contradicted (the zone still delegates the name), per service.
    dns_contradicted_by_service: MapAttribute = MapAttribute(default=dict)
    # Domains no provider of the chain serves, and their addresses, per TLD.
    unprotected_by_tld: MapAttribute = MapAttribute(default=dict)
    unprotected_addresses_by_tld: MapAttribute = MapAttribute(default=dict)
    # Domains `unknown` for the whole streak (UnknownStreakDays), and a few of them.
    unknown_streaks = NumberAttribute(default=0)
    unknown_streak_examples: ListAttribute = ListAttribute(of=UnicodeAttribute, default=list)
    # The unsafe domains it counted: the final step counts every other decision of the run in
    # its place itself, so that no decision is weighed without its place's evidence.
    unsafe_domains: ListAttribute = ListAttribute(of=UnicodeAttribute, default=list)
    # Checked, but their state or decision could not be stored: checked again by the next run.
    not_stored = NumberAttribute(default=0)
    # A dead shard's domains that were not checked.
    domains: ListAttribute = ListAttribute(of=UnicodeAttribute, default=list)
    expires = NumberAttribute(null=True)


class ShardPlan(Model):
    """A shard as the dispatcher sent it: the digest of its message, and each of its domains'
    verified addresses as the registry counted them. The checker accepts a shard message only
    as planned; the final step weighs a decision by the addresses planned for its domain."""

    class Meta:
        table_name = "lapsewatch-runs"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    # Both named apart from any attribute the checker writes (a decision's `addresses`): a role
    # limited to those attributes (dynamodb:Attributes) cannot write a plan that counts.
    digest = UnicodeAttribute()
    domain_addresses = JSONAttribute()  # {domain: verified addresses}
    expires = NumberAttribute(null=True)


class Approval(Model):
    """An operator's approval of one held decision, by its exact Idempotency-Key: the one
    exception to the per-decision rules at send time. Written by the final function alone."""

    class Meta:
        table_name = "lapsewatch-runs"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    domain = UnicodeAttribute()
    operator = UnicodeAttribute(null=True)
    approved_at = UTCDateTimeAttribute()


class CheckpointChunk(Model):
    """Part of a dispatcher's checkpoint: the compressed domains it had collected."""

    class Meta:
        table_name = "lapsewatch-runs"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    data = BinaryAttribute(legacy_encoding=False)
    expires = NumberAttribute(null=True)


OUTSTANDING = "outstanding"


class OutstandingIndex(GlobalSecondaryIndex):
    """The decisions whose unverify call is still to make, oldest first, across runs."""

    class Meta:
        index_name = "outstanding"
        projection = AllProjection()

    outstanding = UnicodeAttribute(hash_key=True)
    decided_at = UTCDateTimeAttribute(range_key=True)


class Decision(Model):
    """An unsafe domain found by a run, and what became of its unverify call."""

    class Meta:
        table_name = "lapsewatch-runs"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    run_id = UnicodeAttribute()
    domain = UnicodeAttribute()
    lifecycle = UnicodeAttribute()
    idempotency_key = UnicodeAttribute()
    verified_before = UTCDateTimeAttribute(null=True)
    evidence = JSONAttribute()
    # A DecisionState; an item without one (as the checker writes it) is recorded.
    state = UnicodeAttribute(null=True, default=DecisionState.RECORDED)
    # Set to OUTSTANDING while pending, absent otherwise: the sparse key of OutstandingIndex.
    outstanding = UnicodeAttribute(null=True)
    outstanding_index = OutstandingIndex()
    # As the checker read them from its shard; weighed by what the dispatcher planned (ShardPlan).
    addresses = NumberAttribute(default=0)
    # The shard of its run that checked it (none for the manual entry's).
    shard = NumberAttribute(null=True)
    service = UnicodeAttribute(null=True)
    hold_reason = UnicodeAttribute(null=True)
    emails_unverified = NumberAttribute(null=True)
    replayed = BooleanAttribute(null=True)
    attempts = NumberAttribute(null=True, default=0)
    # Why the last call failed, why it waits, or why it was cancelled.
    error = UnicodeAttribute(null=True)
    decided_at = UTCDateTimeAttribute()
    settled_at = UTCDateTimeAttribute(null=True)
    # Who approved or discarded it, when the breaker held it for an operator.
    operator = UnicodeAttribute(null=True)
    # The decision that replaced it (SUPERSEDED): "<run id> <Idempotency-Key>".
    superseded_by = UnicodeAttribute(null=True)


class NoticeRecord(Model):
    """An early warning a run owes the owners of a domain's addresses: the domain is in grace or
    on hold. state: pending → sent | failed | unsupported (the registry has no notify endpoint)."""

    class Meta:
        table_name = "lapsewatch-runs"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    domain = UnicodeAttribute()
    stage = UnicodeAttribute()
    expires_at = UTCDateTimeAttribute(null=True)
    idempotency_key = UnicodeAttribute()
    evidence = JSONAttribute()
    # An item without one (as the checker writes it) is pending.
    state = UnicodeAttribute(null=True, default="pending")
    error = UnicodeAttribute(null=True)


# What becomes of a decision or a notice: the final step's, an operator's and the manual entry's
# to write, never the checker's. A decision the checker records is always recorded, so the
# breaker weighs it before any call can go out.
DECISION_OUTCOME = frozenset(
    {
        "state",
        "outstanding",
        "hold_reason",
        "emails_unverified",
        "replayed",
        "attempts",
        "error",
        "settled_at",
        "operator",
        "superseded_by",
    }
)
NOTICE_OUTCOME = frozenset({"state", "error"})


def _attribute_names(model: type[Model]) -> frozenset[str]:
    return frozenset(attribute.attr_name for attribute in model.get_attributes().values())


# Every attribute the checker writes to the run table (template.yaml's CheckerRole allows these
# alone, through dynamodb:Attributes): the decisions and notices it finds, its shards, and the
# run's shard counts and status.
CHECKER_RUN_ATTRIBUTES = (
    (_attribute_names(Decision) - DECISION_OUTCOME)
    | (_attribute_names(NoticeRecord) - NOTICE_OUTCOME)
    | _attribute_names(ShardRecord)
    | {"pk", "sk", "status", "shards_done", "shards_dead"}
)


# DynamoDB items are at most 400 KB.
CHECKPOINT_CHUNK = 350_000


def _bound[M: Model](model: type[M], table_name: str) -> type[M]:
    """`model` on the table `table_name`: a subclass of its own, so that two stores on two pairs of
    tables (a function's, a test's) never share a binding."""
    return type(model.__name__, (model,), {"Meta": type("Meta", (), {"table_name": table_name})})


def run_id_for(occurrence: datetime) -> str:
    """One run per schedule occurrence: the id is the occurrence's time."""
    return "run-" + occurrence.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def run_pk(run_id: str) -> str:
    return f"RUN#{run_id}"


def shard_sk(shard: int) -> str:
    return f"SHARD#{shard:06d}"


def plan_sk(shard: int) -> str:
    return f"PLAN#{shard:06d}"


def bounded_text(value: str | None, limit: int = MAX_TEXT_CHARS) -> str | None:
    if value is None or len(value) <= limit:
        return value
    return value[: limit - 12] + " [truncated]"


def bounded_tokens(values: Iterable[str] | None) -> list[str]:
    return [str(bounded_text(str(v), MAX_TOKEN_CHARS)) for v in list(values or [])[:MAX_TOKENS]]


def bounded_json(value: object) -> object:
    """JSON from outside, bounded: strings, lists and objects cut to the limits above."""
    if isinstance(value, str):
        return bounded_text(value)
    if isinstance(value, list | tuple):
        return [bounded_json(item) for item in list(value)[:MAX_TOKENS]]
    if isinstance(value, dict):
        items = list(value.items())[:MAX_EVIDENCE_KEYS]
        return {str(bounded_text(str(key), MAX_TOKEN_CHARS)): bounded_json(item) for key, item in items}
    return value


def _bound_state(state: DomainState) -> None:
    state.statuses = bounded_tokens(state.statuses)
    for name in ("reason", "provider", "service", "error"):
        setattr(state, name, bounded_text(getattr(state, name)))
    state.email_domains = [
        str(bounded_text(d, 253)) for d in list(state.email_domains or [])[:EMAIL_DOMAIN_LIMIT]
    ]
    state.history = list(state.history or [])[-HISTORY_LIMIT:]


def _bound_decision(decision: Decision) -> None:
    decision.evidence = bounded_json(decision.evidence or {})
    for name in ("service", "error", "hold_reason", "operator"):
        setattr(decision, name, bounded_text(getattr(decision, name)))


class RunStore:
    """Data access for the sweep: runs, shards, decisions, domain state, on the two tables named
    when it is built (the function's environment gives them).

    The sweep's logic builds items as plain models; the store writes each to its own tables."""

    def __init__(self, *, domains_table: str, runs_table: str, clock=lambda: datetime.now(UTC)) -> None:
        self._clock = clock
        self._domains = _bound(DomainState, domains_table)
        self._runs = _bound(RunRecord, runs_table)
        self._shards = _bound(ShardRecord, runs_table)
        self._chunks = _bound(CheckpointChunk, runs_table)
        self._decisions = _bound(Decision, runs_table)
        self._notices = _bound(NoticeRecord, runs_table)
        self._plans = _bound(ShardPlan, runs_table)
        self._approvals = _bound(Approval, runs_table)

    def _on_table[M: Model](self, item: M, bound: type[M]) -> M:
        """`item` as an item of this store's tables: itself when it was read from them."""
        return item if isinstance(item, bound) else bound.from_raw_data(item.serialize(null_check=False))

    # Runs ------------------------------------------------------------------------------------
    def create_run(self, run: RunRecord) -> bool:
        """Save a new run; False when a run with that id exists already."""
        try:
            self._on_table(run, self._runs).save(condition=RunRecord.pk.does_not_exist())
        except PutError as exc:
            if _conditional_failure(exc):
                return False
            raise
        return True

    def get_run(self, run_id: str) -> RunRecord | None:
        try:
            return self._runs.get(run_pk(run_id), "RUN", consistent_read=True)
        except DoesNotExist:
            return None

    def recent_runs(self, limit: int) -> list[RunRecord]:
        """The newest `limit` runs. A scan of the runs table: for an operator's listing, never
        for the sweep."""
        runs = self._runs.scan(self._runs.sk == "RUN")
        return sorted(runs, key=lambda run: run.created_at, reverse=True)[:limit]

    def transition(self, run: RunRecord, expected: Iterable[str], new_status: str, **changes) -> bool:
        """Move a run to `new_status` only if it is still in one of `expected`: the guard that
        makes each step happen once, however often SQS or an operator repeats it."""
        actions: list[Action] = [RunRecord.status.set(new_status)]
        actions += [getattr(RunRecord, name).set(value) for name, value in changes.items()]
        item = self._on_table(run, self._runs)
        hash_key, range_key = item._get_hash_range_key_serialized_values()
        try:
            # ReturnValues NONE, not the ALL_NEW of Model.update: the checker's role may not read
            # back attributes through a write (template.yaml's dynamodb:ReturnValues).
            item._get_connection().update_item(
                hash_key,
                range_key=range_key,
                actions=actions,
                condition=RunRecord.status.is_in(*expected),
                return_values=NONE,
            )
        except UpdateError as exc:
            if _conditional_failure(exc):
                return False
            raise
        for name, value in {"status": new_status, **changes}.items():
            setattr(run, name, value)
        return True

    def hold_run(self, run_id: str, reason: str) -> bool:
        """Put a finished run back to waiting for an operator: one of its decisions was held at
        the moment of sending (the per-decision rules). False when the run is not finished
        (the final step at work on it settles its status itself) or does not exist."""
        return self.transition(
            self._runs(run_pk(run_id), "RUN"),
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
        run = self._runs(run_pk(run_id), "RUN")
        try:
            with TransactWrite(connection=self._runs._get_connection().connection) as transaction:
                transaction.save(shard, condition=ShardRecord.sk.does_not_exist())
                transaction.update(run, actions=[counter.add(1)], condition=RunRecord.pk.exists())
        except TransactWriteError as exc:
            if _transaction_cancelled_by_condition(exc):
                return None
            raise
        return self.get_run(run_id)

    def save_checkpoint(
        self, run: RunRecord, generation: int, data: bytes, *, cursor: str | None, claim: bool = False
    ) -> None:
        """Save a dispatcher's state for the invocation that continues it; with `claim`, for the
        invocation saving it, which carries on (a crash of it leaves the checkpoint to a retry)."""
        expires = int((self._clock() + SHARD_RETENTION).timestamp())
        prefix = f"CHECKPOINT#{generation:06d}#"
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
        try:
            self._on_table(run, self._runs).update(
                actions=[RunRecord.claimed_until.set(now + DISPATCH_LEASE)],
                condition=(RunRecord.status == RunStatus.DISPATCHING)
                & (RunRecord.checkpoint_generation == 0)
                & (RunRecord.claimed_until.does_not_exist() | (RunRecord.claimed_until < now)),
            )
        except UpdateError as exc:
            if _conditional_failure(exc):
                return False
            raise
        return True

    def claim_checkpoint(self, run: RunRecord, generation: int) -> bool:
        """Take checkpoint `generation` for one invocation alone: False while another holds it (a
        repeated message), True again once that one's lease has run out (it died)."""
        now = self._clock()
        try:
            self._on_table(run, self._runs).update(
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
        except UpdateError as exc:
            if _conditional_failure(exc):
                return False
            raise
        return True

    def load_checkpoint(self, run_id: str, generation: int) -> bytes:
        chunks = self._chunks.query(
            run_pk(run_id),
            CheckpointChunk.sk.startswith(f"CHECKPOINT#{generation:06d}#"),
            consistent_read=True,
        )
        return b"".join(chunk.data for chunk in chunks)

    def shards(self, run_id: str) -> Iterator[ShardRecord]:
        return self._shards.query(run_pk(run_id), ShardRecord.sk.startswith("SHARD#"))

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
            f"APPROVAL#{decision.idempotency_key}",
            domain=decision.domain,
            operator=bounded_text(operator),
            approved_at=self._clock(),
        ).save()

    def approved(self, decision: Decision) -> bool:
        """Whether an operator approved this decision by its exact Idempotency-Key. An approval
        counts only with its `approved_at`, which no role but the final function's writes."""
        try:
            approval = self._approvals.get(
                run_pk(decision.run_id), f"APPROVAL#{decision.idempotency_key}", consistent_read=True
            )
        except DoesNotExist:
            return False
        return approval.domain == decision.domain and approval.approved_at is not None

    # Decisions -------------------------------------------------------------------------------
    def record_decision(self, decision: Decision) -> None:
        decision.pk = run_pk(decision.run_id)
        decision.sk = f"UNSAFE#{decision.domain}"
        self.save_decision(decision)

    def record_finding(self, decision: Decision) -> None:
        """A decision as the checker records it: what it found and nothing of what becomes of it
        (DECISION_OUTCOME), so that it is read back as recorded."""
        _bound_decision(decision)
        decision.pk = run_pk(decision.run_id)
        decision.sk = f"UNSAFE#{decision.domain}"
        # On the table's model first: building it from the item sets the defaults again.
        item = self._on_table(decision, self._decisions)
        for name in DECISION_OUTCOME:
            setattr(item, name, None)
        item.save()

    def decisions(self, run_id: str) -> Iterator[Decision]:
        return self._decisions.query(run_pk(run_id), Decision.sk.startswith("UNSAFE#"))

    def save_decision(self, decision: Decision) -> None:
        _bound_decision(decision)
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
        notice.pk, notice.sk = run_pk(run_id), f"NOTICE#{notice.domain}"
        item = self._on_table(notice, self._notices)
        for name in NOTICE_OUTCOME:
            setattr(item, name, None)
        item.save()

    def notices(self, run_id: str) -> Iterator[NoticeRecord]:
        return self._notices.query(run_pk(run_id), NoticeRecord.sk.startswith("NOTICE#"))

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
        _bound_state(state)
        self._on_table(state, self._domains).save()

    def schedule(self) -> Iterator[tuple[str, datetime | None]]:
        """Every known domain and when it is next due, in one scan (no per-domain reads).

        Read as raw items, page by page: at a quarter of a million domains, building a model
        object for each costs the dispatcher more time than everything else it does."""
        connection = self._domains._get_connection()
        parse = UTCDateTimeAttribute().deserialize
        start_key = None
        while True:
            page = connection.scan(
                attributes_to_get=["domain", "next_check_at"], exclusive_start_key=start_key
            )
            for item in page.get("Items", []):
                next_check = item.get("next_check_at", {}).get("S")
                yield item["domain"]["S"], parse(next_check) if next_check else None
            start_key = page.get("LastEvaluatedKey")
            if not start_key:
                return


def _plan_addresses(plan: ShardPlan | None) -> dict:
    addresses = plan.domain_addresses if plan is not None else None
    return addresses if isinstance(addresses, dict) else {}


def _conditional_failure(exc: Exception) -> bool:
    return getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException"


def _transaction_cancelled_by_condition(exc: TransactWriteError) -> bool:
    reasons = getattr(exc, "cancellation_reasons", None) or []
    return any(reason is not None and reason.code == "ConditionalCheckFailed" for reason in reasons)
