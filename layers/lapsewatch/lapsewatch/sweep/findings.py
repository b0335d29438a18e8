"""What one domain's check leaves behind: the decision about an unsafe domain, with the evidence
the registry keeps, and the domain's new state. The checkers, the final step's fresh lookups and
the manual entry all record a check this way."""

from __future__ import annotations

from datetime import datetime

from lapsewatch.check import CheckResult
from lapsewatch.lifecycle import Lifecycle
from lapsewatch.registry import decision_key
from lapsewatch.sweep.messages import PlannedDomain, Shard
from lapsewatch.sweep.records import EMAIL_DOMAIN_LIMIT, HISTORY_LIMIT, Decision, DomainState, LifecycleChange
from lapsewatch.sweep.schedule import next_check_at
from lapsewatch.timefmt import rfc3339


def decision_for(run: Shard | str, planned: PlannedDomain, result: CheckResult, now: datetime) -> Decision:
    """The decision about an unsafe domain, checked in a run's shard (or by the manual entry,
    `run` then naming its pseudo-run)."""
    registered_at = result.registered_at
    return Decision(
        run_id=run.run_id if isinstance(run, Shard) else run,
        shard=run.number if isinstance(run, Shard) else None,
        domain=planned.domain,
        addresses=planned.addresses,
        service=result.service,
        lifecycle=str(result.lifecycle),
        idempotency_key=decision_key(
            planned.domain, str(result.lifecycle), registered_at, planned.oldest_verified_at
        ),
        # A new holder's own addresses, verified after the new registration, stay verified.
        verified_before=registered_at if result.lifecycle is Lifecycle.REREGISTERED else None,
        evidence=evidence(result, planned),
        decided_at=now,
    )


def evidence(result: CheckResult, planned: PlannedDomain) -> dict:
    """What the registry keeps in its audit log: enough to see why, without an address."""
    return {
        "lifecycle": str(result.lifecycle),
        "reason": result.reason,
        "statuses": list(result.statuses),
        "registered_at": rfc3339(result.registered_at),
        "expires_at": rfc3339(result.expires_at),
        "oldest_verified_at": rfc3339(planned.oldest_verified_at),
        "provider": result.provider,
        "source": result.source,
        "checked_at": rfc3339(result.checked_at),
        "confirmed": True,
        "dns": result.dns.to_dict() if result.dns is not None else None,
    }


def updated_state(
    state: DomainState | None,
    planned: PlannedDomain,
    result: CheckResult,
    now: datetime,
    *,
    unsafe: frozenset[Lifecycle],
    run_id: str | None,
    shard: int | None,
) -> DomainState:
    if state is None:
        state = DomainState(planned.domain, first_seen_at=now, history=[])
    previous = state.lifecycle
    current = str(result.lifecycle)
    if previous != current:
        change = LifecycleChange(at=now, previous=previous, current=current, run_id=run_id)
        state.history = [*(state.history or []), change][-HISTORY_LIMIT:]
    state.lifecycle = current
    state.unsafe = result.unsafe
    state.reason = result.reason
    state.provider = result.provider
    state.service = result.service
    state.error = result.error
    state.dns = result.dns.to_dict() if result.dns is not None else None
    state.last_checked_at = now
    if result.lifecycle is Lifecycle.UNKNOWN:
        # Doubt keeps the last evidence we had; only the error streak moves.
        state.consecutive_errors = (state.consecutive_errors or 0) + 1
        state.unknown_since = state.unknown_since or now
    else:
        state.consecutive_errors = 0
        state.unknown_since = None
        state.statuses = list(result.statuses)
        state.registered_at = result.registered_at
        state.expires_at = result.expires_at
    if planned.email_domains:
        merged = dict.fromkeys([*(state.email_domains or []), *planned.email_domains])
        state.email_domains = list(merged)[:EMAIL_DOMAIN_LIMIT]
    if planned.oldest_verified_at:
        state.oldest_verified_at = planned.oldest_verified_at
    state.next_check_at = next_check_at(
        planned.domain, result.lifecycle, expires_at=state.expires_at, now=now, unsafe=unsafe
    )
    state.last_run_id = run_id
    state.last_shard = shard
    return state
