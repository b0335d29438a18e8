"""The bounds on what comes from outside, applied to an item as it is saved.

What a provider answers (statuses, reasons, errors, and the evidence built from them) is bounded
here, whatever the providers let through: one domain's answer can never make an item larger than
DynamoDB's 400 KB (`lapsewatch.sweep.records` holds the items)."""

from __future__ import annotations

from collections.abc import Iterable

from lapsewatch.sweep.records import EMAIL_DOMAIN_LIMIT, HISTORY_LIMIT, Decision, DomainState

# The bounds on what comes from outside, as it is saved: status tokens (and any list in the
# evidence), and the length of a token and of any other text. With them a domain's state or a
# decision stays far below DynamoDB's 400 KB, whatever a provider answered.
MAX_TOKENS = 32
MAX_TOKEN_CHARS = 100
MAX_TEXT_CHARS = 2000
MAX_EVIDENCE_KEYS = 32


def bounded_text(value: str | None, limit: int = MAX_TEXT_CHARS) -> str | None:
    if value is None or len(value) <= limit:
        return value
    return value[: limit - 12] + " [truncated]"


def bounded_tokens(values: Iterable[str] | None) -> list[str]:
    return [str(bounded_text(str(v), MAX_TOKEN_CHARS)) for v in list(values or [])[:MAX_TOKENS]]


def bounded_json(value: object) -> object:
    """JSON from outside, bounded: strings, lists and objects cut to the limits above."""
    if isinstance(value, str):
        return bounded_text(value)
    if isinstance(value, list | tuple):
        return [bounded_json(item) for item in list(value)[:MAX_TOKENS]]
    if isinstance(value, dict):
        items = list(value.items())[:MAX_EVIDENCE_KEYS]
        return {str(bounded_text(str(key), MAX_TOKEN_CHARS)): bounded_json(item) for key, item in items}
    return value


def bound_state(state: DomainState) -> None:
    state.statuses = bounded_tokens(state.statuses)
    for name in ("reason", "provider", "service", "error"):
        setattr(state, name, bounded_text(getattr(state, name)))
    state.email_domains = [
        str(bounded_text(d, 253)) for d in list(state.email_domains or [])[:EMAIL_DOMAIN_LIMIT]
    ]
    state.history = list(state.history or [])[-HISTORY_LIMIT:]


def bound_decision(decision: Decision) -> None:
    decision.evidence = bounded_json(decision.evidence or {})
    for name in ("service", "error", "hold_reason", "operator"):
        setattr(decision, name, bounded_text(getattr(decision, name)))
