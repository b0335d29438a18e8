"""What the DNS witness says about a domain's delegation, and what any witness must answer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

# The witness gives up within this many seconds, over every server and retry it tries.
WITNESS_BUDGET = 10.0


@dataclass(frozen=True, slots=True)
class DnsEvidence:
    """What the zone above a domain said about its delegation."""

    # True: still delegated; False: denied; None: no server answered (doubt).
    delegated: bool | None
    servers_asked: tuple[str, ...]
    # True: the denial (or the zone's keys) validated from the trust anchor; False for an
    # unsigned zone, or a signed one whose proof did not validate; None when nothing was read.
    validated: bool | None
    reason: str
    # Whether the zone that answered is signed (so that an unvalidated denial from it is doubt).
    signed: bool | None = None
    zone: str | None = None
    name_servers: tuple[str, ...] = ()

    @property
    def confirms_lapse(self) -> bool:
        """The zone denies the name, and that denial can be believed."""
        return self.delegated is False and (self.validated is True or self.signed is False)

    def to_dict(self) -> dict:
        return {
            "delegated": self.delegated,
            "servers_asked": list(self.servers_asked),
            "validated": self.validated,
            "reason": self.reason,
            "signed": self.signed,
            "zone": self.zone,
            "name_servers": list(self.name_servers),
        }


class DelegationWitness(Protocol):
    def delegation(self, domain: str, *, deadline: float | None = None) -> DnsEvidence:
        """Ask the zone above `domain` whether it delegates it; never raises for a bad answer.

        `deadline` is a time.monotonic() value; the witness also keeps its own budget.
        """
        ...
