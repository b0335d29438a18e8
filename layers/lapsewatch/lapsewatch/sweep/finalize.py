"""The final step of a run: decide whether it may act, have the registry unverify, summarise.

The circuit breaker stands between the checks and the registry. A run unverifies nothing, and
is held until an operator approves or discards it, when it finds more unsafe domains than
`max(max_unverify, max_unverify_fraction x checked)`, or when the unsafe look like an outage
rather than lapses even below that limit: half or more of all the domains it checked, or 90%
of one TLD's. Real lapses trickle in (a few in a thousand); a flood means a registry answering
404 for everything, and must never unverify a whole TLD.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from lapsewatch.registry import (
    IdempotencyConflict,
    RegistryClient,
    RegistryError,
    UnverifyRequest,
    UnverifyResult,
)
from lapsewatch.sweep.store import Decision, RunRecord, RunStore
from lapsewatch.timefmt import rfc3339

# The outage guards apply from this many domains checked (in the run, or of one TLD)...
OUTAGE_GUARD_MIN_CHECKED = 10
# ...when at least this share of all of them, or of one TLD's, came back unsafe.
RUN_OUTAGE_SHARE = 0.5
TLD_OUTAGE_SHARE = 0.9


class RunStateError(RuntimeError):
    """An operator asked for something the run's state does not allow."""


@dataclass(frozen=True, slots=True)
class BreakerLimits:
    max_unverify: int = 50
    max_unverify_fraction: float = 0.01

    def limit(self, checked: int) -> int:
        return max(self.max_unverify, math.floor(self.max_unverify_fraction * checked))


@dataclass(slots=True)
class Tally:
    checked: int = 0
    by_lifecycle: Counter = field(default_factory=Counter)
    by_tld: Counter = field(default_factory=Counter)
    unsafe_by_tld: Counter = field(default_factory=Counter)
    dead_domains: list[str] = field(default_factory=list)


def hold_reason(tally: Tally, unsafe_count: int, limits: BreakerLimits) -> str | None:
    limit = limits.limit(tally.checked)
    if unsafe_count > limit:
        return (
            f"{unsafe_count} unsafe domains is more than the limit of {limit} "
            f"(max({limits.max_unverify}, {limits.max_unverify_fraction:g} x {tally.checked} checked))"
        )
    if tally.checked >= OUTAGE_GUARD_MIN_CHECKED and unsafe_count >= RUN_OUTAGE_SHARE * tally.checked:
        return (
            f"{unsafe_count} of the {tally.checked} domains checked came back unsafe: "
            "that looks like an outage, not lapses"
        )
    for suffix, checked in sorted(tally.by_tld.items()):
        unsafe = tally.unsafe_by_tld.get(suffix, 0)
        if checked >= OUTAGE_GUARD_MIN_CHECKED and unsafe >= TLD_OUTAGE_SHARE * checked:
            return (
                f"{unsafe} of the {checked} .{suffix} domains checked came back unsafe: "
                f"that looks like an outage at the .{suffix} registry, not lapses"
            )
    return None


class Finalizer:
    def __init__(
        self,
        *,
        store: RunStore,
        registry: Callable[[], RegistryClient],
        limits: BreakerLimits,
        clock: Callable[[], datetime],
        emit: Callable[[dict], None] = lambda summary: None,
    ) -> None:
        self.store = store
        # The registry client is built on first use: a held or dry run never needs its token.
        self._registry_factory = registry
        self._registry: RegistryClient | None = None
        self.limits = limits
        self.clock = clock
        self.emit = emit

    @property
    def registry(self) -> RegistryClient:
        if self._registry is None:
            self._registry = self._registry_factory()
        return self._registry

    def finish(self, run_id: str) -> dict:
        """The final step for a run whose shards are all done; safe to repeat."""
        run = self._run(run_id)
        if run.status != "finalizing":
            return run.summary or summarize(run, self._tally(run_id), [], _zero())
        return self._finish(run, approved=False)

    def close(self, run_id: str) -> dict:
        """An operator's end to a run stuck waiting for shards (one lost with the invocation that
        held it): finish with the domains checked so far, through the breaker as usual."""
        run = self._run(run_id)
        if run.status != "checking":
            raise RunStateError(f"run {run_id} is {run.status}, not waiting for shards: nothing to close")
        if not self.store.transition(run, ("checking",), "finalizing"):
            raise RunStateError(f"run {run_id} changed state while closing it; look again")
        return self._finish(run, approved=False)

    def approve(self, run_id: str) -> dict:
        run = self._run(run_id)
        if run.status != "held":
            raise RunStateError(f"run {run_id} is {run.status}, not held: nothing to approve")
        if not self.store.transition(run, ("held",), "finalizing", held_reason=None):
            raise RunStateError(f"run {run_id} changed state while approving it; look again")
        return self._finish(run, approved=True)

    def discard(self, run_id: str) -> dict:
        run = self._run(run_id)
        if run.status != "held":
            raise RunStateError(f"run {run_id} is {run.status}, not held: nothing to discard")
        decisions = list(self.store.decisions(run_id))
        for decision in decisions:
            decision.state = "discarded"
            self.store.save_decision(decision)
        summary = summarize(run, self._tally(run_id), decisions, _zero(), status="discarded")
        if not self.store.transition(run, ("held",), "discarded", finished_at=self.clock(), summary=summary):
            raise RunStateError(f"run {run_id} changed state while discarding it; look again")
        return summary

    def _finish(self, run: RunRecord, *, approved: bool) -> dict:
        tally = self._tally(run.run_id)
        decisions = list(self.store.decisions(run.run_id))
        if not approved:
            reason = hold_reason(tally, len(decisions), self.limits)
            if reason:
                summary = summarize(run, tally, decisions, _zero(), status="held", held_reason=reason)
                self.store.transition(run, ("finalizing",), "held", held_reason=reason, summary=summary)
                self.emit(summary)
                return summary

        unverify = _zero()
        if not run.dry_run:
            unverify = self._apply(decisions)
        status = "done"
        summary = summarize(run, tally, decisions, unverify, status=status)
        self.store.transition(run, ("finalizing",), status, finished_at=self.clock(), summary=summary)
        self.emit(summary)
        return summary

    def _apply(self, decisions: list[Decision]) -> dict:
        """Queue this run's decisions with those still pending from earlier runs, and make the
        calls. A call that fails stays pending for the next run: never dropped."""
        for decision in decisions:
            if decision.state == "recorded":
                self.store.add_pending(decision)
                decision.state = "pending"
                self.store.save_decision(decision)
        by_key = {(d.domain, d.idempotency_key): d for d in decisions}
        counts = _zero()
        for pending in list(self.store.pending()):
            counts["requested"] += 1
            pending.attempts = (pending.attempts or 0) + 1
            request = UnverifyRequest(
                domain=pending.domain,
                reason=pending.lifecycle,
                evidence=pending.evidence,
                include_subdomains=True,
                verified_before=pending.verified_before,
            )
            try:
                result = self.registry.unverify(request, pending.idempotency_key)
            except IdempotencyConflict:
                # The registry has this decision under its key already, with the evidence of an
                # earlier check: it was applied then. Nothing new to do.
                result = UnverifyResult(unverified=0, replayed=True)
            except RegistryError as exc:
                counts["failed"] += 1
                pending.error = str(exc)
                self.store.save_decision(pending)
                continue
            counts["emails_unverified"] += result.unverified
            self.store.remove_pending(pending)
            own = by_key.get((pending.domain, pending.idempotency_key))
            if own is not None:
                own.state = "applied"
                own.emails_unverified = result.unverified
                own.replayed = result.replayed
                own.attempts = pending.attempts
                self.store.save_decision(own)
        return counts

    def _run(self, run_id: str) -> RunRecord:
        run = self.store.get_run(run_id)
        if run is None:
            raise RunStateError(f"no run {run_id}")
        return run

    def _tally(self, run_id: str) -> Tally:
        tally = Tally()
        for shard in self.store.shards(run_id):
            if shard.outcome == "dead":
                tally.dead_domains.extend(str(domain) for domain in shard.domains or [])
                continue
            tally.checked += int(shard.checked or 0)
            tally.by_lifecycle.update(_counts(shard.by_lifecycle))
            tally.by_tld.update(_counts(shard.by_tld))
            tally.unsafe_by_tld.update(_counts(shard.unsafe_by_tld))
        return tally


def _counts(attribute) -> dict[str, int]:
    data = attribute.as_dict() if hasattr(attribute, "as_dict") else dict(attribute or {})
    return {key: int(value) for key, value in data.items()}


def _zero() -> dict:
    return {"requested": 0, "emails_unverified": 0, "failed": 0}


def summarize(
    run: RunRecord,
    tally: Tally,
    decisions: list[Decision],
    unverify: dict,
    *,
    status: str | None = None,
    held_reason: str | None = None,
) -> dict:
    """The run summary: what `lapsewatch run --json` prints and the dashboard charts."""
    status = status or run.status
    invalid_reasons = run.invalid_reasons.as_dict() if run.invalid_reasons else {}
    return {
        "run_id": run.run_id,
        "status": status,
        "dry_run": bool(run.dry_run),
        "held": status == "held",
        "held_reason": held_reason if status == "held" else None,
        "domains": {
            "listed": int(run.listed or 0),
            "invalid": int(run.invalid or 0),
            "distinct": int(run.distinct or 0),
            "skipped_not_due": int(run.skipped_not_due or 0),
            "checked": tally.checked,
            "dead_lettered": len(tally.dead_domains),
        },
        "invalid_reasons": {key: int(value) for key, value in invalid_reasons.items()},
        "by_lifecycle": dict(sorted(tally.by_lifecycle.items())),
        "unsafe": sorted(d.domain for d in decisions),
        "unverify": dict(unverify),
        "shards": {
            "count": int(run.shard_count or 0),
            "done": int(run.shards_done or 0),
            "dead": int(run.shards_dead or 0),
        },
        "started_at": rfc3339(run.created_at),
    }
