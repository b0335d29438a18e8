"""The two policies run over the simulated world: lapsewatch's real checker and schedule, and a
model of PyPI's (Warehouse's) domain-status tasks. docs/simulator.md describes both."""

from __future__ import annotations

import heapq
import random
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from lapsewatch.check import DomainChecker
from lapsewatch.lifecycle import DEFAULT_UNSAFE, Lifecycle
from lapsewatch.sweep.notices import notice_for
from lapsewatch.sweep.records import DomainState
from lapsewatch.sweep.schedule import is_due, next_check_at
from lapsewatch.sweep.settings import DEFAULT_NOTICE_STAGES
from lapsewatch_tools.simulate.world import (
    DAY,
    SIMULATION_START,
    Domain,
    SimulatedClock,
    SimulatedRdap,
    domainr_status,
)

LAPSEWATCH_RUN_TIME = timedelta(hours=6)
PYPI_CHECK_TIME = timedelta(hours=4)
PYPI_UNVERIFY_TIME = timedelta(hours=4, minutes=15)
PYPI_CHECK_INTERVAL_DAYS = 30
PYPI_BATCH_LIMIT = 1_000
PYPI_UNVERIFY_LIMIT = 1_000
PYPI_UNSAFE_TOKENS = frozenset({"undelegated", "inactive", "expiring", "deleting", "unknown"})

ScheduleFunction = Callable[..., datetime]


@dataclass(slots=True)
class PolicyLog:
    """What one policy did: its lookups, when it unverified each address, and when it warned
    each domain's owners."""

    lookups: int = 0
    busiest_day_lookups: int = 0
    # unverified_at[domain index][address index], None while verified
    unverified_at: list[list[datetime | None]] = field(default_factory=list)
    # notified_at[domain index]: the moments of its early-warning notices, oldest first
    notified_at: list[list[datetime]] = field(default_factory=list)

    @classmethod
    def for_population(cls, population: Sequence[Domain]) -> PolicyLog:
        return cls(
            unverified_at=[[None] * len(d.verified_at) for d in population],
            notified_at=[[] for _ in population],
        )


def run_lapsewatch(
    population: Sequence[Domain],
    *,
    days: int,
    error_rate: float,
    errors: random.Random,
    unsafe: frozenset[Lifecycle] = DEFAULT_UNSAFE,
    schedule: ScheduleFunction = next_check_at,
    notice_stages: frozenset[Lifecycle] = DEFAULT_NOTICE_STAGES,
) -> PolicyLog:
    """lapsewatch's daily runs over the population, with its real checker, schedule and
    early-warning notices."""
    clock = SimulatedClock(SIMULATION_START)
    world = {d.name: d for d in population}
    provider = SimulatedRdap(world, clock, error_rate=error_rate, errors=errors)
    checker = DomainChecker(
        provider,
        unsafe=unsafe,
        confirm=notice_stages,
        clock=clock.clock,
        monotonic=clock.monotonic,
        sleep=clock.sleep,
    )
    runs = _LapsewatchRuns(population, checker, clock, schedule, notice_stages)
    log = runs.log
    for day in range(days):
        run_at = SIMULATION_START + day * DAY + LAPSEWATCH_RUN_TIME
        # A run's confirmations move the clock on by seconds; the next run starts on time.
        clock.now = max(clock.now, run_at)
        lookups_before = provider.lookups
        runs.run(run_at)
        log.busiest_day_lookups = max(log.busiest_day_lookups, provider.lookups - lookups_before)
    log.lookups = provider.lookups
    return log


class _LapsewatchRuns:
    """lapsewatch's runs, one a day, and what the sweep keeps between them."""

    def __init__(
        self,
        population: Sequence[Domain],
        checker: DomainChecker,
        clock: SimulatedClock,
        schedule: ScheduleFunction,
        notice_stages: frozenset[Lifecycle],
    ) -> None:
        self.population = population
        self.checker = checker
        self.clock = clock
        self.schedule = schedule
        self.notice_stages = notice_stages
        self.log = PolicyLog.for_population(population)
        # The last evidence of expiry, kept through errors as the sweep's domain state keeps it.
        self.expires_seen: list[datetime | None] = [None] * len(population)
        # Each domain's last notice (its Idempotency-Key, when), as the sweep's domain state keeps it.
        self.noticed = [DomainState(d.name) for d in population]
        # (next check, domain index); every domain is new at the start, so due at once.
        self.due: list[tuple[datetime | None, int]] = [(None, index) for index in range(len(population))]

    def run(self, run_at: datetime) -> None:
        """The run at `run_at`: every domain due then is checked."""
        checked: list[int] = []
        while self.due and is_due(self.due[0][0], run_at):
            checked.append(heapq.heappop(self.due)[1])
        for index in checked:
            self._check(index)

    def _check(self, index: int) -> None:
        """Check one domain; warn, unverify and schedule its next check as the sweep would."""
        domain = self.population[index]
        unverified = self.log.unverified_at[index]
        oldest_verified = min(
            (v for v, gone in zip(domain.verified_at, unverified, strict=True) if gone is None),
            default=None,
        )
        result = self.checker.check_domain(domain.name, oldest_verified)
        now = self.clock.now
        if result.lifecycle is not Lifecycle.UNKNOWN:
            self.expires_seen[index] = result.expires_at
        noticed = self.noticed[index]
        if notice := notice_for(result, noticed, self.notice_stages, protected=frozenset(), now=now):
            noticed.notice_key, noticed.noticed_at = notice.idempotency_key, now
            self.log.notified_at[index].append(now)
        if result.unsafe:
            # For a new registration, only the addresses verified before it: a new holder's
            # own addresses stay verified.
            before = result.registered_at if result.lifecycle is Lifecycle.REREGISTERED else None
            for position, verified_at in enumerate(domain.verified_at):
                if unverified[position] is None and (before is None or verified_at < before):
                    unverified[position] = now
        if any(gone is None for gone in unverified):
            next_check = self.schedule(
                domain.name,
                result.lifecycle,
                expires_at=self.expires_seen[index],
                now=now,
                unsafe=self.checker.unsafe,
            )
            heapq.heappush(self.due, (next_check, index))


def run_pypi(
    population: Sequence[Domain],
    *,
    days: int,
    error_rate: float,
    errors: random.Random,
    start_checks: random.Random,
    batch_limit: int = PYPI_BATCH_LIMIT,
) -> PolicyLog:
    """The PyPI model (see docs/simulator.md): per address, every 30 days, at most
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
