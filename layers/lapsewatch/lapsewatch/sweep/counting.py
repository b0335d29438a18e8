"""A shard's counts, kept on its record: what the final step tallies and the breaker weighs."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from lapsewatch.domains import tld
from lapsewatch.lifecycle import Lifecycle
from lapsewatch.sweep.messages import Shard
from lapsewatch.sweep.records import ShardRecord, shard_sk

# Unknown streaks: examples kept per shard, and in a run summary.
STREAK_EXAMPLES = 10


@dataclass(frozen=True, slots=True)
class Counted:
    """A domain of the shard, checked and counted once."""

    domain: str
    lifecycle: Lifecycle
    place: str | None
    addresses: int
    # No provider in the chain serves its TLD: never protected, whatever the day.
    unprotected: bool
    unknown_since: datetime | None
    # False when its state or decision could not be stored: the next run checks it again.
    stored: bool = True
    # The service whose lapse the DNS contradicted (the zone still delegates the domain).
    contradicted: str | None = None


def shard_record(
    shard: Shard,
    counted: list[Counted],
    refused: int,
    unsafe: frozenset[Lifecycle],
    *,
    streak_began: datetime,
    outcome: str,
    lost: Sequence[str] = (),
) -> ShardRecord:
    """A shard's counts: what the final step tallies and the breaker weighs. A domain unknown
    since `streak_began` or earlier is on an unknown streak."""
    unprotected = [c for c in counted if c.unprotected]
    streaks = sorted(
        c.domain
        for c in counted
        if not c.unprotected and c.unknown_since is not None and c.unknown_since <= streak_began
    )
    return ShardRecord(
        sk=shard_sk(shard.number),
        outcome=outcome,
        checked=len(counted),
        refused=refused,
        by_lifecycle=dict(Counter(str(c.lifecycle) for c in counted)),
        by_place=dict(Counter(c.place for c in counted if c.place)),
        unsafe_by_place=dict(Counter(c.place for c in counted if c.place and c.lifecycle in unsafe)),
        unsafe_domains=sorted(c.domain for c in counted if c.lifecycle in unsafe),
        not_stored=sum(1 for c in counted if not c.stored),
        dns_contradicted_by_service=dict(Counter(c.contradicted for c in counted if c.contradicted)),
        unprotected_by_tld=dict(Counter(tld(c.domain) for c in unprotected)),
        unprotected_addresses_by_tld=_sum_by_tld((c.domain, c.addresses) for c in unprotected),
        unknown_streaks=len(streaks),
        unknown_streak_examples=streaks[:STREAK_EXAMPLES],
        domains=list(lost),
    )


def _sum_by_tld(domains: Iterable[tuple[str, int]]) -> dict[str, int]:
    totals: Counter = Counter()
    for domain, addresses in domains:
        totals[tld(domain)] += addresses
    return dict(totals)
