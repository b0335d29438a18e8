"""Applying decisions: the one way an unverify call goes out, for the final step, approvals and
the manual entry alike.

A decision can go stale between the check that made it and the call: the registry may have
failed yesterday's call, or an operator may approve a held run days later, and meanwhile the
holder renewed. So before any call, the decision is weighed against the domain's latest
observation, and against a fresh lookup once it is older than `recheck_after`, then against the
per-decision rules (`_withheld_by_rules`), whichever run or item it came from:

- still unsafe, with no registration since the decision: the call goes out, unless
- its domain is protected, or has more addresses than MaxAddressesPerDomain by the dispatcher's
  count (or no count at all): held for an operator, unless one approved it by its exact key;
- it would take the step past MaxAddressesPerRun addresses: deferred to the next run;
- safe again, or registered anew since (a new holder's decision covers that): cancelled, with
  the reason;
- the latest lookup could not tell: deferred, the decision stays pending for the next run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import astuple, dataclass
from datetime import datetime, timedelta

from lapsewatch.check import DomainChecker
from lapsewatch.lifecycle import Lifecycle
from lapsewatch.registry import IdempotencyConflict, RegistryClient, RegistryError, UnverifyRequest
from lapsewatch.sweep.breaker import BreakerLimits
from lapsewatch.sweep.findings import updated_state
from lapsewatch.sweep.messages import PlannedDomain
from lapsewatch.sweep.observability import logger
from lapsewatch.sweep.records import Decision, DecisionState
from lapsewatch.sweep.store import RunStore
from lapsewatch.timefmt import parse_time_or_none, rfc3339


class _Budget:
    """What one final step may still unverify without an operator (MaxAddressesPerRun), and
    the records it weighs addresses by."""

    def __init__(self, limit: int) -> None:
        self.left = limit
        # The dispatcher's shard plans read so far: one read serves a whole shard's decisions.
        self.plans: dict[tuple[str, int], dict] = {}

    def fits(self, addresses: int) -> bool:
        return addresses <= self.left

    def spend(self, addresses: int) -> None:
        self.left -= addresses


@dataclass(slots=True)
class ApplyCounts:
    """What became of the decisions weighed: the calls made (a run summary's `unverify`), and
    the decisions held back at the moment of sending (its `withheld`)."""

    requested: int = 0
    emails_unverified: int = 0
    failed: int = 0
    # Withheld: the domain recovered (or was registered anew), the latest lookup could not tell
    # (or the run's address budget was spent), a later decision about the domain replaced it,
    # the per-decision rules hold it for an operator, the final step's time ran out before it,
    # or the final step failed on it (still pending, for the next run).
    cancelled: int = 0
    deferred: int = 0
    superseded: int = 0
    held: int = 0
    unsent: int = 0
    errors: int = 0

    def unverify(self) -> dict[str, int]:
        return {
            "requested": self.requested,
            "emails_unverified": self.emails_unverified,
            "failed": self.failed,
        }

    def withheld(self) -> dict[str, int]:
        return {
            "cancelled": self.cancelled,
            "deferred": self.deferred,
            "superseded": self.superseded,
            "held": self.held,
            "unsent": self.unsent,
            "errors": self.errors,
        }

    @classmethod
    def from_summary(cls, summary: dict | None) -> ApplyCounts:
        summary = summary or {}
        return cls(**summary.get("unverify", {}), **summary.get("withheld", {}))

    def __add__(self, other: ApplyCounts) -> ApplyCounts:
        return ApplyCounts(
            *(mine + theirs for mine, theirs in zip(astuple(self), astuple(other), strict=True))
        )


@dataclass(frozen=True, slots=True)
class _Latest:
    """What the domain looks like now, as far as lapsewatch knows."""

    lifecycle: Lifecycle
    registered_at: datetime | None
    checked_at: datetime | None


def _no_deadline() -> float:
    return float("inf")


class Applier:
    def __init__(
        self,
        *,
        store: RunStore,
        registry: Callable[[], RegistryClient],
        checker: DomainChecker,
        clock: Callable[[], datetime],
        recheck_after: timedelta,
        limits: BreakerLimits,
        reserve_seconds: float = 0.0,
    ) -> None:
        self.store = store
        # Built on first use: a run with nothing to send never needs the registry's token.
        self._registry_factory = registry
        self._registry: RegistryClient | None = None
        self.checker = checker
        self.clock = clock
        self.recheck_after = recheck_after
        self.limits = limits
        # Past this many seconds before the function's deadline, no decision is begun: one can
        # take a fresh lookup and a registry call with its Retry-After waits.
        self.reserve_seconds = reserve_seconds

    @property
    def registry(self) -> RegistryClient:
        if self._registry is None:
            self._registry = self._registry_factory()
        return self._registry

    def apply(
        self, decisions: Iterable[Decision], *, time_left: Callable[[], float] = _no_deadline
    ) -> ApplyCounts:
        """Weigh and send pending decisions, oldest first, each on its own: a failure on one is
        recorded and counted, and the rest go on.

        One call per domain: of a domain's decisions still to send, the latest (the same
        registration seen later in its lifecycle, or a new one) supersedes the earlier ones.
        The same decision (domain and Idempotency-Key) found twice, from two runs, is weighed
        and sent once. What `time_left` (seconds) leaves no room for stays pending, counted as
        `unsent`: the outstanding index gives it to the next run first, being older."""
        counts = ApplyCounts()
        by_domain: dict[str, list[Decision]] = {}
        for decision in decisions:
            by_domain.setdefault(decision.domain, []).append(decision)
        groups = sorted(
            (sorted(found, key=lambda d: d.decided_at) for found in by_domain.values()),
            key=lambda found: found[0].decided_at,
        )
        budget = _Budget(self.limits.max_addresses_per_run)
        for number, found in enumerate(groups):
            if time_left() < self.reserve_seconds:
                unsent = sum(len(rest) for rest in groups[number:])
                counts.unsent += unsent
                logger.warning(
                    "the final step's time is up: decisions left pending for the next run",
                    extra={"unsent": unsent},
                )
                break
            latest = found[-1]
            try:
                self._supersede(
                    [d for d in found if d.idempotency_key != latest.idempotency_key], latest, counts
                )
                self._apply_one(latest, counts, budget)
                for copy in (
                    d for d in found if d.idempotency_key == latest.idempotency_key and d is not latest
                ):
                    copy.state, copy.error, copy.settled_at = latest.state, latest.error, latest.settled_at
                    copy.emails_unverified, copy.replayed = 0, latest.replayed
                    copy.hold_reason = latest.hold_reason
                    self.store.save_decision(copy)
            except Exception as exc:
                self._failed_on(latest, exc, counts)
        return counts

    def _supersede(self, earlier: list[Decision], latest: Decision, counts: ApplyCounts) -> None:
        now = self.clock()
        for decision in earlier:
            decision.state, decision.settled_at = DecisionState.SUPERSEDED, now
            decision.superseded_by = f"{latest.run_id} {latest.idempotency_key}"
            decision.error = (
                f"superseded by the later decision of run {latest.run_id} ({latest.lifecycle}): "
                "one call per lapse"
            )
            counts.superseded += 1
            self.store.save_decision(decision)

    def _failed_on(self, decision: Decision, exc: Exception, counts: ApplyCounts) -> None:
        """Record a failure on one decision and go on: it stays as it was stored (pending, for
        the next run), with the error, counted in `withheld.errors` (the DecisionErrors alarm)."""
        counts.errors += 1
        logger.exception(
            "the final step failed on a decision; going on with the rest",
            extra={"domain": decision.domain, "decision_run": decision.run_id},
        )
        decision.error = f"the final step failed on this decision: {type(exc).__name__}: {exc}"
        try:
            self.store.save_decision(decision)
        except Exception:
            logger.exception(
                "could not record the failure on the decision", extra={"domain": decision.domain}
            )

    def _apply_one(self, decision: Decision, counts: ApplyCounts, budget: _Budget) -> None:
        now = self.clock()
        stale = self._stale_reason(decision, now)
        if stale is not None:
            cancel, decision.error = stale
            if cancel:
                decision.state, decision.settled_at = DecisionState.CANCELLED, now
                counts.cancelled += 1
            else:
                counts.deferred += 1
            self.store.save_decision(decision)
            return

        if self._withheld_by_rules(decision, counts, budget):
            return

        counts.requested += 1
        decision.attempts = int(decision.attempts or 0) + 1
        try:
            request = unverify_request(decision)
            result = self.registry.unverify(request, decision.idempotency_key)
        except ValueError as exc:
            # A decision no registry may act on (a public suffix, say): never sent.
            decision.state, decision.settled_at = DecisionState.CANCELLED, now
            decision.error = f"refused: {exc}"
            counts.cancelled += 1
        except IdempotencyConflict:
            # The registry holds this decision under its key already, with the evidence of an
            # earlier check: it was applied then.
            decision.state, decision.settled_at, decision.error = DecisionState.APPLIED, now, None
            decision.emails_unverified, decision.replayed = 0, True
        except RegistryError as exc:
            # Not dropped: the next run's final step tries again.
            decision.error = str(exc)
            counts.failed += 1
        else:
            decision.state, decision.settled_at, decision.error = DecisionState.APPLIED, now, None
            decision.emails_unverified, decision.replayed = result.unverified, result.replayed
            counts.emails_unverified += result.unverified
        self.store.save_decision(decision)

    def _withheld_by_rules(self, decision: Decision, counts: ApplyCounts, budget: _Budget) -> bool:
        """The per-decision rules, at the moment of sending, whatever run or item the decision
        came from: protected domains and MaxAddressesPerDomain hold it for an operator, and the
        run's address budget (MaxAddressesPerRun) defers what does not fit to the next run. The
        addresses are those the dispatcher recorded from the registry, never the decision's own.
        A decision an operator approved by its exact key passes (it was weighed by a person)."""
        (addresses,) = self.store.planned_addresses([decision], budget.plans)
        if addresses is not None:
            decision.addresses = addresses
        reason = self.limits.domain_reason(decision.domain, addresses)
        if reason is None and budget.fits(addresses or 0):
            budget.spend(addresses or 0)
            return False
        if self.store.approved(decision):
            return False
        if reason is not None:
            decision.state, decision.hold_reason, decision.error = DecisionState.HELD, reason, reason
            counts.held += 1
            self.store.save_decision(decision)
            # Its run waits for the operator too (a no-op for the run being finished now).
            self.store.hold_run(decision.run_id, reason)
            return True
        decision.error = (
            f"the final step's address budget of {self.limits.max_addresses_per_run} "
            "(MaxAddressesPerRun) is spent: waits for the next run"
        )
        counts.deferred += 1
        self.store.save_decision(decision)
        return True

    def _stale_reason(self, decision: Decision, now: datetime) -> tuple[bool, str] | None:
        """(cancel it, or only defer it; why) when the call must not go out now; None when it may."""
        if decision.verified_before is not None and decision.verified_before > now:
            return True, f"verified_before {rfc3339(decision.verified_before)} is in the future"
        latest = self._latest(decision, now)
        if latest is None or latest.lifecycle is Lifecycle.UNKNOWN:
            return False, (
                f"the latest lookup of {decision.domain} could not tell its state: waiting for one that can"
            )
        decided_registration = parse_time_or_none(decision.evidence.get("registered_at"))
        if latest.registered_at is not None and (
            decided_registration is None or latest.registered_at > decided_registration
        ):
            return True, (
                f"{decision.domain} was registered again on {rfc3339(latest.registered_at)}, after this "
                "decision: a decision about the new registration replaces it"
            )
        if latest.lifecycle not in self.checker.unsafe:
            return True, (
                f"{decision.domain} is {latest.lifecycle} again (seen {rfc3339(latest.checked_at)}): "
                "the decision went stale"
            )
        return None

    def _latest(self, decision: Decision, now: datetime) -> _Latest | None:
        state = self.store.domain_state(decision.domain)
        if now - decision.decided_at <= self.recheck_after:
            if state is None:
                return None
            return _Latest(Lifecycle(state.lifecycle), state.registered_at, state.last_checked_at)
        # An old decision needs a fresh lookup that confirms it, recorded like any other.
        verified_at = parse_time_or_none(decision.evidence.get("oldest_verified_at"))
        result = self.checker.check_domain(decision.domain, verified_at)
        planned = PlannedDomain(decision.domain, verified_at)
        run_id = state.last_run_id if state else None
        shard = int(state.last_shard) if state and state.last_shard is not None else None
        self.store.save_domain_state(
            updated_state(state, planned, result, now, unsafe=self.checker.unsafe, run_id=run_id, shard=shard)
        )
        return _Latest(result.lifecycle, result.registered_at, result.checked_at)


def unverify_request(decision: Decision) -> UnverifyRequest:
    """The request a decision sends, the same on every try: the registry answers 409 to a
    changed body under the same Idempotency-Key."""
    return UnverifyRequest(
        domain=decision.domain,
        reason=decision.lifecycle,
        evidence=decision.evidence,
        include_subdomains=True,
        verified_before=decision.verified_before,
    )
