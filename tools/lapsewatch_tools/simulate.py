"""A year of domain lifecycles, watched by lapsewatch and by a model of PyPI's policy, side by side.

`simulate()` builds a seeded population of domains behind verified addresses, lets their
lifecycles play out on a simulated clock, and runs two policies over the same world:

* **lapsewatch**: its real code. A daily run checks each domain that `sweep.schedule.is_due`
  says is due, with the real `DomainChecker` (classification, dates, the confirming second
  lookup, on a simulated clock) and `lifecycle.DEFAULT_UNSAFE`, then schedules the next check
  with the real `sweep.schedule.next_check_at`, as `sweep.checking` does. An unsafe verdict
  unverifies the domain's addresses (for `reregistered`, only those verified before the new
  registration, as the sweep's `verified_before` does); a domain with no verified address left
  leaves the registry's listing and is not checked again. lapsewatch starts cold, as on its
  first deployment: every domain is new on the first day and checked at once.
* **PyPI**: a model of Warehouse's `batch_update_email_domain_status` and
  `unverify_emails_with_expired_domains` tasks (warehouse/accounts/tasks.py), as below.

The world
---------
Each domain has one expiry date in the year, uniform over it (every earlier one was renewed, so
no domain is in its grace or later at the start), and one story: renewed on time (between 30
days before and the moment of expiry), renewed late in the 45-day auto-renew grace, lapsed
(deleted by the registrar at a random point of the grace), or deleted early by its holder (at
a random time before expiry). A deleted domain spends 30
days in redemption and 5 in pending delete, then drops; a share of the dropped domains is
registered again by someone else, half by drop-catchers within the hour and the rest within a
week. Independently, a few domains spend 3 to 60 days in client hold. What an RDAP server
shows, at each moment, follows from those dates: statuses, registration and expiry dates, and a
404 once dropped. Each lookup fails at `error_rate` (a timeout, say), independently.

Addresses per domain are heavy-tailed (Pareto, a few domains with hundreds), each verified at
a random time in the eight years before the simulation; the domain was registered before its
first address was verified.

The PyPI model, and its assumptions
-----------------------------------
* One task run a day at 04:00 UTC (Warehouse's crontab), then the unverify task at 04:15.
* An address is due when its last check is 30 or more days old, counted in whole days. (In
  Warehouse a check at 04:00:05 is not yet "older than 30 days" at 04:00:00 thirty days later,
  so the real cycle is often 31 days; the model gives PyPI the shorter one.)
* At most `pypi_batch_limit` (1,000) addresses per run, oldest check first; one Domainr lookup
  per address, no sharing between addresses at one domain, no confirmation. Unverified
  addresses are checked too: Warehouse's query does not filter on `verified`.
* At the start every address was last checked 1 to 30 days ago (a programme already running)
  and found active.
* Domainr's answer from the world's state: registered or on hold "active" (assumed: a held
  domain leaves the DNS zone and might show "undelegated", which would only add to PyPI's false
  alarms), auto-renew grace "expiring", redemption or pending delete "deleting", dropped
  "undelegated inactive", registered again by someone else "active", a transient error
  "unknown". Warehouse stores the status and the unverify task unverifies (at most 1,000 a run)
  every verified address whose last status has any of undelegated, inactive, expiring,
  deleting or unknown. (When the HTTP request itself fails, current Warehouse keeps the old
  status and retries in about 7 days; the model's transient errors are Domainr answering
  "unknown", as the issue describes.)
* Unverified addresses stay unverified: re-verification by their owners is not modelled.

Measures, the same for both policies
------------------------------------
* lookups: every request to RDAP or Domainr, confirmations included.
* daily baseline: domains x days, the lookups of checking every domain once a day.
* busiest day: the most lookups in one day's run (what rate limits feel).
* lapse: a domain deleted (entering redemption) during the simulated period; the lapse moment
  is that entry, for a lapse after its grace and for an early deletion alike.
* a lapse is caught when all its addresses are unverified: before the drop; after the drop but
  before anyone registered it again; only after someone else registered it (lapsewatch's
  `reregistered`); missed when an address is still verified at the end with the domain dropped
  or held by someone else; open when the drop is still ahead at the end and not yet caught.
* days from lapse to unverification: from the lapse moment to the moment its last address was
  unverified, for caught lapses (median and slowest); negative when a policy unverified during
  the grace (PyPI's "expiring").
* falsely unverified: an address unverified at a domain that never leaves its holder (renewed,
  on time or late, perhaps on hold for a while); counted apart, those unverified while their
  domain was in its grace (the rest, for the PyPI model, are transient errors).
* re-registrations: domains registered by someone else before the end; exposed when an
  address was still verified at that moment, missed when one still is at the end.
"""

from __future__ import annotations

import heapq
import math
import random
import statistics
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from lapsewatch.check import DomainChecker
from lapsewatch.lifecycle import DEFAULT_UNSAFE, Lifecycle, lifecycle_from_statuses
from lapsewatch.providers import Observation
from lapsewatch.sweep.schedule import is_due, next_check_at
from lapsewatch.timefmt import rfc3339
from lapsewatch_tools.report import table

SIMULATION_START = datetime(2026, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)
YEAR = timedelta(days=365)

# gTLD lifecycle periods (ICANN's Expired Registration Recovery Policy and the RGP).
AUTO_RENEW_GRACE = timedelta(days=45)
REDEMPTION = timedelta(days=30)
PENDING_DELETE = timedelta(days=5)

LAPSEWATCH_RUN_TIME = timedelta(hours=6)
PYPI_CHECK_TIME = timedelta(hours=4)
PYPI_UNVERIFY_TIME = timedelta(hours=4, minutes=15)
PYPI_CHECK_INTERVAL_DAYS = 30
PYPI_BATCH_LIMIT = 1_000
PYPI_UNVERIFY_LIMIT = 1_000
PYPI_UNSAFE_TOKENS = frozenset({"undelegated", "inactive", "expiring", "deleting", "unknown"})

# Addresses per domain: Pareto-distributed, so most domains have one or two and a few hundreds.
ADDRESS_TAIL = 1.4
MAX_ADDRESSES = 1_000
VERIFIED_WITHIN = timedelta(days=8 * 365)
LOOKUP_TARGET_FRACTION = 0.20

ScheduleFunction = Callable[..., datetime]


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


@dataclass(slots=True)
class PolicyLog:
    """What one policy did: its lookups, and when it unverified each address."""

    lookups: int = 0
    busiest_day_lookups: int = 0
    # unverified_at[domain index][address index], None while verified
    unverified_at: list[list[datetime | None]] = field(default_factory=list)

    @classmethod
    def for_population(cls, population: Sequence[Domain]) -> PolicyLog:
        return cls(unverified_at=[[None] * len(d.verified_at) for d in population])


def run_lapsewatch(
    population: Sequence[Domain],
    *,
    days: int,
    error_rate: float,
    errors: random.Random,
    unsafe: frozenset[Lifecycle] = DEFAULT_UNSAFE,
    schedule: ScheduleFunction = next_check_at,
) -> PolicyLog:
    """lapsewatch's daily runs over the population, with its real checker and schedule."""
    log = PolicyLog.for_population(population)
    clock = SimulatedClock(SIMULATION_START)
    world = {d.name: d for d in population}
    provider = SimulatedRdap(world, clock, error_rate=error_rate, errors=errors)
    checker = DomainChecker(
        provider, unsafe=unsafe, clock=clock.clock, monotonic=clock.monotonic, sleep=clock.sleep
    )
    # The last evidence of expiry, kept through errors as the sweep's domain state keeps it.
    expires_seen: list[datetime | None] = [None] * len(population)
    # (next check, domain index); every domain is new at the start, so due at once.
    due: list[tuple[datetime | None, int]] = [(None, index) for index in range(len(population))]

    for day in range(days):
        run_at = SIMULATION_START + day * DAY + LAPSEWATCH_RUN_TIME
        # A run's confirmations move the clock on by seconds; the next run starts on time.
        clock.now = max(clock.now, run_at)
        lookups_before = provider.lookups
        checked: list[int] = []
        while due and is_due(due[0][0], run_at):
            checked.append(heapq.heappop(due)[1])
        for index in checked:
            domain = population[index]
            unverified = log.unverified_at[index]
            oldest_verified = min(
                (v for v, gone in zip(domain.verified_at, unverified, strict=True) if gone is None),
                default=None,
            )
            result = checker.check_domain(domain.name, oldest_verified)
            now = clock.now
            if result.lifecycle is not Lifecycle.UNKNOWN:
                expires_seen[index] = result.expires_at
            if result.unsafe:
                # For a new registration, only the addresses verified before it: a new holder's
                # own addresses stay verified.
                before = result.registered_at if result.lifecycle is Lifecycle.REREGISTERED else None
                for position, verified_at in enumerate(domain.verified_at):
                    if unverified[position] is None and (before is None or verified_at < before):
                        unverified[position] = now
            if any(gone is None for gone in unverified):
                next_check = schedule(
                    domain.name,
                    result.lifecycle,
                    expires_at=expires_seen[index],
                    now=now,
                    unsafe=checker.unsafe,
                )
                heapq.heappush(due, (next_check, index))
        log.busiest_day_lookups = max(log.busiest_day_lookups, provider.lookups - lookups_before)
    log.lookups = provider.lookups
    return log


def run_pypi(
    population: Sequence[Domain],
    *,
    days: int,
    error_rate: float,
    errors: random.Random,
    start_checks: random.Random,
    batch_limit: int = PYPI_BATCH_LIMIT,
) -> PolicyLog:
    """The PyPI model (see the module docstring): per address, every 30 days, at most
    `batch_limit` a run, unverified on any of Domainr's doubtful or bad tokens."""
    log = PolicyLog.for_population(population)
    addresses = [(d, a) for d, domain in enumerate(population) for a in range(len(domain.verified_at))]
    # The day of each address's last check; the queue holds them oldest check first, and
    # stays so, because each run's checks go to its back.
    last_checked = {address: -start_checks.randint(1, PYPI_CHECK_INTERVAL_DAYS) for address in addresses}
    queue = deque(sorted(addresses, key=last_checked.__getitem__))
    # Verified addresses whose last status has a bad token, waiting for the unverify task.
    flagged: set[tuple[int, int]] = set()

    for day in range(days):
        checked_at = SIMULATION_START + day * DAY + PYPI_CHECK_TIME
        checks = 0
        while queue and checks < batch_limit and last_checked[queue[0]] <= day - PYPI_CHECK_INTERVAL_DAYS:
            address = queue.popleft()
            checks += 1
            if errors.random() < error_rate:
                tokens: tuple[str, ...] = ("unknown",)
            else:
                tokens = domainr_status(population[address[0]], checked_at)
            last_checked[address] = day
            queue.append(address)
            if PYPI_UNSAFE_TOKENS.intersection(tokens):
                if log.unverified_at[address[0]][address[1]] is None:
                    flagged.add(address)
            else:
                flagged.discard(address)
        log.lookups += checks
        log.busiest_day_lookups = max(log.busiest_day_lookups, checks)

        unverify_at = SIMULATION_START + day * DAY + PYPI_UNVERIFY_TIME
        oldest_first = sorted(flagged, key=lambda address: (last_checked[address], address))
        for domain_index, position in oldest_first[:PYPI_UNVERIFY_LIMIT]:
            log.unverified_at[domain_index][position] = unverify_at
            flagged.discard((domain_index, position))
    return log


@dataclass(frozen=True, slots=True)
class PolicyMetrics:
    """One policy's results, measured as the module docstring defines them."""

    lookups: int
    lookups_of_daily: float  # lookups / daily baseline
    busiest_day_lookups: int
    lapses: int
    caught_before_drop: int
    caught_after_drop: int
    caught_after_reregistration: int
    missed: int
    open_at_end: int
    median_days_to_unverify: float | None
    slowest_days_to_unverify: float | None
    addresses_falsely_unverified: int
    domains_falsely_unverified: int
    # Of the addresses, those unverified while their domain was in its grace (renewed later).
    falsely_unverified_in_grace: int
    reregistrations: int
    reregistrations_exposed: int
    reregistrations_missed: int


def measure(population: Sequence[Domain], log: PolicyLog, *, days: int) -> PolicyMetrics:
    end = SIMULATION_START + days * DAY
    outcomes = {"before_drop": 0, "after_drop": 0, "after_reregistration": 0, "missed": 0, "open": 0}
    days_to_unverify: list[float] = []
    falsely_unverified = domains_falsely_unverified = falsely_in_grace = 0
    reregistrations = exposed = reregistrations_missed = 0

    for domain, unverified in zip(population, log.unverified_at, strict=True):
        caught_at = None if None in unverified else max(unverified)  # type: ignore[type-var]
        if domain.deleted_at is None:
            wrong = [gone for gone in unverified if gone is not None]
            falsely_unverified += len(wrong)
            domains_falsely_unverified += bool(wrong)
            falsely_in_grace += sum(domain.phase(gone) is Phase.GRACE for gone in wrong)
            continue

        rereg = domain.reregistered_at
        if rereg is not None and rereg < end:
            reregistrations += 1
            still_verified = [
                gone is None or gone > rereg
                for verified_at, gone in zip(domain.verified_at, unverified, strict=True)
                if verified_at < rereg
            ]
            exposed += any(still_verified)
            reregistrations_missed += caught_at is None

        if not SIMULATION_START <= domain.deleted_at < end:
            continue
        dropped_at = domain.dropped_at
        assert dropped_at is not None
        if caught_at is None:
            outcomes["missed" if dropped_at < end else "open"] += 1
            continue
        days_to_unverify.append((caught_at - domain.deleted_at) / DAY)
        if caught_at < dropped_at:
            outcomes["before_drop"] += 1
        elif rereg is None or caught_at < rereg:
            outcomes["after_drop"] += 1
        else:
            outcomes["after_reregistration"] += 1

    baseline = daily_baseline(len(population), days)
    return PolicyMetrics(
        lookups=log.lookups,
        lookups_of_daily=log.lookups / baseline if baseline else 0.0,
        busiest_day_lookups=log.busiest_day_lookups,
        lapses=sum(outcomes.values()),
        caught_before_drop=outcomes["before_drop"],
        caught_after_drop=outcomes["after_drop"],
        caught_after_reregistration=outcomes["after_reregistration"],
        missed=outcomes["missed"],
        open_at_end=outcomes["open"],
        median_days_to_unverify=round(statistics.median(days_to_unverify), 2) if days_to_unverify else None,
        slowest_days_to_unverify=round(max(days_to_unverify), 2) if days_to_unverify else None,
        addresses_falsely_unverified=falsely_unverified,
        domains_falsely_unverified=domains_falsely_unverified,
        falsely_unverified_in_grace=falsely_in_grace,
        reregistrations=reregistrations,
        reregistrations_exposed=exposed,
        reregistrations_missed=reregistrations_missed,
    )


def daily_baseline(domains: int, days: int) -> int:
    """The lookups of checking every domain once a day for the whole period."""
    return domains * days


@dataclass(frozen=True, slots=True)
class PopulationStats:
    domains: int
    addresses: int
    largest_domain: int
    stories: dict[str, int]
    on_hold: int
    reregistered: int

    @classmethod
    def of(cls, population: Sequence[Domain]) -> PopulationStats:
        stories: dict[str, int] = {}
        for domain in population:
            stories[domain.story] = stories.get(domain.story, 0) + 1
        return cls(
            domains=len(population),
            addresses=sum(len(d.verified_at) for d in population),
            largest_domain=max((len(d.verified_at) for d in population), default=0),
            stories=dict(sorted(stories.items())),
            on_hold=sum(d.hold is not None for d in population),
            reregistered=sum(d.reregistered_at is not None for d in population),
        )


@dataclass(frozen=True, slots=True)
class SimulationReport:
    parameters: dict
    population: PopulationStats
    daily_baseline_lookups: int
    lapsewatch: PolicyMetrics
    pypi: PolicyMetrics

    @property
    def targets(self) -> dict[str, bool]:
        """lapsewatch's targets: every lapse caught before its drop or, failing that, as
        `reregistered`; no false unverification; at most 20% of the daily baseline's lookups."""
        ours = self.lapsewatch
        return {
            "every_lapse_caught": ours.missed == 0 and ours.caught_after_drop == 0,
            "no_false_unverifications": ours.addresses_falsely_unverified == 0,
            "lookups_within_20_percent_of_daily": ours.lookups_of_daily <= LOOKUP_TARGET_FRACTION,
        }

    def to_dict(self) -> dict:
        return {
            "parameters": self.parameters,
            "population": asdict(self.population),
            "daily_baseline_lookups": self.daily_baseline_lookups,
            "lapsewatch": asdict(self.lapsewatch),
            "pypi": asdict(self.pypi),
            "targets": self.targets,
        }

    def table(self) -> str:
        ours, pypi = self.lapsewatch, self.pypi

        def both(name: str) -> tuple[object, object]:
            return getattr(ours, name), getattr(pypi, name)

        rows = [
            ("lookups", *both("lookups")),
            (
                "  of checking every domain daily",
                f"{ours.lookups_of_daily:.1%}",
                f"{pypi.lookups_of_daily:.1%}",
            ),
            ("  on the busiest day", *both("busiest_day_lookups")),
            ("lapses (deleted during the period)", *both("lapses")),
            ("  caught before the drop", *both("caught_before_drop")),
            ("  caught after the drop, before re-registration", *both("caught_after_drop")),
            ("  caught only after re-registration", *both("caught_after_reregistration")),
            ("  missed (still verified at the end)", *both("missed")),
            ("  open (drop still ahead at the end)", *both("open_at_end")),
            ("days from lapse to unverified: median", *both("median_days_to_unverify")),
            ("  slowest", *both("slowest_days_to_unverify")),
            ("addresses falsely unverified", *both("addresses_falsely_unverified")),
            ("  at domains", *both("domains_falsely_unverified")),
            ("  while in grace, renewed later", *both("falsely_unverified_in_grace")),
            ("re-registrations by someone else", *both("reregistrations")),
            ("  an address verified at that moment", *both("reregistrations_exposed")),
            ("  missed (still verified at the end)", *both("reregistrations_missed")),
        ]
        population = self.population
        stories = ", ".join(f"{count} {story}" for story, count in population.stories.items())
        summary = (
            f"{population.domains} domains, {population.addresses} verified addresses (largest "
            f"domain {population.largest_domain}), {self.parameters['days']} days from "
            f"{self.parameters['start']}: {stories}; {population.on_hold} on hold for a while, "
            f"{population.reregistered} taken by someone else after their drop (some after the end)"
        )
        targets = ", ".join(f"{name} {'yes' if met else 'NO'}" for name, met in self.targets.items())
        return "\n".join(
            [
                summary,
                "",
                table(("", "lapsewatch", "PyPI model"), rows),
                "",
                f"lapsewatch targets: {targets}",
            ]
        )


def simulate(
    domains: int = 2000,
    days: int = 365,
    seed: int = 7,
    error_rate: float = 0.005,
    *,
    shares: PopulationShares = PopulationShares(),
    pypi_batch_limit: int = PYPI_BATCH_LIMIT,
    schedule: ScheduleFunction = next_check_at,
) -> SimulationReport:
    """Generate a population and run both policies over it."""
    population = generate_population(domains, seed=seed, shares=shares)
    parameters = {
        "domains": domains,
        "days": days,
        "seed": seed,
        "error_rate": error_rate,
        "shares": asdict(shares),
        "pypi_batch_limit": pypi_batch_limit,
    }
    return simulate_population(
        population,
        days=days,
        seed=seed,
        error_rate=error_rate,
        pypi_batch_limit=pypi_batch_limit,
        schedule=schedule,
        parameters=parameters,
    )


def simulate_population(
    population: Sequence[Domain],
    *,
    days: int,
    seed: int,
    error_rate: float,
    pypi_batch_limit: int = PYPI_BATCH_LIMIT,
    schedule: ScheduleFunction = next_check_at,
    parameters: dict | None = None,
) -> SimulationReport:
    """Run both policies over a given population (generated, or built by hand for a scenario)."""
    if days < 1:
        raise ValueError("the simulation needs at least one day")
    if not 0 <= error_rate <= 1:
        raise ValueError("the error rate is a fraction between 0 and 1")
    # Each policy draws its errors from its own stream, so one policy's lookups do not shift
    # the other's luck.
    lapsewatch_log = run_lapsewatch(
        population,
        days=days,
        error_rate=error_rate,
        errors=random.Random(f"{seed}:lapsewatch-errors"),
        schedule=schedule,
    )
    pypi_log = run_pypi(
        population,
        days=days,
        error_rate=error_rate,
        errors=random.Random(f"{seed}:pypi-errors"),
        start_checks=random.Random(f"{seed}:pypi-start"),
        batch_limit=pypi_batch_limit,
    )
    parameters = {
        **(parameters or {"domains": len(population), "days": days, "seed": seed, "error_rate": error_rate}),
        "start": rfc3339(SIMULATION_START),
    }
    return SimulationReport(
        parameters=parameters,
        population=PopulationStats.of(population),
        daily_baseline_lookups=daily_baseline(len(population), days),
        lapsewatch=measure(population, lapsewatch_log, days=days),
        pypi=measure(population, pypi_log, days=days),
    )
