"""The events the functions take, parsed and checked into typed events: anything else is a
BadEvent with a message that says what is wrong."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from lapsewatch.domains import to_ascii
from lapsewatch.sweep.messages import parse_dispatch_body, parse_final_body
from lapsewatch.sweep.records import run_id_for
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
    apply, force = _flag(event, "apply"), _flag(event, "force")
    if force and not apply:
        raise BadEvent('"force" goes with "apply": true')
    return ManualEvent(targets[0], verified_at, apply, force)


@dataclass(frozen=True, slots=True)
class ContinueRuns:
    """Runs to continue, from SQS: each handed over, as (run id, generation), by a dispatcher
    invocation that ran out of time."""

    runs: list[tuple[str, int]]


@dataclass(frozen=True, slots=True)
class ScheduledRun:
    """The schedule's event (`time`). An event can make a run dry, never live: `"dry_run": false`
    on a stack deployed dry is dry."""

    occurrence: datetime
    dry_run: bool
    check_all: bool

    @property
    def run_id(self) -> str:
        return run_id_for(self.occurrence)


@dataclass(frozen=True, slots=True)
class DomainsRun:
    """An operator's run of the domains named: `{"domains": [...]}`."""

    domains: list[str]
    dry_run: bool

    def run_id(self, now: datetime) -> str:
        """The run's id, started `now`: the same domains, the same id within a schedule slot."""
        digest = hashlib.sha256(json.dumps(sorted(self.domains)).encode()).hexdigest()[:8]
        return f"{run_id_for(now)}-manual-{digest}"


def parse_dispatch_event(event: object) -> ContinueRuns | ScheduledRun | DomainsRun:
    """A schedule event (`time`), or an operator's `{"domains": [...]}`, both with an optional
    `"dry_run": true` and `"check_all": true`; or SQS records of runs to continue."""
    if not isinstance(event, dict):
        raise BadEvent("the event must be a JSON object")
    if "Records" in event:
        return ContinueRuns([parse_dispatch_body(record["body"]) for record in event["Records"]])
    dry_run, check_all = _flag(event, "dry_run"), _flag(event, "check_all")
    if "domains" in event:
        domains = _strings(event["domains"], '"domains" must be a non-empty list of strings')
        return DomainsRun(domains, dry_run)
    try:
        occurrence = parse_time(event["time"])
    except (KeyError, TypeError, ValueError):
        raise BadEvent('expected a schedule event with a "time", or {"domains": [...]}') from None
    return ScheduledRun(occurrence, dry_run, check_all)


@dataclass(frozen=True, slots=True)
class FinishRuns:
    """Runs whose shards are done, from SQS."""

    run_ids: list[str]


@dataclass(frozen=True, slots=True)
class ApproveRun:
    """An operator's approval of a held run's decisions (`domains`: some of them; None: all)."""

    run_id: str
    domains: list[str] | None
    by: str | None


@dataclass(frozen=True, slots=True)
class DiscardRun:
    """An operator's discarding of a held run's decisions (`domains`: some of them; None: all)."""

    run_id: str
    domains: list[str] | None
    by: str | None


@dataclass(frozen=True, slots=True)
class CloseRun:
    """An operator's closing of a run stuck waiting for a shard that was lost."""

    run_id: str


def parse_final_event(event: object) -> FinishRuns | ApproveRun | DiscardRun | CloseRun:
    """SQS records of runs to finish, or an operator's `{"approve_run": id}`, `{"discard_run": id}`
    (each with `"domains": [...]` to choose some of the held decisions, and `"by"`: who) or
    `{"close_run": id}`."""
    if not isinstance(event, dict):
        raise BadEvent("the event must be a JSON object")
    if "Records" in event:
        return FinishRuns([parse_final_body(record["body"]) for record in event["Records"]])
    if "approve_run" in event:
        return ApproveRun(run_id_in(event, "approve_run"), *operator_choice(event))
    if "discard_run" in event:
        return DiscardRun(run_id_in(event, "discard_run"), *operator_choice(event))
    if "close_run" in event:
        return CloseRun(run_id_in(event, "close_run"))
    raise BadEvent('expected SQS records, or {"approve_run": id}, {"discard_run": id}, {"close_run": id}')


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
        named = _strings(domains, '"domains" must be a non-empty list of domain names')
        try:
            domains = [to_ascii(domain.strip().rstrip(".")) for domain in named]
        except ValueError as exc:
            raise BadEvent(f'"domains" holds a name that is not a domain: {exc}') from None
    by = event.get("by")
    if by is not None and (not isinstance(by, str) or not by.strip()):
        raise BadEvent('"by" must name who approves or discards')
    return domains, by


def _flag(event: dict, key: str) -> bool:
    value = event.get(key, False)
    if not isinstance(value, bool):
        raise BadEvent(f'"{key}" must be true or false')
    return value


def _strings(value: object, message: str) -> list[str]:
    """A non-empty list of strings, else BadEvent(message)."""
    if not isinstance(value, list) or not value or not all(isinstance(item, str) for item in value):
        raise BadEvent(message)
    return value
