"""The run summary (what `lapsewatch run --json` prints and the dashboard charts) and its
warnings: a run whose lookups mostly failed must not look healthy because it found nothing.

`RunSummary` names every key a summary has, so that mypy checks each reader's."""

from __future__ import annotations

from typing import Any, TypedDict

from lapsewatch.sweep.apply import ApplyCounts
from lapsewatch.sweep.breaker import Tally
from lapsewatch.sweep.counting import STREAK_EXAMPLES
from lapsewatch.sweep.notices import NoticeCounts
from lapsewatch.sweep.records import (
    SUMMARY_DOMAINS,
    SUMMARY_GROUP_DOMAINS,
    SUMMARY_GROUPS,
    Decision,
    DecisionState,
    RunRecord,
)
from lapsewatch.timefmt import rfc3339

UNPROTECTED_TLDS_SHOWN = 10
# A run warns when at least this share of its lookups failed (from this many lookups).
WARN_UNKNOWN_SHARE = 0.5
WARN_UNKNOWN_MIN_CHECKED = 10


class HeldGroup(TypedDict):
    reason: str
    count: int
    domains: list[str]


class DomainCounts(TypedDict):
    """listed = invalid + merged + distinct; distinct = skipped_not_due + dispatched;
    dispatched = checked + refused + dead_lettered + not_checked."""

    listed: int
    invalid: int
    # Email domains that reduce to a registrable domain listed already (subdomains).
    merged: int
    distinct: int
    skipped_not_due: int
    dispatched: int
    checked: int
    refused: int
    dead_lettered: int
    # In shards that never reported: a run closed by an operator before they did.
    not_checked: int
    # Of the checked: their state could not be stored; checked again by the next run.
    not_stored: int


class UnprotectedTld(TypedDict):
    tld: str
    domains: int
    addresses: int


class Unprotected(TypedDict):
    domains: int
    addresses: int
    top_tlds: list[UnprotectedTld]


class UnknownStreaks(TypedDict):
    count: int
    examples: list[str]


class ShardCounts(TypedDict):
    count: int
    done: int
    dead: int


class RunSummary(TypedDict):
    run_id: str
    status: str
    dry_run: bool
    held: bool
    held_domains: list[str]
    held_count: int
    held_reason: str | None
    held_groups: list[HeldGroup]
    domains: DomainCounts
    invalid_reasons: dict[str, int]
    by_lifecycle: dict[str, int]
    unprotected: Unprotected
    unknown_streaks: UnknownStreaks
    unsafe: list[str]
    unsafe_count: int
    # ApplyCounts.unverify() and .withheld(); NoticeCounts.to_dict().
    unverify: dict[str, int]
    withheld: dict[str, int]
    notices: dict[str, int]
    shards: ShardCounts
    # SweepSettings.in_summary(): the settings in force.
    settings: dict[str, Any]
    started_at: str | None
    # Lapses a status service reported that the DNS contradicted, per service.
    dns_contradictions: dict[str, int]
    warnings: list[str]


def not_checked(tally: Tally, *, dispatched: int) -> int:
    """Domains sent for checking that no shard reported: a run closed before they did."""
    return max(0, dispatched - tally.checked - tally.refused - len(tally.dead_domains))


def summarize(
    run: RunRecord,
    tally: Tally,
    decisions: list[Decision],
    counts: ApplyCounts,
    settings: dict[str, Any],
    *,
    status: str | None = None,
    notices: dict | None = None,
) -> RunSummary:
    """The run summary: what `lapsewatch run --json` prints and the dashboard charts."""
    groups = _held_groups(decisions)
    held = sorted(domain for domains in groups.values() for domain in domains)
    unsafe = sorted(d.domain for d in decisions)
    reasons = list(groups)[:SUMMARY_GROUPS]
    if len(groups) > SUMMARY_GROUPS:
        reasons.append(f"and {len(groups) - SUMMARY_GROUPS} more reasons (lapsewatch runs show)")
    invalid_reasons = run.invalid_reasons.as_dict() if run.invalid_reasons else {}
    counted = _domain_counts(run, tally)
    return {
        "run_id": run.run_id,
        "status": status or run.status,
        "dry_run": bool(run.dry_run),
        "held": bool(groups),
        "held_domains": held[:SUMMARY_DOMAINS],
        "held_count": len(held),
        "held_reason": "; ".join(reasons) or None,
        "held_groups": [
            {"reason": reason, "count": len(domains), "domains": domains[:SUMMARY_GROUP_DOMAINS]}
            for reason, domains in list(groups.items())[:SUMMARY_GROUPS]
        ],
        "domains": counted,
        "invalid_reasons": {key: int(value) for key, value in invalid_reasons.items()},
        "by_lifecycle": dict(sorted(tally.by_lifecycle.items())),
        "unprotected": _unprotected(tally),
        "unknown_streaks": {
            "count": tally.unknown_streaks,
            "examples": sorted(tally.unknown_streak_examples)[:STREAK_EXAMPLES],
        },
        "unsafe": unsafe[:SUMMARY_DOMAINS],
        "unsafe_count": len(unsafe),
        "unverify": counts.unverify(),
        "withheld": counts.withheld(),
        "notices": notices or NoticeCounts().to_dict(),
        "shards": {
            "count": int(run.shard_count or 0),
            "done": int(run.shards_done or 0),
            "dead": int(run.shards_dead or 0),
        },
        "settings": settings,
        "started_at": rfc3339(run.created_at),
        "dns_contradictions": dict(sorted(tally.dns_contradicted_by_service.items())),
        "warnings": run_warnings(
            tally, counts, notices or {}, listed=counted["listed"], dispatched=counted["dispatched"]
        )
        + settings_warnings(settings)
        + contradiction_warnings(tally),
    }


def _held_groups(decisions: list[Decision]) -> dict[str, list[str]]:
    """The held decisions' domains, by the reason they wait, in order of their domains."""
    groups: dict[str, list[str]] = {}
    for decision in sorted(decisions, key=lambda d: d.domain):
        if decision.state == DecisionState.HELD:
            groups.setdefault(decision.hold_reason or "held", []).append(decision.domain)
    return groups


def _domain_counts(run: RunRecord, tally: Tally) -> DomainCounts:
    """What became of the domains the registry listed, each counted once."""
    listed, invalid, distinct = int(run.listed or 0), int(run.invalid or 0), int(run.distinct or 0)
    not_due = int(run.skipped_not_due or 0)
    dispatched = max(0, distinct - not_due)
    return {
        "listed": listed,
        "invalid": invalid,
        "merged": max(0, listed - invalid - distinct),
        "distinct": distinct,
        "skipped_not_due": not_due,
        "dispatched": dispatched,
        "checked": tally.checked,
        "refused": tally.refused,
        "dead_lettered": len(tally.dead_domains),
        "not_checked": not_checked(tally, dispatched=dispatched),
        "not_stored": tally.not_stored,
    }


def _unprotected(tally: Tally) -> Unprotected:
    """The domains no provider serves, and the TLDs with the most addresses among them."""
    addresses = tally.unprotected_addresses_by_tld
    by_addresses = sorted(tally.unprotected_by_tld.items(), key=lambda item: (-addresses[item[0]], item[0]))
    return {
        "domains": sum(tally.unprotected_by_tld.values()),
        "addresses": sum(addresses.values()),
        "top_tlds": [
            {"tld": suffix, "domains": domains, "addresses": addresses[suffix]}
            for suffix, domains in by_addresses[:UNPROTECTED_TLDS_SHOWN]
        ],
    }


def run_warnings(
    tally: Tally, counts: ApplyCounts, notices: dict, *, listed: int, dispatched: int
) -> list[str]:
    """What makes a run unusual, in words: a run whose lookups mostly failed must not look
    healthy because it found nothing unsafe."""
    dead, unreported = len(tally.dead_domains), not_checked(tally, dispatched=dispatched)
    failed_notices = notices.get("failed", 0)
    said = [
        (listed == 0, "the registry listed no email domains: nothing was checked"),
        (dead, f"{dead} domains were in shards that went to the dead-letter queue, not checked"),
        (unreported, f"{unreported} domains sent for checking never reported: not checked"),
        (counts.failed, f"{counts.failed} unverify calls failed: those addresses are still verified"),
        (
            counts.errors,
            f"the final step failed on {counts.errors} decisions: still pending, tried again by the next run",
        ),
        (
            counts.unsent,
            f"{counts.unsent} decisions did not fit the final step's time: "
            "pending, sent first by the next run",
        ),
        (
            counts.held,
            f"{counts.held} decisions were held at the moment of sending by the per-decision rules",
        ),
        (
            tally.not_stored,
            f"{tally.not_stored} domains were checked but could not be stored: checked again next run",
        ),
        (
            tally.unknown_streaks,
            f"{tally.unknown_streaks} domains have been unknown on every lookup for days",
        ),
        (failed_notices, f"{failed_notices} early-warning notices failed"),
    ]
    return _lookups_warning(tally) + [warning for due, warning in said if due]


def _lookups_warning(tally: Tally) -> list[str]:
    """Most lookups failed, so that a lapse among them would go unseen. Domains no provider
    serves are unknown by design, not failed lookups: they have their own count (`unprotected`),
    and would make every run with many of them cry wolf."""
    unprotected = sum(tally.unprotected_by_tld.values())
    looked_up = tally.checked - unprotected
    failed = tally.by_lifecycle.get("unknown", 0) - unprotected
    if looked_up >= WARN_UNKNOWN_MIN_CHECKED and failed >= WARN_UNKNOWN_SHARE * looked_up:
        return [
            f"{failed} of {looked_up} domains checked ({failed / looked_up:.0%}) are unknown: "
            "most lookups failed, so a lapse among them would go unseen; look at the providers"
        ]
    return []


def contradiction_warnings(tally: Tally) -> list[str]:
    """A service whose lapses the DNS keeps contradicting is broken or lying."""
    return [
        f"the DNS contradicted {count} lapses reported by {service}: it still delegates them"
        for service, count in sorted(tally.dns_contradicted_by_service.items())
    ]


def settings_warnings(settings: dict[str, Any]) -> list[str]:
    """Settings that weaken the run's evidence, in words."""
    if settings.get("dns_witness") is False:
        return ["the DNS witness is off: lapses were believed on the status provider's word alone"]
    return []
