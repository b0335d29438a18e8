"""What the registry API v1 lists, and what lapsewatch asks of it, checked before it goes out."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lapsewatch.domains import InvalidDomain, is_a_label_domain, registrable_domain
from lapsewatch.registry.contract import NOTICE_STAGES, UNVERIFY_REASONS
from lapsewatch.timefmt import as_utc, rfc3339


@dataclass(frozen=True, slots=True)
class EmailDomain:
    """A domain as the registry stores it (any case, maybe Unicode, maybe junk)."""

    domain: str
    verified_emails: int
    oldest_verified_at: datetime | None


@dataclass(frozen=True, slots=True)
class Page:
    items: list[EmailDomain]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class UnverifyRequest:
    """What to unverify and why. `domain` is a registrable domain (a public suffix of the PSL's
    ICANN section plus one label) in lowercase A-label form, exactly as registrable_domain gives it."""

    domain: str
    reason: str
    evidence: dict
    include_subdomains: bool = True
    verified_before: datetime | None = None

    def __post_init__(self) -> None:
        if not is_a_label_domain(self.domain):
            raise ValueError(f"not a lowercase A-label domain: {self.domain!r}")
        _check_registrable(self.domain)
        if str(self.reason) not in UNVERIFY_REASONS:
            choices = ", ".join(sorted(UNVERIFY_REASONS))
            raise ValueError(f"reason must be one of {choices}, not {self.reason!r}")
        if not isinstance(self.evidence, Mapping):
            raise ValueError("evidence must be a mapping")
        try:
            json.dumps(self.evidence)
        except (TypeError, ValueError, RecursionError) as exc:
            raise ValueError(f"evidence must be JSON-serialisable: {exc}") from None

    def to_body(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "include_subdomains": bool(self.include_subdomains),
            "verified_before": rfc3339(as_utc(self.verified_before)),
            "reason": str(self.reason),
            "evidence": dict(self.evidence),
        }


def _check_registrable(domain: str) -> None:
    # A public suffix with include_subdomains would unverify every address under it, and a name
    # under a registrable domain would leave its siblings verified at the same lapsed domain.
    try:
        registrable = registrable_domain(domain)
    except InvalidDomain as exc:
        raise ValueError(f"{domain!r} cannot be unverified: {exc}") from None
    if registrable != domain:
        raise ValueError(f"{domain!r} is not a registrable domain: it is a name under {registrable!r}")


@dataclass(frozen=True, slots=True)
class UnverifyResult:
    unverified: int
    replayed: bool


@dataclass(frozen=True, slots=True)
class NoticeRequest:
    """An early warning: `domain` is in `stage` (grace or hold) and expires (or expired) at
    `expires_at`; the registry tells the owners of its verified addresses to renew or add another."""

    domain: str
    stage: str
    expires_at: datetime | None
    evidence: dict

    def __post_init__(self) -> None:
        _check_registrable(self.domain)
        if self.stage not in NOTICE_STAGES:
            raise ValueError(f"stage must be one of {', '.join(sorted(NOTICE_STAGES))}, not {self.stage!r}")

    def to_body(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "stage": self.stage,
            "expires_at": rfc3339(as_utc(self.expires_at)),
            "include_subdomains": True,
            "evidence": dict(self.evidence),
        }


@dataclass(frozen=True, slots=True)
class NoticeResult:
    notified: int
    replayed: bool
