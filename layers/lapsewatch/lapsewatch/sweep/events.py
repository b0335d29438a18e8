"""The events the functions take, parsed and checked: anything else is a BadEvent with a message
that says what is wrong."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lapsewatch.domains import to_ascii
from lapsewatch.timefmt import parse_time


class BadEvent(ValueError):
    """The event is not one this function takes; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class ManualEvent:
    target: str
    verified_at: datetime | None
    # Unverify if unsafe; `force` past the breaker's per-domain rules, recorded as forced.
    apply: bool
    force: bool


def parse_manual_event(event: object) -> ManualEvent:
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
    apply, force = event.get("apply", False), event.get("force", False)
    if not isinstance(apply, bool):
        raise BadEvent('"apply" must be true or false')
    if not isinstance(force, bool):
        raise BadEvent('"force" must be true or false')
    if force and not apply:
        raise BadEvent('"force" goes with "apply": true')
    return ManualEvent(targets[0], verified_at, apply, force)


def run_id_in(event: dict, key: str) -> str:
    """The run id an operator's event names under `key` ({"approve_run": id} and the like)."""
    value = event[key]
    if not isinstance(value, str) or not value:
        raise BadEvent(f'"{key}" must be a run id')
    return value


def operator_choice(event: dict) -> tuple[list[str] | None, str | None]:
    """The domains an operator's approve or discard names (None: every held one), and who they
    are: `{"approve_run": id, "domains": [...], "by": "..."}`."""
    domains = event.get("domains")
    if domains is not None:
        if not isinstance(domains, list) or not domains or not all(isinstance(d, str) for d in domains):
            raise BadEvent('"domains" must be a non-empty list of domain names')
        try:
            domains = [to_ascii(domain.strip().rstrip(".")) for domain in domains]
        except ValueError as exc:
            raise BadEvent(f'"domains" holds a name that is not a domain: {exc}') from None
    by = event.get("by")
    if by is not None and (not isinstance(by, str) or not by.strip()):
        raise BadEvent('"by" must name who approves or discards')
    return domains, by
