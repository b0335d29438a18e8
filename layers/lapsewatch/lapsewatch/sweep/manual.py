"""An operator's check of one domain or address, outside the daily run."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from lapsewatch.check import DomainChecker
from lapsewatch.sweep.apply import Applier
from lapsewatch.sweep.checking import decision_for, updated_state
from lapsewatch.sweep.events import parse_manual_event
from lapsewatch.sweep.messages import PlannedDomain
from lapsewatch.sweep.store import DecisionState, RunStore

MANUAL_RUN = "manual"


class ManualCheck:
    def __init__(
        self,
        *,
        checker: DomainChecker,
        store: RunStore,
        applier: Applier,
        clock: Callable[[], datetime],
    ) -> None:
        self.checker = checker
        self.store = store
        self.applier = applier
        self.clock = clock

    def handle(self, event: dict) -> dict:
        """`{"domain": …}` or `{"email": …}`, optional `verified_at` and `apply`. Returns the
        object `lapsewatch check --json` prints, plus `unverify` when asked to apply."""
        target, verified_at, apply = parse_manual_event(event)
        result = self.checker.check(target, verified_at)
        response = result.to_dict()
        if result.domain is None:
            return response

        now = self.clock()
        planned = PlannedDomain(result.domain, verified_at)
        state = self.store.domain_state(result.domain)
        # The observation is recorded without claiming a place in any run: the run in progress,
        # if there is one, still checks this domain itself.
        run_id = state.last_run_id if state else None
        shard = int(state.last_shard) if state and state.last_shard is not None else None
        self.store.save_domain_state(
            updated_state(state, planned, result, now, unsafe=self.checker.unsafe, run_id=run_id, shard=shard)
        )
        if apply and result.unsafe:
            response["unverify"] = self._unverify(decision_for(MANUAL_RUN, planned, result, now))
        return response

    def _unverify(self, decision) -> dict:
        decision.evidence = {**decision.evidence, "trigger": "manual"}
        # Recorded as pending first: a call that fails is made again by the next run's final step.
        decision.state = DecisionState.PENDING
        self.store.record_decision(decision)
        self.applier.apply([decision])
        answer = {
            "emails_unverified": int(decision.emails_unverified or 0),
            "replayed": bool(decision.replayed),
            "pending": decision.state == DecisionState.PENDING,
        }
        if decision.error:
            answer["error"] = decision.error
        return answer
