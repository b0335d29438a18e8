"""The final step of a run: weigh its decisions with the breaker (`lapsewatch.sweep.breaker`),
hold what looks wrong, apply the rest, and store its summary (`lapsewatch.sweep.summary`)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from datetime import datetime
from typing import Any

from lapsewatch.sweep.apply import Applier, ApplyCounts
from lapsewatch.sweep.breaker import BreakerLimits, Tally, hold_reasons, place
from lapsewatch.sweep.notices import NoticeCounts, Notifier
from lapsewatch.sweep.observability import logger
from lapsewatch.sweep.records import Decision, DecisionState, RunRecord, RunStatus
from lapsewatch.sweep.store import RunStore
from lapsewatch.sweep.summary import RunSummary, summarize


def _no_deadline() -> float:
    return float("inf")


class RunStateError(RuntimeError):
    """An operator asked for something the run's state does not allow."""


class NothingMatched(RunStateError):
    """An operator's approve or discard named no run, or no decision, that waits for one."""


class Finalizer:
    def __init__(
        self,
        *,
        store: RunStore,
        applier: Applier,
        notifier: Notifier,
        limits: BreakerLimits,
        clock: Callable[[], datetime],
        settings: dict[str, Any] | None = None,
        emit: Callable[[RunSummary], None] = lambda summary: None,
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

    def finish(self, run_id: str, time_left: Callable[[], float] = _no_deadline) -> RunSummary:
        """The final step for a run whose shards are all done; safe to repeat. `time_left`:
        the seconds left before the function's deadline (what does not fit stays pending)."""
        run = self._run(run_id)
        if run.status != RunStatus.FINALIZING:
            return run.summary or self._summary(run, list(self.store.decisions(run_id)), ApplyCounts())
        return self._finish(run, time_left)

    def close(self, run_id: str, time_left: Callable[[], float] = _no_deadline) -> RunSummary:
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
    ) -> RunSummary:
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

    def discard(
        self, run_id: str, domains: Collection[str] | None = None, by: str | None = None
    ) -> RunSummary:
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

    def _finish(self, run: RunRecord, time_left: Callable[[], float]) -> RunSummary:
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
    ) -> RunSummary:
        summary = self._summary(run, decisions, counts, status=status, tally=tally, notices=notices)
        changes: dict = {"summary": summary, "held_reason": summary["held_reason"]}
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
    ) -> RunSummary:
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
