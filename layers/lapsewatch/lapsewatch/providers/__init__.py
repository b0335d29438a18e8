"""Domain status providers: one small interface, interchangeable implementations.

A provider answers one question for a registrable domain, with evidence: what lifecycle does
its registry show? It never decides what is unsafe (that is lapsewatch.check's job) and it
never raises for a bad answer: doubt is an Observation with lifecycle `unknown` and an error.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from lapsewatch.lifecycle import Lifecycle

# What one answer from outside may hand on: beyond these, its evidence would not fit in a table
# item (DynamoDB's 400 KB) beside everything else, so an answer over them is doubt. Real
# registries send a handful of statuses of a few words each.
MAX_STATUSES = 32
MAX_STATUS_LENGTH = 64
# Reasons and sources quote the outside world; they are cut, never refused (they are ours).
MAX_TEXT = 1000


@dataclass(frozen=True, slots=True)
class Observation:
    """What a provider saw for one domain at one moment."""

    provider: str
    # The provider's own reading of its evidence: active, grace, hold, redemption,
    # pending_delete, unregistered or unknown. Dates are applied later, by the checker.
    lifecycle: Lifecycle
    statuses: tuple[str, ...] = ()
    registered_at: datetime | None = None
    expires_at: datetime | None = None
    error: str | None = None
    # Where the answer came from (the final URL), for the audit trail.
    source: str | None = None
    # False when the answer came through a redirect: then it is not the registry's own word, and
    # the checker lets it confirm only that a domain is still held (active or grace).
    authoritative: bool = True
    # The service asked: the RDAP base URL the bootstrap file names, or Domainr's base URL.
    service: str | None = None
    # The service refused the credentials sent (HTTP 401 or 403): a rotated key to read again.
    credentials_refused: bool = False

    def bounded(self) -> Observation:
        """This observation within the caps: doubt if its statuses are over them, its error and
        source cut to `MAX_TEXT`."""
        error, source = _cut(self.error), _cut(self.source)
        if len(self.statuses) > MAX_STATUSES or any(len(s) > MAX_STATUS_LENGTH for s in self.statuses):
            why = (
                f"the answer has {len(self.statuses)} statuses, over the cap of {MAX_STATUSES}"
                if len(self.statuses) > MAX_STATUSES
                else f"the answer has a status over the cap of {MAX_STATUS_LENGTH} characters"
            )
            return Observation.doubt(self.provider, why, source=source, service=_cut(self.service))
        if (error, source) == (self.error, self.source):
            return self
        return replace(self, error=error, source=source)

    @classmethod
    def doubt(
        cls, provider: str, error: str, source: str | None = None, service: str | None = None
    ) -> Observation:
        return cls(
            provider=provider, lifecycle=Lifecycle.UNKNOWN, error=error, source=source, service=service
        )


def _cut(text: str | None) -> str | None:
    if text is None or len(text) <= MAX_TEXT:
        return text
    return text[:MAX_TEXT] + "…"


class StatusProvider(Protocol):
    name: str

    def serves(self, domain: str) -> bool:
        """Whether this provider can look up `domain` at all (RDAP: its TLD has a server)."""
        ...

    def why_unserved(self, domain: str) -> str | None:
        """Why a domain this provider does not serve is not served, when there is more to say than
        that its TLD is not listed (RDAP: every base URL named for it was refused)."""
        ...

    def lookup(self, domain: str, *, deadline: float | None = None) -> Observation:
        """Look up a registrable A-label domain.

        `deadline` is a time.monotonic() value the lookup must finish by, retries included.
        """
        ...
