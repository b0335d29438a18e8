"""The circuit breaker: what holds a run's decisions for an operator, narrowly.

A decision that waits for an operator's approval waits alone or with its group, and the rest of
the run goes ahead. `BreakerLimits` are the operator's limits, which every unverify call must
also pass again at the moment it is sent; `hold_reasons` weighs a run's decisions against them
and against what the run's shards saw (`Tally`). docs/sweep.md, "The circuit breaker", says what
waits and why; the constants below are its thresholds.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from lapsewatch.domains import tld
from lapsewatch.sweep.records import Decision

OUTAGE_MIN_UNSAFE = 3
OUTAGE_SHARE = 0.9
RUN_OUTAGE_SHARE = 0.5
# The run-wide share rule applies from this many domains checked.
RUN_OUTAGE_MIN_CHECKED = 10


def place(domain: str, service: str | None) -> str | None:
    """Where a domain's answer comes from, as the breaker groups them: its TLD at its service."""
    return f"{tld(domain)} {service}" if service else None


@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerLimits:
    """The operator's limits, as the sweep's settings give them (Runtime.limits)."""

    max_unverify: int
    max_unverify_fraction: float
    max_addresses_per_domain: int
    max_addresses_per_run: int
    protected: frozenset[str]

    def limit(self, checked: int) -> int:
        return max(self.max_unverify, math.floor(self.max_unverify_fraction * checked))

    def domain_reason(self, domain: str, addresses: int | None) -> str | None:
        """Why a decision about `domain`, at that many addresses (None: no record of them), must
        wait for an operator whatever the rest of its run looks like; None when it need not."""
        if domain in self.protected:
            return "protected domains (large mailbox providers) wait for an operator"
        if addresses is None:
            return (
                "no record by the dispatcher of how many verified addresses it has "
                "(a decision it did not plan) waits for an operator"
            )
        if addresses > self.max_addresses_per_domain:
            return (
                f"more than {self.max_addresses_per_domain} verified addresses at one domain "
                "(MaxAddressesPerDomain)"
            )
        return None


@dataclass(slots=True)
class Tally:
    checked: int = 0
    refused: int = 0
    by_lifecycle: Counter = field(default_factory=Counter)
    by_place: Counter = field(default_factory=Counter)
    unsafe_by_place: Counter = field(default_factory=Counter)
    # Lapses a status service reported that the DNS contradicted, per service.
    dns_contradicted_by_service: Counter = field(default_factory=Counter)
    unprotected_by_tld: Counter = field(default_factory=Counter)
    unprotected_addresses_by_tld: Counter = field(default_factory=Counter)
    unknown_streaks: int = 0
    unknown_streak_examples: list[str] = field(default_factory=list)
    dead_domains: list[str] = field(default_factory=list)
    # The unsafe domains the shards counted, and the domains checked but not stored.
    counted_unsafe: set[str] = field(default_factory=set)
    not_stored: int = 0


def hold_reasons(
    tally: Tally,
    decisions: Iterable[Decision],
    limits: BreakerLimits,
    *,
    unplanned: Collection[str] = (),
) -> dict[str, str]:
    """The decisions that must wait for an operator: {domain: why}. Domains held for the same
    reason form one group. A decision weighs the addresses the dispatcher recorded for its
    domain (set on it by the caller); `unplanned` names the domains it recorded none for."""
    decisions = list(decisions)
    held: dict[str, str] = {}
    for decision in decisions:
        addresses = None if decision.domain in unplanned else int(decision.addresses or 0)
        if reason := limits.domain_reason(decision.domain, addresses):
            held[decision.domain] = reason

    outages, outage_checked = _outages(tally)
    for decision in decisions:
        where = place(decision.domain, decision.service)
        if decision.domain in held or where is None:
            continue
        service_reason = outages.get(where.split(" ", 1)[1])
        reason = service_reason or outages.get(where)
        if reason:
            held[decision.domain] = reason

    rest = [d for d in decisions if d.domain not in held]
    run_reason = _run_reason(tally, rest, limits, checked=tally.checked - outage_checked)
    if run_reason:
        held |= dict.fromkeys((d.domain for d in rest), f"the whole run: {run_reason}")
    return held


def _outages(tally: Tally) -> tuple[dict[str, str], int]:
    """Places and services whose answers look like an outage: {place or service: why}, and how
    many domains were checked there."""
    by_service: Counter = Counter()
    unsafe_by_service: Counter = Counter()
    for where, checked in tally.by_place.items():
        service = where.split(" ", 1)[1]
        by_service[service] += checked
        unsafe_by_service[service] += tally.unsafe_by_place.get(where, 0)

    outages: dict[str, str] = {}
    outage_checked = 0
    for service, checked in sorted(by_service.items()):
        unsafe = unsafe_by_service[service]
        if _looks_like_outage(unsafe, checked):
            outages[service] = (
                f"{unsafe} of the {checked} domains checked at {service} came back unsafe: "
                "that looks like an outage of that server, not lapses"
            )
            outage_checked += checked
    for where, checked in sorted(tally.by_place.items()):
        suffix, service = where.split(" ", 1)
        unsafe = tally.unsafe_by_place.get(where, 0)
        if service not in outages and _looks_like_outage(unsafe, checked):
            outages[where] = (
                f"{unsafe} of the {checked} .{suffix} domains checked at {service} came back unsafe: "
                f"that looks like an outage of .{suffix} at that server, not lapses"
            )
            outage_checked += checked
    return outages, outage_checked


def _looks_like_outage(unsafe: int, checked: int) -> bool:
    return unsafe >= OUTAGE_MIN_UNSAFE and unsafe >= OUTAGE_SHARE * checked


def _run_reason(tally: Tally, rest: list[Decision], limits: BreakerLimits, *, checked: int) -> str | None:
    limit = limits.limit(tally.checked)
    if len(rest) > limit:
        return (
            f"{len(rest)} unsafe domains is more than the limit of {limit} "
            f"(max({limits.max_unverify}, {limits.max_unverify_fraction:g} x {tally.checked} checked))"
        )
    if checked >= RUN_OUTAGE_MIN_CHECKED and len(rest) >= RUN_OUTAGE_SHARE * checked:
        return (
            f"{len(rest)} of the {checked} domains checked came back unsafe: "
            "that looks like an outage, not lapses"
        )
    addresses = sum(int(d.addresses or 0) for d in rest)
    if addresses > limits.max_addresses_per_run:
        return (
            f"{addresses} addresses would be unverified, more than {limits.max_addresses_per_run} "
            "(MaxAddressesPerRun)"
        )
    return None
