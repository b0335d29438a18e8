"""Applying decisions: the one way an unverify call goes out, for the final step, approvals and
the manual entry alike.

A decision can go stale between the check that made it and the call: the registry may have
failed yesterday's call, or an operator may approve a held run days later, and meanwhile the
holder renewed. So before any call, the decision is weighed against the domain's latest
observation, and against a fresh lookup once it is older than `recheck_after`:

- still unsafe, with no registration since the decision: the call goes out;
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
from lapsewatch.sweep.checking import updated_state
from lapsewatch.sweep.messages import PlannedDomain
from lapsewatch.sweep.store import Decision, DecisionState, RunStore
from lapsewatch.timefmt import parse_time_or_none, rfc3339


@dataclass(slots=True)
class ApplyCounts:
    """What became of the decisions weighed: the calls made (a run summary's `unverify`), and
    the decisions held back by their re-check (its `withheld`)."""

    requested: int = 0
    emails_unverified: int = 0
    failed: int = 0
    cancelled: int = 0
    deferred: int = 0

    def unverify(self) -> dict[str, int]:
        return {
            "requested": self.requested,
            "emails_unverified": self.emails_unverified,
            "failed": self.failed,
        }

    def withheld(self) -> dict[str, int]:
        return {"cancelled": self.cancelled, "deferred": self.deferred}

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


class Applier:
    def __init__(
        self,
        *,
        store: RunStore,
        registry: Callable[[], RegistryClient],
        checker: DomainChecker,
        clock: Callable[[], datetime],
        recheck_after: timedelta,
    ) -> None:
        self.store = store
        # Built on first use: a run with nothing to send never needs the registry's token.
        self._registry_factory = registry
        self._registry: RegistryClient | None = None
        self.checker = checker
        self.clock = clock
        self.recheck_after = recheck_after

    @property
    def registry(self) -> RegistryClient:
        if self._registry is None:
            self._registry = self._registry_factory()
        return self._registry

    def apply(self, decisions: Iterable[Decision]) -> ApplyCounts:
        """Weigh and send pending decisions. The same decision (domain and Idempotency-Key)
        found twice, from two runs, is weighed and sent once."""
        counts = ApplyCounts()
        groups: dict[tuple[str, str], list[Decision]] = {}
        for decision in decisions:
            groups.setdefault((decision.domain, decision.idempotency_key), []).append(decision)
        for first, *copies in groups.values():
            self._apply_one(first, counts)
            for copy in copies:
                copy.state, copy.error, copy.settled_at = first.state, first.error, first.settled_at
                copy.emails_unverified, copy.replayed = 0, first.replayed
                self.store.save_decision(copy)
        return counts

    def _apply_one(self, decision: Decision, counts: ApplyCounts) -> None:
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
