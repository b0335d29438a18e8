"""The events the functions take, parsed and checked: anything else is a BadEvent with a message
that says what is wrong."""

from __future__ import annotations

from datetime import datetime

from lapsewatch.timefmt import parse_time


class BadEvent(ValueError):
    """The event is not one this function takes; the message says what is wrong."""


def parse_manual_event(event: object) -> tuple[str, datetime | None, bool]:
    if not isinstance(event, dict):
        raise BadEvent("the event must be a JSON object")
    targets = [event[key] for key in ("domain", "email") if key in event]
    if len(targets) != 1 or not isinstance(targets[0], str) or not targets[0].strip():
        raise BadEvent('give exactly one of "domain" or "email", as a non-empty string')
    verified_at = event.get("verified_at")
    if verified_at is not None:
        try:
            verified_at = parse_time(verified_at)
        except (ValueError, TypeError):
            raise BadEvent(f'"verified_at" is not an RFC 3339 time: {verified_at!r}') from None
    apply = event.get("apply", False)
    if not isinstance(apply, bool):
        raise BadEvent('"apply" must be true or false')
    return targets[0], verified_at, apply


def run_id_in(event: dict, key: str) -> str:
    """The run id an operator's event names under `key` ({"approve_run": id} and the like)."""
    value = event[key]
    if not isinstance(value, str) or not value:
        raise BadEvent(f'"{key}" must be a run id')
    return value
