"""What travels on the queues: shards of domains to check, and runs to finish."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from lapsewatch.timefmt import parse_time_or_none, rfc3339


class MessageError(ValueError):
    """A message body that is not what this version sends."""


@dataclass(frozen=True, slots=True)
class PlannedDomain:
    domain: str
    oldest_verified_at: datetime | None = None
    email_domains: tuple[str, ...] = ()
    # Verified addresses under the domain, as the registry counted them: what a decision weighs.
    addresses: int = 0

    def to_json(self) -> dict:
        return {
            "domain": self.domain,
            "oldest_verified_at": rfc3339(self.oldest_verified_at),
            "email_domains": list(self.email_domains),
            "addresses": self.addresses,
        }

    @classmethod
    def from_json(cls, data: dict) -> PlannedDomain:
        if not isinstance(data, dict) or not isinstance(data.get("domain"), str):
            raise MessageError(f"not a planned domain: {data!r:.200}")
        email_domains = data.get("email_domains") or []
        addresses = data.get("addresses", 0)
        if not isinstance(addresses, int) or isinstance(addresses, bool) or addresses < 0:
            raise MessageError(f"not a count of addresses: {addresses!r:.50}")
        return cls(
            domain=data["domain"],
            oldest_verified_at=parse_time_or_none(data.get("oldest_verified_at")),
            email_domains=tuple(d for d in email_domains if isinstance(d, str)),
            addresses=addresses,
        )


@dataclass(frozen=True, slots=True)
class Shard:
    run_id: str
    number: int
    domains: tuple[PlannedDomain, ...]

    def to_body(self) -> str:
        return json.dumps(
            {
                "v": 1,
                "run_id": self.run_id,
                "shard": self.number,
                "domains": [d.to_json() for d in self.domains],
            },
            separators=(",", ":"),
        )

    def digest(self) -> str:
        """What the dispatcher records of the message it sends, and the checker compares."""
        return hashlib.sha256(self.to_body().encode()).hexdigest()

    @classmethod
    def from_body(cls, body: str) -> Shard:
        data = _object(body, "shard")
        if data.get("v") != 1:
            raise MessageError("shard body is not a version 1 shard")
        run_id, number, domains = data.get("run_id"), data.get("shard"), data.get("domains")
        if not isinstance(run_id, str) or not isinstance(number, int) or not isinstance(domains, list):
            raise MessageError("shard body lacks run_id, shard or domains")
        return cls(run_id, number, tuple(PlannedDomain.from_json(d) for d in domains))


def dispatch_body(run_id: str, generation: int) -> str:
    return json.dumps({"v": 1, "continue_run": run_id, "generation": generation})


def _object(body: str, what: str) -> dict:
    try:
        data = json.loads(body)
    except (TypeError, ValueError) as exc:
        raise MessageError(f"{what} body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise MessageError(f"{what} body is not a JSON object")
    return data


def parse_dispatch_body(body: str) -> tuple[str, int]:
    data = _object(body, "continue")
    if not isinstance(data.get("continue_run"), str):
        raise MessageError("continue body lacks continue_run")
    generation = data.get("generation")
    if not isinstance(generation, int) or generation < 1:
        raise MessageError("continue body lacks a generation")
    return data["continue_run"], generation


def final_body(run_id: str) -> str:
    return json.dumps({"v": 1, "finish_run": run_id})


def parse_final_body(body: str) -> str:
    data = _object(body, "finish")
    if not isinstance(data.get("finish_run"), str):
        raise MessageError("finish body lacks finish_run")
    return data["finish_run"]
