"""The lifecycle simulator: lapsewatch's real code beside a model of PyPI's policy."""

import json
import random
from datetime import UTC, datetime, timedelta

import pytest

from lapsewatch.check import DomainChecker
from lapsewatch.lifecycle import Lifecycle
from lapsewatch.sweep.schedule import next_check_at
from lapsewatch_tools.cli import main
from lapsewatch_tools.simulate import simulate, simulate_population
from lapsewatch_tools.simulate.world import (
    DAY,
    PENDING_DELETE,
    REDEMPTION,
    SIMULATION_START,
    Domain,
    PopulationShares,
    SimulatedClock,
    SimulatedRdap,
    domainr_status,
    generate_population,
)

# Many lapses, late renewals and holds in a small population, so that a few seconds of tests
# see every story many times.
TURBULENT = PopulationShares(renewed_late=0.2, lapsed=0.2, deleted_early=0.1, on_hold=0.1, reregistered=0.6)
LONG_AGO = datetime(2019, 3, 1, tzinfo=UTC)


def quiet_domain(name, *, addresses=1, **story):
    """A domain registered long ago that renews on time, unless `story` says otherwise."""
    expires_at = story.pop("expires_at", SIMULATION_START + timedelta(days=200))
    story.setdefault("renewed_at", expires_at - timedelta(days=10))
    return Domain(
        name=name,
        registered_at=datetime(2010, 1, 1, tzinfo=UTC),
        expires_at=expires_at,
        verified_at=(LONG_AGO,) * addresses,
        **story,
    )


def test_the_same_seed_gives_the_same_report():
    first = simulate(domains=200, days=120, seed=11).to_dict()
    assert simulate(domains=200, days=120, seed=11).to_dict() == first
    assert simulate(domains=200, days=120, seed=12).to_dict() != first
    json.dumps(first)  # JSON-able as it is


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_lapsewatch_meets_its_targets(seed):
    report = simulate(domains=400, days=365, seed=seed)
    ours = report.lapsewatch
    assert ours.lapses >= 10  # enough lapses for the targets to mean something
    assert ours.caught_before_drop + ours.open_at_end == ours.lapses
    assert ours.addresses_falsely_unverified == 0
    assert ours.reregistrations_exposed == ours.reregistrations_missed == 0
    assert ours.lookups <= 0.2 * report.daily_baseline_lookups
    assert all(report.targets.values())


@pytest.mark.parametrize("seed", [4, 5])
def test_lapsewatch_catches_every_lapse_in_a_turbulent_population(seed):
    report = simulate(domains=200, days=240, seed=seed, error_rate=0.05, shares=TURBULENT)
    ours = report.lapsewatch
    assert ours.lapses >= 30
    assert ours.missed == ours.caught_after_drop == ours.caught_after_reregistration == 0
    assert ours.caught_before_drop + ours.open_at_end == ours.lapses
    assert ours.addresses_falsely_unverified == 0
    # The PyPI model, on the same world, unverifies addresses at domains still in grace.
    assert report.pypi.falsely_unverified_in_grace > 0


def test_a_transient_error_unverifies_with_the_pypi_model_only():
    population = [quiet_domain(f"steady-{n}.com", addresses=2) for n in range(50)]

    erratic = simulate_population(population, days=90, seed=1, error_rate=0.2)
    assert erratic.pypi.addresses_falsely_unverified > 0
    assert erratic.pypi.falsely_unverified_in_grace == 0
    assert erratic.lapsewatch.addresses_falsely_unverified == 0

    reliable = simulate_population(population, days=90, seed=1, error_rate=0.0)
    assert reliable.pypi.addresses_falsely_unverified == 0


def test_the_pypi_model_misses_a_domain_someone_else_registered_again():
    # Addresses verified in 2019 at a domain that lapsed and was registered by someone else in
    # 2023: Domainr says "active" today, and only the registration date tells.
    deleted_at = datetime(2023, 5, 1, tzinfo=UTC)
    taken_over = quiet_domain(
        "taken-over.com",
        addresses=3,
        expires_at=deleted_at - timedelta(days=40),
        renewed_at=None,
        deleted_at=deleted_at,
        reregistered_at=deleted_at + REDEMPTION + PENDING_DELETE + timedelta(hours=2),
    )
    population = [taken_over, quiet_domain("steady.com")]

    report = simulate_population(population, days=60, seed=1, error_rate=0.0)

    assert domainr_status(taken_over, SIMULATION_START) == ("active",)
    assert report.pypi.reregistrations == report.pypi.reregistrations_missed == 1
    assert report.lapsewatch.reregistrations == 1
    assert report.lapsewatch.reregistrations_missed == 0
    assert report.lapsewatch.addresses_falsely_unverified == 0


def test_the_pypi_model_misses_lapses_when_its_batch_limit_binds():
    report = simulate(domains=400, days=365, seed=1, error_rate=0.0, pypi_batch_limit=5)
    assert report.pypi.missed > 0
    assert report.pypi.reregistrations_missed > 0
    assert report.lapsewatch.missed == 0


def test_the_simulator_schedules_with_the_injected_schedule():
    calls = []

    def real_schedule(domain, lifecycle, **kwargs):
        calls.append(lifecycle)
        return next_check_at(domain, lifecycle, **kwargs)

    def daily(domain, lifecycle, *, expires_at, now, unsafe):
        return now + DAY - timedelta(hours=2)

    default = simulate(domains=200, days=120, seed=3)
    injected = simulate(domains=200, days=120, seed=3, schedule=real_schedule)
    every_day = simulate(domains=200, days=120, seed=3, schedule=daily)

    assert injected.to_dict() == default.to_dict()
    assert len(calls) > 0
    # The real schedule looks far less often than every day.
    assert every_day.lapsewatch.lookups > 4 * default.lapsewatch.lookups


def world_checker(domain, at):
    clock = SimulatedClock(at)
    provider = SimulatedRdap({domain.name: domain}, clock, error_rate=0.0, errors=random.Random(0))
    return DomainChecker(provider, clock=clock.clock, monotonic=clock.monotonic, sleep=clock.sleep)


@pytest.mark.parametrize(
    ("days_after_expiry", "lifecycle", "domainr"),
    [
        (-5, Lifecycle.ACTIVE, ("active",)),
        (10, Lifecycle.GRACE, ("expiring",)),
        (20, Lifecycle.REDEMPTION, ("deleting",)),
        (47, Lifecycle.PENDING_DELETE, ("deleting",)),
        (51, Lifecycle.UNREGISTERED, ("undelegated", "inactive")),
        (60, Lifecycle.REREGISTERED, ("active",)),
    ],
)
def test_the_real_checker_reads_the_simulated_world(days_after_expiry, lifecycle, domainr):
    expires_at = SIMULATION_START + timedelta(days=30)
    deleted_at = expires_at + timedelta(days=15)
    lapsing = quiet_domain(
        "lapsing.com",
        expires_at=expires_at,
        renewed_at=None,
        deleted_at=deleted_at,
        reregistered_at=deleted_at + REDEMPTION + PENDING_DELETE + timedelta(days=3),
    )
    at = expires_at + timedelta(days=days_after_expiry)

    result = world_checker(lapsing, at).check_domain(lapsing.name, LONG_AGO)

    assert result.lifecycle is lifecycle
    assert domainr_status(lapsing, at) == domainr


def test_a_held_domain_and_a_late_renewal_are_safe():
    expires_at = SIMULATION_START + timedelta(days=30)
    held = quiet_domain(
        "held.com",
        expires_at=expires_at,
        renewed_at=expires_at + timedelta(days=20),
        hold=(expires_at - timedelta(days=5), expires_at + timedelta(days=5)),
    )
    for days_after_expiry, lifecycle in [(-1, Lifecycle.HOLD), (3, Lifecycle.HOLD), (10, Lifecycle.GRACE)]:
        at = expires_at + timedelta(days=days_after_expiry)
        result = world_checker(held, at).check_domain(held.name, LONG_AGO)
        assert (result.lifecycle, result.unsafe) == (lifecycle, False)
    renewed = world_checker(held, expires_at + timedelta(days=21)).check_domain(held.name, LONG_AGO)
    assert renewed.lifecycle is Lifecycle.ACTIVE
    assert renewed.expires_at == expires_at + timedelta(days=365)


def test_with_json_the_report_is_the_only_output_and_the_table_goes_to_stderr(capsys):
    assert main(["simulate", "--domains", "50", "--days", "30", "--seed", "2", "--json"]) == 0
    out, err = capsys.readouterr()
    [report] = [json.loads(line) for line in out.splitlines()]
    assert {"lapsewatch", "pypi", "population", "parameters"} <= report.keys()
    assert report["parameters"]["domains"] == 50
    assert any(line.startswith("lookups") for line in err.splitlines())


def test_owners_are_warned_in_the_grace_before_anything_is_unverified():
    expires_at = SIMULATION_START + timedelta(days=40)
    lapsing = quiet_domain(
        "lapsing.com", addresses=3, expires_at=expires_at, renewed_at=None, deleted_at=expires_at + 20 * DAY
    )
    late = quiet_domain("late.com", expires_at=expires_at, renewed_at=expires_at + timedelta(days=12))
    deleted_early = quiet_domain(
        "deleted-early.com", expires_at=expires_at, renewed_at=None, deleted_at=expires_at - 15 * DAY
    )
    healthy = quiet_domain("healthy.com", expires_at=expires_at)
    report = simulate_population([lapsing, late, deleted_early, healthy], days=120, seed=1, error_rate=0)

    ours, pypi = report.lapsewatch, report.pypi
    warnings = {w.domain: w for w in ours.lapse_warnings}
    # The lapse through its grace: one notice as the grace began, three weeks before the
    # redemption period unverified its addresses.
    assert warnings["lapsing.com"].notice_first
    notified_at = datetime.fromisoformat(warnings["lapsing.com"].notified_at)
    assert expires_at <= notified_at < expires_at + 2 * DAY
    assert 19 <= warnings["lapsing.com"].days_of_warning <= 21
    # A deletion by the holder has no grace, so no warning; a healthy domain gets no notice.
    assert not warnings["deleted-early.com"].notice_first
    assert warnings["deleted-early.com"].days_of_warning is None
    # The late renewal: one notice, no more, and nothing unverified.
    assert (ours.notices, ours.notices_to_domains_kept, ours.addresses_falsely_unverified) == (2, 1, 0)
    assert ours.lapses_warned_first == 1
    assert ours.median_days_of_warning == warnings["lapsing.com"].days_of_warning
    # The PyPI model warns nobody.
    assert (pypi.notices, pypi.lapses_warned_first, pypi.median_days_of_warning) == (0, 0, None)


@pytest.mark.parametrize("seed", [3, 11])
def test_every_lapse_through_a_grace_is_warned_first(seed):
    report = simulate(domains=400, days=365, seed=seed, shares=TURBULENT)
    ours = report.lapsewatch
    lapses = {w.domain: w for w in ours.lapse_warnings}
    end = SIMULATION_START + 365 * DAY
    population = generate_population(400, seed=seed, shares=TURBULENT)
    through_grace = [d for d in population if d.story == "lapsed" and d.deleted_at < end]
    assert through_grace
    for domain in through_grace:
        warning = lapses[domain.name]
        assert warning.notice_first, domain
        assert warning.days_of_warning >= 1
    assert report.pypi.notices == 0
