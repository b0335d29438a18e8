"""The simulated world: a seeded population of domains, their lifecycles as dates, the clock
lapsewatch's checker runs on, and what RDAP and Domainr answer at each moment, transient lookup
errors included. docs/simulator.md describes it."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from lapsewatch.lifecycle import Lifecycle, lifecycle_from_statuses
from lapsewatch.providers import Observation

SIMULATION_START = datetime(2026, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)
YEAR = timedelta(days=365)

# gTLD lifecycle periods (ICANN's Expired Registration Recovery Policy and the RGP).
AUTO_RENEW_GRACE = timedelta(days=45)
REDEMPTION = timedelta(days=30)
PENDING_DELETE = timedelta(days=5)

# Addresses per domain: Pareto-distributed, so most domains have one or two and a few hundreds.
ADDRESS_TAIL = 1.4
MAX_ADDRESSES = 1_000
VERIFIED_WITHIN = timedelta(days=8 * 365)


class Phase(StrEnum):
    """Where a domain is in its life at one moment."""

    REGISTERED = "registered"
    GRACE = "grace"
    REDEMPTION = "redemption"
    PENDING_DELETE = "pending_delete"
    DROPPED = "dropped"
    NEW_HOLDER = "new_holder"


@dataclass(frozen=True, slots=True)
class Domain:
    """One domain's whole story, as dates; its state at any moment follows from them."""

    name: str
    registered_at: datetime
    expires_at: datetime
    verified_at: tuple[datetime, ...]  # one per verified address
    renewed_at: datetime | None = None
    deleted_at: datetime | None = None
    reregistered_at: datetime | None = None
    hold: tuple[datetime, datetime] | None = None

    @property
    def dropped_at(self) -> datetime | None:
        return self.deleted_at + REDEMPTION + PENDING_DELETE if self.deleted_at else None

    @property
    def story(self) -> str:
        if self.deleted_at is not None:
            return "deleted early" if self.deleted_at < self.expires_at else "lapsed"
        if self.renewed_at is not None and self.renewed_at > self.expires_at:
            return "renewed late"
        return "renewed"

    def phase(self, at: datetime) -> Phase:
        if self.reregistered_at is not None and at >= self.reregistered_at:
            return Phase.NEW_HOLDER
        if self.deleted_at is not None and at >= self.deleted_at:
            since = at - self.deleted_at
            if since >= REDEMPTION + PENDING_DELETE:
                return Phase.DROPPED
            return Phase.PENDING_DELETE if since >= REDEMPTION else Phase.REDEMPTION
        if at >= self.expires_at and (self.renewed_at is None or at < self.renewed_at):
            return Phase.GRACE
        return Phase.REGISTERED

    def on_hold(self, at: datetime) -> bool:
        return self.hold is not None and self.hold[0] <= at < self.hold[1]

    def expiry_seen_at(self, at: datetime) -> datetime:
        """The expiry date the registry shows: after a renewal, the next anniversary ahead
        (the domain auto-renews every year after), else this year's expiry."""
        if self.renewed_at is None or at < self.renewed_at:
            return self.expires_at
        years = max(1, math.floor((at - self.expires_at) / YEAR) + 1)
        return self.expires_at + years * YEAR


@dataclass(frozen=True, slots=True)
class PopulationShares:
    """The share of domains living each story; the rest renew on time."""

    renewed_late: float = 0.06
    lapsed: float = 0.05
    deleted_early: float = 0.02
    on_hold: float = 0.02
    # Of the dropped domains, the share someone else registers again.
    reregistered: float = 0.4

    def __post_init__(self) -> None:
        if self.renewed_late + self.lapsed + self.deleted_early > 1:
            raise ValueError("the shares of late renewals, lapses and early deletions exceed 1")


# The shares `simulate()` uses unless told otherwise.
DEFAULT_SHARES = PopulationShares()


def generate_population(
    domains: int, *, seed: int, shares: PopulationShares = PopulationShares()
) -> list[Domain]:
    rng = random.Random(seed)
    return [_random_domain(rng, index, shares) for index in range(domains)]


def _random_domain(rng: random.Random, index: int, shares: PopulationShares) -> Domain:
    def days(low: float, high: float) -> timedelta:
        return timedelta(days=rng.uniform(low, high))

    addresses = min(MAX_ADDRESSES, int(rng.paretovariate(ADDRESS_TAIL)))
    verified_at = tuple(sorted(SIMULATION_START - VERIFIED_WITHIN * rng.random() for _ in range(addresses)))
    registered_at = verified_at[0] - days(30, 10 * 365)
    expires_at = SIMULATION_START + days(0, 365)

    renewed_at = deleted_at = None
    story = rng.random()
    if story < shares.renewed_late:
        renewed_at = expires_at + days(0.25, 44)
    elif story < shares.renewed_late + shares.lapsed:
        deleted_at = expires_at + days(1, AUTO_RENEW_GRACE.days)
    elif story < shares.renewed_late + shares.lapsed + shares.deleted_early:
        deleted_at = SIMULATION_START + (expires_at - SIMULATION_START) * rng.random()
    else:
        renewed_at = expires_at - days(0, 30)

    reregistered_at = None
    if deleted_at is not None and rng.random() < shares.reregistered:
        dropped_at = deleted_at + REDEMPTION + PENDING_DELETE
        drop_catch = rng.random() < 0.5
        reregistered_at = dropped_at + (days(0, 1 / 24) if drop_catch else days(1 / 24, 7))

    hold = None
    if rng.random() < shares.on_hold:
        held_from = SIMULATION_START + days(0, 365)
        hold = (held_from, held_from + days(3, 60))

    return Domain(
        name=f"lapse-sim-{index:05d}.com",
        registered_at=registered_at,
        expires_at=expires_at,
        verified_at=verified_at,
        renewed_at=renewed_at,
        deleted_at=deleted_at,
        reregistered_at=reregistered_at,
        hold=hold,
    )


class SimulatedClock:
    """Wall clock, monotonic clock and sleep for DomainChecker, all on simulated time."""

    def __init__(self, start: datetime) -> None:
        self.now = start
        self._start = start

    def clock(self) -> datetime:
        return self.now

    def monotonic(self) -> float:
        return (self.now - self._start).total_seconds()

    def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class SimulatedRdap:
    """A StatusProvider answering from the simulated world, with RDAP's evidence."""

    name = "simulated-rdap"

    def __init__(
        self, world: dict[str, Domain], clock: SimulatedClock, *, error_rate: float, errors: random.Random
    ) -> None:
        self.world = world
        self.clock = clock
        self.error_rate = error_rate
        self.errors = errors
        self.lookups = 0

    def serves(self, domain: str) -> bool:
        return True  # the simulated world has one registry for every name

    def why_unserved(self, domain: str) -> str | None:
        return None

    def lookup(self, domain: str, *, deadline: float | None = None) -> Observation:
        self.lookups += 1
        if self.errors.random() < self.error_rate:
            return Observation.doubt(self.name, "simulated transient error: read timed out")
        return rdap_observation(self.world[domain], self.clock.now, provider=self.name)


_RDAP_STATUSES = {
    Phase.REGISTERED: ("client transfer prohibited",),
    Phase.GRACE: ("client transfer prohibited", "auto renew period"),
    Phase.REDEMPTION: ("redemption period", "pending delete"),
    Phase.PENDING_DELETE: ("pending delete",),
    Phase.NEW_HOLDER: ("client transfer prohibited",),
}


def rdap_observation(domain: Domain, at: datetime, *, provider: str) -> Observation:
    """What an RDAP server shows for `domain` at `at`: its statuses, read by lapsewatch's own
    `lifecycle_from_statuses` as the RDAP provider reads them, and its dates, which the checker
    applies."""
    phase = domain.phase(at)
    if phase is Phase.DROPPED:
        # The registry's own 404.
        return Observation(provider=provider, lifecycle=Lifecycle.UNREGISTERED)
    statuses = _RDAP_STATUSES[phase]
    if phase is Phase.NEW_HOLDER:
        assert domain.reregistered_at is not None
        registered_at, expires_at = domain.reregistered_at, domain.reregistered_at + YEAR
    else:
        registered_at, expires_at = domain.registered_at, domain.expiry_seen_at(at)
        if phase in (Phase.REGISTERED, Phase.GRACE) and domain.on_hold(at):
            statuses = (*statuses, "client hold")
    return Observation(
        provider=provider,
        lifecycle=lifecycle_from_statuses(statuses),
        statuses=statuses,
        registered_at=registered_at,
        expires_at=expires_at,
    )


_DOMAINR_TOKENS = {
    Phase.REGISTERED: ("active",),
    Phase.GRACE: ("expiring",),
    Phase.REDEMPTION: ("deleting",),
    Phase.PENDING_DELETE: ("deleting",),
    Phase.DROPPED: ("undelegated", "inactive"),
    Phase.NEW_HOLDER: ("active",),
}


def domainr_status(domain: Domain, at: datetime) -> tuple[str, ...]:
    return _DOMAINR_TOKENS[domain.phase(at)]
