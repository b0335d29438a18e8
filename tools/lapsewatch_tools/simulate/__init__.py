"""A year of domain lifecycles, watched by lapsewatch and by a model of PyPI's policy, side by side.

`simulate()` runs both policies over one seeded world; docs/simulator.md describes the world,
the two policies and what is measured.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import asdict

from lapsewatch.sweep.schedule import next_check_at
from lapsewatch.timefmt import rfc3339
from lapsewatch_tools.simulate.measures import PopulationStats, SimulationReport, daily_baseline, measure
from lapsewatch_tools.simulate.policies import PYPI_BATCH_LIMIT, ScheduleFunction, run_lapsewatch, run_pypi
from lapsewatch_tools.simulate.world import (
    DEFAULT_SHARES,
    SIMULATION_START,
    Domain,
    PopulationShares,
    generate_population,
)

__all__ = ["simulate", "simulate_population"]


def simulate(
    domains: int = 2000,
    days: int = 365,
    seed: int = 7,
    error_rate: float = 0.005,
    *,
    shares: PopulationShares = DEFAULT_SHARES,
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
