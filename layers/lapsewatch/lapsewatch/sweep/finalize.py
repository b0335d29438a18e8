"""The final step of a run: weigh its decisions, hold what looks wrong, apply the rest, summarise.

The breaker (`hold_reasons`) stands between the checks and the registry and holds narrowly: a
decision that waits for an operator's approval waits alone or with its group, and the rest of
the run goes ahead. The README's "The circuit breaker" says what waits and why; the constants
below are its thresholds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from lapsewatch.sweep.apply import Applier, ApplyCounts
from lapsewatch.sweep.checking import STREAK_EXAMPLES, place
from lapsewatch.sweep.limits import BreakerLimits
from lapsewatch.sweep.notices import NoticeCounts, Notifier
from lapsewatch.sweep.observability import logger
from lapsewatch.sweep.store import (
    SUMMARY_DOMAINS,
    SUMMARY_GROUP_DOMAINS,
    SUMMARY_GROUPS,
    Decision,
    DecisionState,
    RunRecord,
    RunStatus,
    RunStore,
)
from lapsewatch.timefmt import rfc3339

OUTAGE_MIN_UNSAFE = 3
OUTAGE_SHARE = 0.9
RUN_OUTAGE_SHARE = 0.5
UNPROTECTED_TLDS_SHOWN = 10
# The run-wide share rule applies from this many domains checked.
RUN_OUTAGE_MIN_CHECKED = 10
# A run warns when at least this share of its checks were unknown (from this many checks).
WARN_UNKNOWN_SHARE = 0.5
WARN_UNKNOWN_MIN_CHECKED = 10

__all__ = ["BreakerLimits", "Finalizer", "Tally", "hold_reasons", "summarize"]


def _no_deadline() -> float:
    return float("inf")


class RunStateError(RuntimeError):
    """An operator asked for something the run's state does not allow."""


class NothingMatched(RunStateError):
    """An operator's approve or discard named no run, or no decision, that waits for one."""


@dataclass(slots=True)
class Tally:
    checked: int = 0
    refused: int = 0
    by_lifecycle: Counter = field(default_factory=Counter)
    by_place: Counter = field(default_factory=Counter)
    unsafe_by_place: Counter = field(default_factory=Counter)
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


class Finalizer:
    def __init__(
        self,
        *,
        store: RunStore,
        applier: Applier,
        notifier: Notifier,
        limits: BreakerLimits,
        clock: Callable[[], datetime],
        settings: dict | None = None,
        emit: Callable[[dict], None] = lambda summary: None,
        dry_run: bool = False,
    ) -> None:
        self.store = store
        self.applier = applier
        self.notifier = notifier
        self.limits = limits
        # The settings in force, as each run summary reports them.
        self.settings = settings or {}
        self.clock = clock
        self.emit = emit
        # A stack deployed dry sends nothing, whatever a run's record says.
        self.dry_run = dry_run

    def finish(self, run_id: str, time_left: Callable[[], float] = _no_deadline) -> dict:
        """The final step for a run whose shards are all done; safe to repeat. `time_left`:
        the seconds left before the function's deadline (what does not fit stays pending)."""
        run = self._run(run_id)
        if run.status != RunStatus.FINALIZING:
            return run.summary or self._summary(run, list(self.store.decisions(run_id)), ApplyCounts())
        return self._finish(run, time_left)

    def close(self, run_id: str, time_left: Callable[[], float] = _no_deadline) -> dict:
        """An operator's end to a run stuck waiting for shards (one lost with the invocation that
        held it): finish with the domains checked so far, through the breaker as usual."""
        run = self._run(run_id)
        if run.status != RunStatus.CHECKING:
            raise RunStateError(f"run {run_id} is {run.status}, not waiting for shards: nothing to close")
        if not self.store.transition(run, (RunStatus.CHECKING,), RunStatus.FINALIZING):
            raise RunStateError(f"run {run_id} changed state while closing it; look again")
        return self._finish(run, time_left)

    def approve(
        self,
        run_id: str,
        domains: Collection[str] | None = None,
        by: str | None = None,
        time_left: Callable[[], float] = _no_deadline,
    ) -> dict:
        """Send a held run's held decisions (those for `domains`, or all), each re-checked
        against its domain's latest state. The run stays held while others still wait."""
        run, decisions, chosen = self._held(run_id, domains, "approve")
        if not self.store.transition(run, (RunStatus.HELD,), RunStatus.FINALIZING):
            raise RunStateError(f"run {run_id} changed state while approving it; look again")
        dry_run = self._dry(run)
        for decision in chosen:
            # A dry run's approval sends nothing: its decisions go back to being a record.
            decision.state = DecisionState.RECORDED if dry_run else DecisionState.PENDING
            decision.operator = by
            if not dry_run:
                # By its exact key: what lets it past the per-decision rules when it is sent.
                self.store.record_approval(decision, by)
            self.store.save_decision(decision)
        counts = ApplyCounts() if dry_run else self.applier.apply(chosen, time_left=time_left)
        still_held = any(d.state == DecisionState.HELD for d in decisions)
        status = RunStatus.HELD if still_held else RunStatus.DONE
        return self._settle(run, decisions, ApplyCounts.from_summary(run.summary) + counts, status)

    def discard(self, run_id: str, domains: Collection[str] | None = None, by: str | None = None) -> dict:
        """Drop a held run's held decisions (those for `domains`, or all), recording who and
        when. The run stays held while others still wait; it is discarded when none was sent."""
        run, decisions, chosen = self._held(run_id, domains, "discard")
        now = self.clock()
        for decision in chosen:
            decision.state, decision.settled_at, decision.operator = DecisionState.DISCARDED, now, by
            self.store.save_decision(decision)
        if any(d.state == DecisionState.HELD for d in decisions):
            status = RunStatus.HELD
        elif any(d.operator and d.state != DecisionState.DISCARDED for d in decisions):
            status = RunStatus.DONE  # some of its held decisions were approved earlier
        else:
            status = RunStatus.DISCARDED
        summary = self._summary(run, decisions, ApplyCounts.from_summary(run.summary), status=status)
        changes: dict = {"summary": summary, "held_reason": summary["held_reason"]}
        if status != RunStatus.HELD:
            changes["finished_at"] = now
        if not self.store.transition(run, (RunStatus.HELD,), status, **changes):
            raise RunStateError(f"run {run_id} changed state while discarding it; look again")
        return summary

    def _held(
        self, run_id: str, domains: Collection[str] | None, verb: str
    ) -> tuple[RunRecord, list[Decision], list[Decision]]:
        """The held run, its decisions, and the held ones an operator chose."""
        run = self._run(run_id)
        if run.status != RunStatus.HELD:
            raise NothingMatched(f"run {run_id} is {run.status}, not held: nothing to {verb}")
        decisions = list(self.store.decisions(run_id))
        held = [d for d in decisions if d.state == DecisionState.HELD]
        if domains is None:
            chosen = held
        else:
            named = set(domains)
            chosen = [d for d in held if d.domain in named]
        if not chosen:
            waiting = ", ".join(sorted(d.domain for d in held)) or "none"
            raise NothingMatched(
                f"no held decision of run {run_id} for {', '.join(sorted(domains or []))}; held: {waiting}"
            )
        return run, decisions, chosen

    def _finish(self, run: RunRecord, time_left: Callable[[], float]) -> dict:
        decisions = list(self.store.decisions(run.run_id))
        tally = self._tally(run.run_id, decisions)
        recorded = [d for d in decisions if d.state == DecisionState.RECORDED]
        dry_run = self._dry(run)
        # Weighed with those an earlier attempt of this step held already: a retry after a
        # timeout holds what the first attempt would have.
        weighed = recorded + [d for d in decisions if d.state == DecisionState.HELD and not d.operator]
        unplanned = set()
        for decision, addresses in zip(weighed, self.store.planned_addresses(weighed), strict=True):
            if addresses is None:
                unplanned.add(decision.domain)
            else:
                decision.addresses = addresses
        held = hold_reasons(tally, weighed, self.limits, unplanned=unplanned)
        queued = []
        errors = ApplyCounts()
        for decision in recorded:
            if decision.domain in held:
                decision.state, decision.hold_reason = DecisionState.HELD, held[decision.domain]
            elif not dry_run:
                decision.state = DecisionState.PENDING
                queued.append(decision)
            else:
                continue
            try:
                self.store.save_decision(decision)
            except Exception:
                # Counted, and the rest go on: one decision never stops the final step.
                logger.exception("could not record a decision's outcome", extra={"domain": decision.domain})
                errors.errors += 1

        counts = errors
        if not dry_run:
            counts += self.applier.apply(self._outstanding(queued), time_left=time_left)
        notices = NoticeCounts() if dry_run else self.notifier.send(run.run_id)
        # Held by the breaker, or at the moment of sending by the per-decision rules.
        status = RunStatus.HELD if any(d.state == DecisionState.HELD for d in decisions) else RunStatus.DONE
        return self._settle(run, decisions, counts, status, tally, notices)

    def _settle(
        self,
        run: RunRecord,
        decisions: list[Decision],
        counts: ApplyCounts,
        status: str,
        tally: Tally | None = None,
        notices: NoticeCounts | None = None,
    ) -> dict:
        summary = self._summary(run, decisions, counts, status=status, tally=tally, notices=notices)
        changes = {"summary": summary, "held_reason": summary["held_reason"]}
        if status != RunStatus.HELD:
            changes["finished_at"] = self.clock()
        self.store.transition(run, (RunStatus.FINALIZING,), status, **changes)
        self.emit(summary)
        return summary

    def _outstanding(self, queued: list[Decision]) -> list[Decision]:
        """This run's queued decisions and every earlier one still pending, each once, oldest first."""
        mine = {(d.pk, d.sk): d for d in queued}
        earlier = [d for d in self.store.outstanding() if (d.pk, d.sk) not in mine]
        return sorted([*earlier, *queued], key=lambda d: d.decided_at)

    def _summary(
        self,
        run: RunRecord,
        decisions: list[Decision],
        counts: ApplyCounts,
        *,
        status: str | None = None,
        tally: Tally | None = None,
        notices: NoticeCounts | None = None,
    ) -> dict:
        tally = tally or self._tally(run.run_id, decisions)
        # An approval or a discard keeps the notices its run's final step sent.
        notices_sent = (
            notices.to_dict() if notices else (run.summary or {}).get("notices") or NoticeCounts().to_dict()
        )
        return summarize(run, tally, decisions, counts, self.settings, status=status, notices=notices_sent)

    def _dry(self, run: RunRecord) -> bool:
        """Whether `run` sends nothing: its record says so, or the stack is deployed dry. The
        record is marked dry too (not saved), so that the run's summary says what happened."""
        run.dry_run = bool(run.dry_run) or self.dry_run
        return run.dry_run

    def _run(self, run_id: str) -> RunRecord:
        run = self.store.get_run(run_id)
        if run is None:
            raise NothingMatched(f"no run {run_id}")
        return run

    def _tally(self, run_id: str, decisions: Iterable[Decision] | None = None) -> Tally:
        tally = Tally()
        for shard in self.store.shards(run_id):
            if shard.outcome == "dead":
                # Its domains not checked; what it checked before it died is counted below.
                tally.dead_domains.extend(str(domain) for domain in shard.domains or [])
            tally.checked += int(shard.checked or 0)
            tally.refused += int(shard.refused or 0)
            tally.not_stored += int(shard.not_stored or 0)
            tally.by_lifecycle.update(_counts(shard.by_lifecycle))
            tally.by_place.update(_counts(shard.by_place))
            tally.unsafe_by_place.update(_counts(shard.unsafe_by_place))
            tally.dns_contradicted_by_service.update(_counts(shard.dns_contradicted_by_service))
            tally.unprotected_by_tld.update(_counts(shard.unprotected_by_tld))
            tally.unprotected_addresses_by_tld.update(_counts(shard.unprotected_addresses_by_tld))
            tally.unknown_streaks += int(shard.unknown_streaks or 0)
            tally.unknown_streak_examples.extend(str(d) for d in shard.unknown_streak_examples or [])
            tally.counted_unsafe.update(str(d) for d in shard.unsafe_domains or [])
        # A decision counts in the breaker's places whatever became of its shard: one that no
        # shard's counts hold (its shard died before recording the domain, or never reported)
        # is counted here, as checked and unsafe in its place.
        for decision in decisions if decisions is not None else self.store.decisions(run_id):
            if decision.run_id != run_id or decision.domain in tally.counted_unsafe:
                continue
            tally.counted_unsafe.add(decision.domain)
            tally.checked += 1
            tally.by_lifecycle[str(decision.lifecycle)] += 1
            if where := place(decision.domain, decision.service):
                tally.by_place[where] += 1
                tally.unsafe_by_place[where] += 1
        tally.dead_domains = [d for d in tally.dead_domains if d not in tally.counted_unsafe]
        return tally


def _counts(attribute) -> dict[str, int]:
    data = attribute.as_dict() if hasattr(attribute, "as_dict") else dict(attribute or {})
    return {key: int(value) for key, value in data.items()}


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
            "not_checked": max(0, dispatched - tally.checked - tally.refused - len(tally.dead_domains)),
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
        # Lapses a status service reported that the DNS contradicted, per service.
        "dns_contradictions": dict(sorted(tally.dns_contradicted_by_service.items())),
        "started_at": rfc3339(run.created_at),
        "warnings": run_warnings(tally, counts, notices or {}, listed=listed, dispatched=dispatched)
        + settings_warnings(settings)
        + contradiction_warnings(tally),
    }


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


def run_warnings(
    tally: Tally, counts: ApplyCounts, notices: dict, *, listed: int, dispatched: int
) -> list[str]:
    """What makes a run unusual, in words: a run whose lookups mostly failed must not look
    healthy because it found nothing unsafe."""
    warnings = []
    unknown = tally.by_lifecycle.get("unknown", 0)
    if tally.checked >= WARN_UNKNOWN_MIN_CHECKED and unknown >= WARN_UNKNOWN_SHARE * tally.checked:
        warnings.append(
            f"{unknown} of {tally.checked} domains checked ({unknown / tally.checked:.0%}) are unknown: "
            "most lookups failed, so a lapse among them would go unseen; look at the providers"
        )
    if listed == 0:
        warnings.append("the registry listed no email domains: nothing was checked")
    if tally.dead_domains:
        warnings.append(
            f"{len(tally.dead_domains)} domains were in shards that went to the dead-letter queue, "
            "not checked"
        )
    not_checked = dispatched - tally.checked - tally.refused - len(tally.dead_domains)
    if not_checked > 0:
        warnings.append(f"{not_checked} domains sent for checking never reported: not checked")
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
