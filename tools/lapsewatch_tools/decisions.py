"""What a run decided about each domain, on what evidence, and what became of it: the rows
`lapsewatch run` and `lapsewatch runs show` print, one per unsafe or held domain (and one per
early-warning notice), read from the run's state through `RunStore`.

Each row is a JSON object (`--json` prints them as JSON Lines) and, in `report.domains_table`,
a line of a table. No address is in them: the state keeps none. The addresses at stake are
their count and the email domains they sit at.
"""

from __future__ import annotations

from datetime import datetime

import idna

from lapsewatch.sweep.records import Decision, DecisionState, DomainState, NoticeRecord
from lapsewatch.sweep.store import RunStore
from lapsewatch.timefmt import parse_time_or_none, rfc3339


def domain_rows(store: RunStore, run_id: str) -> list[dict]:
    """One row per decision of the run (its unsafe domains, held or not), then one per notice."""
    decisions = sorted(store.decisions(run_id), key=lambda d: d.domain)
    notices = sorted(store.notices(run_id), key=lambda n: n.domain)
    states = store.domain_states([d.domain for d in decisions] + [n.domain for n in notices])
    rows = [decision_row(d, states.get(d.domain)) for d in decisions]
    return rows + [notice_row(run_id, n, states.get(n.domain)) for n in notices]


def decision_row(decision: Decision, state: DomainState | None) -> dict:
    evidence = dict(decision.evidence or {})
    outcome, why = outcome_of(decision)
    return {
        "kind": "decision",
        "run_id": decision.run_id,
        "domain": decision.domain,
        "unicode": u_label(decision.domain),
        "lifecycle": decision.lifecycle,
        "evidence": evidence_text(decision.lifecycle, evidence),
        "provider": evidence.get("provider"),
        "registered_at": evidence.get("registered_at"),
        "verified_at": evidence.get("oldest_verified_at"),
        "expires_at": evidence.get("expires_at"),
        "statuses": list(evidence.get("statuses") or []),
        "addresses": int(decision.addresses or 0),
        "email_domains": email_domains(state),
        "state": decision.state,
        "outcome": outcome,
        "why": why,
        "emails_unverified": _whole(decision.emails_unverified),
        "operator": decision.operator,
        "decided_at": rfc3339(decision.decided_at),
        "settled_at": rfc3339(decision.settled_at),
    }


def notice_row(run_id: str, notice: NoticeRecord, state: DomainState | None) -> dict:
    evidence = dict(notice.evidence or {})
    lifecycle = str(evidence.get("lifecycle") or notice.stage)
    state_word = notice.state or "pending"
    return {
        "kind": "notice",
        "run_id": run_id,
        "domain": notice.domain,
        "unicode": u_label(notice.domain),
        "lifecycle": lifecycle,
        "evidence": evidence_text(lifecycle, evidence),
        "provider": evidence.get("provider"),
        "expires_at": rfc3339(notice.expires_at),
        "statuses": list(evidence.get("statuses") or []),
        "email_domains": email_domains(state),
        "state": state_word,
        "outcome": {"sent": "warned"}.get(state_word, f"notice {state_word}"),
        "why": notice.error,
    }


def outcome_of(decision: Decision) -> tuple[str, str | None]:
    """What became of a decision, in a word, and why (None when the word says it all)."""
    state = decision.state or DecisionState.RECORDED
    if state == DecisionState.APPLIED:
        unverified = _whole(decision.emails_unverified) or 0
        replayed = "; a replay, the registry had it already" if decision.replayed else ""
        by = f"; approved by {decision.operator}" if decision.operator else ""
        return "unverified", f"{unverified} of {int(decision.addresses or 0)} addresses{replayed}{by}"
    if state == DecisionState.HELD:
        return "held", decision.hold_reason or decision.error
    if state == DecisionState.PENDING:
        return "deferred", decision.error or "waits for the next run's final step"
    if state == DecisionState.DISCARDED:
        return "discarded", f"by {decision.operator}" if decision.operator else None
    if state == DecisionState.RECORDED:
        return "recorded", "not sent (a dry run, or the final step has not run)"
    # cancelled, superseded: the error says why
    return str(state), decision.error


def evidence_text(lifecycle: str, evidence: dict) -> str:
    """The evidence that decided `lifecycle`, in a line: for a re-registration the registration
    date against the verification date; for a lapse the registry's statuses, the expiry date and
    the DNS's word."""
    provider = evidence.get("provider")
    said = f"{provider}: " if provider else ""
    if lifecycle == "reregistered":
        return (
            f"{said}registered {_day(evidence.get('registered_at'))}, after the addresses were "
            f"verified (oldest {_day(evidence.get('oldest_verified_at'))})"
        )
    parts = []
    statuses = evidence.get("statuses") or []
    if statuses:
        parts.append("status " + ", ".join(str(s) for s in statuses))
    elif lifecycle == "unregistered":
        parts.append("no such domain at the registry")
    expires = parse_time_or_none(evidence.get("expires_at"))
    if expires is not None:
        checked = parse_time_or_none(evidence.get("checked_at"))
        parts.append(f"{'expired' if checked and expires <= checked else 'expires'} {expires:%Y-%m-%d}")
    dns = evidence.get("dns") or {}
    if dns.get("delegated") is False:
        parts.append(f"not in the {dns.get('zone') or 'parent'} zone")
    elif dns.get("delegated") is True:
        parts.append(f"still delegated by the {dns.get('zone') or 'parent'} zone")
    return said + ("; ".join(parts) or str(evidence.get("reason") or "no evidence kept"))


def email_domains(state: DomainState | None) -> list[str]:
    """The email domains the domain's addresses sit at, as listed (a few of them, each once)."""
    names = (state.email_domains if state is not None else None) or []
    return list(dict.fromkeys(str(name).lower() for name in names))


def u_label(domain: str) -> str | None:
    """The domain in Unicode when it is an IDN (xn-- labels), None otherwise."""
    if "xn--" not in domain:
        return None
    try:
        return idna.decode(domain)
    except (idna.IDNAError, UnicodeError):
        return None


def _day(text: object) -> str:
    moment: datetime | None = parse_time_or_none(text)
    return f"{moment:%Y-%m-%d}" if moment is not None else "unknown"


def _whole(value: object) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
