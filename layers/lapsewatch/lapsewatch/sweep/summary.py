"""The run summary (what `lapsewatch run --json` prints and the dashboard charts) and its
warnings: a run whose lookups mostly failed must not look healthy because it found nothing."""

from __future__ import annotations

from lapsewatch.sweep.apply import ApplyCounts
from lapsewatch.sweep.breaker import Tally
from lapsewatch.sweep.checking import STREAK_EXAMPLES
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


def not_checked(tally: Tally, *, dispatched: int) -> int:
    """Domains sent for checking that no shard reported: a run closed before they did."""
    return max(0, dispatched - tally.checked - tally.refused - len(tally.dead_domains))


def summarize(
    run: RunRecord,
    tally: Tally,
    decisions: list[Decision],
    counts: ApplyCounts,
    settings: dict,
    *,
    status: str | None = None,
    notices: dict | None = None,
) -> dict:
    """The run summary: what `lapsewatch run --json` prints and the dashboard charts."""
    status = status or run.status
    invalid_reasons = run.invalid_reasons.as_dict() if run.invalid_reasons else {}
    listed, invalid, distinct = int(run.listed or 0), int(run.invalid or 0), int(run.distinct or 0)
    not_due = int(run.skipped_not_due or 0)
    dispatched = max(0, distinct - not_due)
    groups: dict[str, list[str]] = {}
    for decision in sorted(decisions, key=lambda d: d.domain):
        if decision.state == DecisionState.HELD:
            groups.setdefault(decision.hold_reason or "held", []).append(decision.domain)
    held = sorted(domain for domains in groups.values() for domain in domains)
    unsafe = sorted(d.domain for d in decisions)
    reasons = list(groups)[:SUMMARY_GROUPS]
    if len(groups) > SUMMARY_GROUPS:
        reasons.append(f"and {len(groups) - SUMMARY_GROUPS} more reasons (lapsewatch runs show)")
    return {
        "run_id": run.run_id,
        "status": status,
        "dry_run": bool(run.dry_run),
        "held": bool(groups),
        "held_domains": held[:SUMMARY_DOMAINS],
        "held_count": len(held),
        "held_reason": "; ".join(reasons) or None,
        "held_groups": [
            {"reason": reason, "count": len(domains), "domains": domains[:SUMMARY_GROUP_DOMAINS]}
            for reason, domains in list(groups.items())[:SUMMARY_GROUPS]
        ],
        # listed = invalid + merged + distinct; distinct = skipped_not_due + dispatched;
        # dispatched = checked + refused + dead_lettered + not_checked.
        "domains": {
            "listed": listed,
            "invalid": invalid,
            # Email domains that reduce to a registrable domain listed already (subdomains).
            "merged": max(0, listed - invalid - distinct),
            "distinct": distinct,
            "skipped_not_due": not_due,
            "dispatched": dispatched,
            "checked": tally.checked,
            "refused": tally.refused,
            "dead_lettered": len(tally.dead_domains),
            # In shards that never reported: a run closed by an operator before they did.
            "not_checked": not_checked(tally, dispatched=dispatched),
            # Of the checked: their state could not be stored; checked again by the next run.
            "not_stored": tally.not_stored,
        },
        "invalid_reasons": {key: int(value) for key, value in invalid_reasons.items()},
        "by_lifecycle": dict(sorted(tally.by_lifecycle.items())),
        "unprotected": {
            "domains": sum(tally.unprotected_by_tld.values()),
            "addresses": sum(tally.unprotected_addresses_by_tld.values()),
            "top_tlds": [
                {"tld": suffix, "domains": domains, "addresses": tally.unprotected_addresses_by_tld[suffix]}
                for suffix, domains in sorted(
                    tally.unprotected_by_tld.items(),
                    key=lambda item: (-tally.unprotected_addresses_by_tld[item[0]], item[0]),
                )[:UNPROTECTED_TLDS_SHOWN]
            ],
        },
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
        # Lapses a status service reported that the DNS contradicted, per service.
        "dns_contradictions": dict(sorted(tally.dns_contradicted_by_service.items())),
        "warnings": run_warnings(tally, counts, notices or {}, listed=listed, dispatched=dispatched)
        + settings_warnings(settings)
        + contradiction_warnings(tally),
    }


def run_warnings(
    tally: Tally, counts: ApplyCounts, notices: dict, *, listed: int, dispatched: int
) -> list[str]:
    """What makes a run unusual, in words: a run whose lookups mostly failed must not look
    healthy because it found nothing unsafe."""
    warnings = []
    # Domains no provider serves are unknown by design, not failed lookups: they have their own
    # count (`unprotected`), and would make every run with many of them cry wolf.
    unprotected = sum(tally.unprotected_by_tld.values())
    looked_up = tally.checked - unprotected
    failed = tally.by_lifecycle.get("unknown", 0) - unprotected
    if looked_up >= WARN_UNKNOWN_MIN_CHECKED and failed >= WARN_UNKNOWN_SHARE * looked_up:
        warnings.append(
            f"{failed} of {looked_up} domains checked ({failed / looked_up:.0%}) are unknown: "
            "most lookups failed, so a lapse among them would go unseen; look at the providers"
        )
    if listed == 0:
        warnings.append("the registry listed no email domains: nothing was checked")
    if tally.dead_domains:
        warnings.append(
            f"{len(tally.dead_domains)} domains were in shards that went to the dead-letter queue, "
            "not checked"
        )
    if unreported := not_checked(tally, dispatched=dispatched):
        warnings.append(f"{unreported} domains sent for checking never reported: not checked")
    if counts.failed:
        warnings.append(f"{counts.failed} unverify calls failed: those addresses are still verified")
    if counts.errors:
        warnings.append(
            f"the final step failed on {counts.errors} decisions: still pending, tried again by the next run"
        )
    if counts.unsent:
        warnings.append(
            f"{counts.unsent} decisions did not fit the final step's time: "
            "pending, sent first by the next run"
        )
    if counts.held:
        warnings.append(
            f"{counts.held} decisions were held at the moment of sending by the per-decision rules"
        )
    if tally.not_stored:
        warnings.append(
            f"{tally.not_stored} domains were checked but could not be stored: checked again next run"
        )
    if tally.unknown_streaks:
        warnings.append(f"{tally.unknown_streaks} domains have been unknown on every lookup for days")
    if notices.get("failed"):
        warnings.append(f"{notices['failed']} early-warning notices failed")
    return warnings


def contradiction_warnings(tally: Tally) -> list[str]:
    """A service whose lapses the DNS keeps contradicting is broken or lying."""
    return [
        f"the DNS contradicted {count} lapses reported by {service}: it still delegates them"
        for service, count in sorted(tally.dns_contradicted_by_service.items())
    ]


def settings_warnings(settings: dict) -> list[str]:
    """Settings that weaken the run's evidence, in words."""
    if settings.get("dns_witness") is False:
        return ["the DNS witness is off: lapses were believed on the status provider's word alone"]
    return []
