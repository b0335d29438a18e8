"""What the sweep keeps in DynamoDB: the items, their keys and their limits.

Two tables, both keyed as template.yaml defines them:

* the domain table, one item per registrable domain: its last observed lifecycle and evidence,
  error streak, capped history of lifecycle changes and when it is next due;
* the run table, one partition per run (`RUN#<id>`): the run record (`RUN`), one item per
  shard the dispatcher sent (`PLAN#<n>`: the message's digest and each domain's addresses), one
  item per finished shard (`SHARD#<n>`) carrying that shard's counts, one item per unsafe
  decision (`UNSAFE#<domain>`), one per notice (`NOTICE#<domain>`), one per decision an
  operator approved (`APPROVAL#<key>`) and a dispatcher's checkpoint (`CHECKPOINT#<gen>#<n>`).
  A decision whose unverify call is still to make carries the sparse `outstanding` attribute,
  and the `outstanding` index finds those across runs.

Items are at most 400 KB. What comes from outside (a provider's statuses, reasons and errors,
and the evidence built from them) is bounded before it is saved (`lapsewatch.sweep.bounds`):
one domain's answer can never make an item too large to store.

No email address is ever stored: the registry keeps those.
"""

from __future__ import annotations

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
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

# The run table's sort keys, by kind of item.
RUN_SK = "RUN"
SHARD_PREFIX = "SHARD#"
PLAN_PREFIX = "PLAN#"
DECISION_PREFIX = "UNSAFE#"
NOTICE_PREFIX = "NOTICE#"
APPROVAL_PREFIX = "APPROVAL#"
CHECKPOINT_PREFIX = "CHECKPOINT#"

HISTORY_LIMIT = 20
EMAIL_DOMAIN_LIMIT = 10
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
    sk = UnicodeAttribute(range_key=True, default=RUN_SK)
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


def run_id_for(occurrence: datetime) -> str:
    """One run per schedule occurrence: the id is the occurrence's time."""
    return "run-" + occurrence.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def run_pk(run_id: str) -> str:
    return f"RUN#{run_id}"


def shard_sk(shard: int) -> str:
    return f"{SHARD_PREFIX}{shard:06d}"


def plan_sk(shard: int) -> str:
    return f"{PLAN_PREFIX}{shard:06d}"
