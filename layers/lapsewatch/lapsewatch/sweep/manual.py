"""An operator's check of one domain or address, outside the daily run.

`"apply": true` obeys the breaker as a run's decisions do: a protected domain, or one with more
than MaxAddressesPerDomain verified addresses (counted from the registry's listing, as the
dispatcher counts them), is held unless the event says `"force": true`, and a forced unverify
says so in its evidence. A stack deployed dry sends nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from lapsewatch.check import DomainChecker
from lapsewatch.domains import InvalidDomain, registrable_domain
from lapsewatch.registry import RegistryClient, RegistryError
from lapsewatch.registry.contract import MAX_LIMIT
from lapsewatch.sweep.apply import Applier
from lapsewatch.sweep.breaker import BreakerLimits
from lapsewatch.sweep.events import parse_manual_event
from lapsewatch.sweep.findings import decision_for, updated_state
from lapsewatch.sweep.messages import PlannedDomain
from lapsewatch.sweep.records import Decision, DecisionState
from lapsewatch.sweep.store import RunStore

MANUAL_RUN = "manual"

log = logging.getLogger(__name__)


class ManualCheck:
    def __init__(
        self,
        *,
        checker: DomainChecker,
        store: RunStore,
        applier: Applier,
        registry: Callable[[], RegistryClient],
        limits: BreakerLimits,
        clock: Callable[[], datetime],
        max_listing_pages: int,
        dry_run: bool = False,
    ) -> None:
        self.checker = checker
        self.store = store
        self.applier = applier
        self._registry = registry
        self.limits = limits
        self.clock = clock
        self.max_listing_pages = max_listing_pages
        self.dry_run = dry_run

    def handle(self, event: dict) -> dict:
        """`{"domain": …}` or `{"email": …}`, optional `verified_at`, `apply` and `force`.
        Returns the object `lapsewatch check --json` prints, plus `unverify` when asked to apply."""
        manual = parse_manual_event(event)
        result = self.checker.check(manual.target, manual.verified_at)
        response = result.to_dict()
        if result.domain is None:
            return response

        now = self.clock()
        planned = PlannedDomain(result.domain, manual.verified_at)
        state = self.store.domain_state(result.domain)
        # The observation is recorded without claiming a place in any run: the run in progress,
        # if there is one, still checks this domain itself.
        run_id = state.last_run_id if state else None
        shard = int(state.last_shard) if state and state.last_shard is not None else None
        self.store.save_domain_state(
            updated_state(state, planned, result, now, unsafe=self.checker.unsafe, run_id=run_id, shard=shard)
        )
        if manual.apply and result.unsafe:
            decision = decision_for(MANUAL_RUN, planned, result, now)
            response["unverify"] = self._unverify(decision, force=manual.force)
        return response

    def _unverify(self, decision: Decision, *, force: bool) -> dict:
        decision.evidence = {**decision.evidence, "trigger": "manual"}
        reason = self._hold_reason(decision)
        if reason and not force:
            decision.state, decision.hold_reason = DecisionState.HELD, reason
            self.store.record_decision(decision)
            return {
                "held": True,
                "reason": f'{reason}; send "force": true with "apply" to unverify it all the same',
                "addresses": int(decision.addresses or 0),
                "emails_unverified": 0,
                "pending": False,
            }
        if reason:
            log.warning(
                "manual unverify forced past the breaker",
                extra={"domain": decision.domain, "held_for": reason},
            )
            decision.hold_reason = reason
            decision.evidence = {**decision.evidence, "forced": True, "held_for": reason}
        if self.dry_run:
            self.store.record_decision(decision)
            return {"dry_run": True, "emails_unverified": 0, "pending": False, "forced": bool(reason)}
        # An operator's own request, weighed above (or forced past the rules, recorded as such):
        # approved by its exact key, so that the rules at the moment of sending, which know no
        # dispatcher's count for a manual check, let it through.
        self.store.record_approval(decision, "manual entry")
        # Recorded as pending first: a call that fails is made again by the next run's final step.
        decision.state = DecisionState.PENDING
        self.store.record_decision(decision)
        self.applier.apply([decision])
        answer: dict[str, object] = {
            "emails_unverified": int(decision.emails_unverified or 0),
            "replayed": bool(decision.replayed),
            "pending": decision.state == DecisionState.PENDING,
            "forced": bool(reason),
        }
        if decision.error:
            answer["error"] = decision.error
        return answer

    def _hold_reason(self, decision: Decision) -> str | None:
        """The breaker's per-domain rules, on the addresses the registry lists at the domain now.
        A count that cannot be had is doubt: held."""
        try:
            decision.addresses = self._addresses_at(decision.domain)
        except RegistryError as exc:
            return f"could not count the verified addresses at {decision.domain}: {exc}"
        return self.limits.domain_reason(decision.domain, decision.addresses)

    def _addresses_at(self, domain: str) -> int:
        """The verified addresses under `domain`, summed over the email domains of the registry's
        listing that reduce to it (subdomains included, as unverify's include_subdomains)."""
        total = 0
        for page in self._registry().pages(MAX_LIMIT, max_pages=self.max_listing_pages):
            for item in page.items:
                try:
                    if registrable_domain(item.domain) == domain:
                        total += item.verified_emails
                except InvalidDomain:
                    continue
        return total
