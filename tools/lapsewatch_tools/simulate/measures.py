"""What the simulator measures of each policy, the same for both (docs/simulator.md defines
each measure), and the report: its figures, its targets and its table."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime

from lapsewatch.timefmt import rfc3339
from lapsewatch_tools.report import table
from lapsewatch_tools.simulate.policies import PolicyLog
from lapsewatch_tools.simulate.world import AUTO_RENEW_GRACE, DAY, SIMULATION_START, Domain, Phase

LOOKUP_TARGET_FRACTION = 0.20
# A notice warns of a lapse when it went out at most this long before it: the length of the
# auto-renew grace, so that a hold months earlier does not count as warning of this lapse.
WARNING_WINDOW = AUTO_RENEW_GRACE


@dataclass(frozen=True, slots=True)
class LapseWarning:
    """One lapse, as its owners lived it: warned first or not, and for how long."""

    domain: str
    lapsed_at: str
    notified_at: str | None  # the first notice of the lapse's warning window
    unverified_at: str | None  # the first of the domain's addresses unverified
    notice_first: bool
    days_of_warning: float | None  # from the notice to the first unverification


def lapse_warning(
    domain: Domain, notified: Sequence[datetime], unverified: Sequence[datetime | None]
) -> LapseWarning:
    lapsed_at = domain.deleted_at
    assert lapsed_at is not None
    first_unverified = min((gone for gone in unverified if gone is not None), default=None)
    before_loss = first_unverified if first_unverified is not None else domain.dropped_at
    assert before_loss is not None
    notice = next(
        (at for at in notified if lapsed_at - WARNING_WINDOW <= at < before_loss),
        None,
    )
    days = (
        round((first_unverified - notice) / DAY, 2)
        if notice is not None and first_unverified is not None
        else None
    )
    return LapseWarning(
        domain=domain.name,
        lapsed_at=str(rfc3339(lapsed_at)),
        notified_at=rfc3339(notice),
        unverified_at=rfc3339(first_unverified),
        notice_first=notice is not None,
        days_of_warning=days,
    )


@dataclass(frozen=True, slots=True)
class PolicyMetrics:
    """One policy's results, measured as docs/simulator.md defines them."""

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
    notices: int
    # Notices to domains that never lapsed: owners who renewed after the warning, or a hold.
    notices_to_domains_kept: int
    lapses_warned_first: int
    median_days_of_warning: float | None
    shortest_days_of_warning: float | None
    lapse_warnings: tuple[LapseWarning, ...]


def measure(population: Sequence[Domain], log: PolicyLog, *, days: int) -> PolicyMetrics:
    tally = _Tally(end=SIMULATION_START + days * DAY)
    for domain, unverified, notified in zip(population, log.unverified_at, log.notified_at, strict=True):
        tally.add(domain, unverified, notified)
    outcomes, days_to_unverify, warnings = tally.outcomes, tally.days_to_unverify, tally.warnings
    baseline = daily_baseline(len(population), days)
    days_of_warning = [w.days_of_warning for w in warnings if w.days_of_warning is not None]
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
        addresses_falsely_unverified=tally.falsely_unverified,
        domains_falsely_unverified=tally.domains_falsely_unverified,
        falsely_unverified_in_grace=tally.falsely_in_grace,
        reregistrations=tally.reregistrations,
        reregistrations_exposed=tally.exposed,
        reregistrations_missed=tally.reregistrations_missed,
        notices=sum(len(notified) for notified in log.notified_at),
        notices_to_domains_kept=tally.notices_to_kept,
        lapses_warned_first=sum(w.notice_first for w in warnings),
        median_days_of_warning=round(statistics.median(days_of_warning), 2) if days_of_warning else None,
        shortest_days_of_warning=min(days_of_warning) if days_of_warning else None,
        lapse_warnings=tuple(warnings),
    )


@dataclass
class _Tally:
    """What `measure` counts, one domain at a time, for a period ending at `end`."""

    end: datetime
    outcomes: dict[str, int] = field(
        default_factory=lambda: {
            "before_drop": 0,
            "after_drop": 0,
            "after_reregistration": 0,
            "missed": 0,
            "open": 0,
        }
    )
    days_to_unverify: list[float] = field(default_factory=list)
    falsely_unverified: int = 0
    domains_falsely_unverified: int = 0
    falsely_in_grace: int = 0
    reregistrations: int = 0
    exposed: int = 0
    reregistrations_missed: int = 0
    notices_to_kept: int = 0
    warnings: list[LapseWarning] = field(default_factory=list)

    def add(
        self, domain: Domain, unverified: Sequence[datetime | None], notified: Sequence[datetime]
    ) -> None:
        caught_at = None if None in unverified else max(unverified)  # type: ignore[type-var]
        if domain.deleted_at is None:
            self._kept(domain, unverified, notified)
            return
        self._reregistration(domain, unverified, caught_at)
        if SIMULATION_START <= domain.deleted_at < self.end:
            self._lapse(domain, unverified, notified, caught_at)

    def _kept(
        self, domain: Domain, unverified: Sequence[datetime | None], notified: Sequence[datetime]
    ) -> None:
        """A domain that never lapsed: every notice to it, and every address unverified, is wrong."""
        self.notices_to_kept += len(notified)
        wrong = [gone for gone in unverified if gone is not None]
        self.falsely_unverified += len(wrong)
        self.domains_falsely_unverified += bool(wrong)
        self.falsely_in_grace += sum(domain.phase(gone) is Phase.GRACE for gone in wrong)

    def _reregistration(
        self, domain: Domain, unverified: Sequence[datetime | None], caught_at: datetime | None
    ) -> None:
        rereg = domain.reregistered_at
        if rereg is None or rereg >= self.end:
            return
        self.reregistrations += 1
        still_verified = [
            gone is None or gone > rereg
            for verified_at, gone in zip(domain.verified_at, unverified, strict=True)
            if verified_at < rereg
        ]
        self.exposed += any(still_verified)
        self.reregistrations_missed += caught_at is None

    def _lapse(
        self,
        domain: Domain,
        unverified: Sequence[datetime | None],
        notified: Sequence[datetime],
        caught_at: datetime | None,
    ) -> None:
        """A lapse within the period: when, if ever, its addresses were all unverified."""
        deleted_at, dropped_at, rereg = domain.deleted_at, domain.dropped_at, domain.reregistered_at
        assert deleted_at is not None and dropped_at is not None
        self.warnings.append(lapse_warning(domain, notified, unverified))
        if caught_at is None:
            self.outcomes["missed" if dropped_at < self.end else "open"] += 1
            return
        self.days_to_unverify.append((caught_at - deleted_at) / DAY)
        if caught_at < dropped_at:
            self.outcomes["before_drop"] += 1
        elif rereg is None or caught_at < rereg:
            self.outcomes["after_drop"] += 1
        else:
            self.outcomes["after_reregistration"] += 1


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
            ("early-warning notices", *both("notices")),
            ("  to domains that never lapsed", *both("notices_to_domains_kept")),
            ("lapses warned before an address was unverified", *both("lapses_warned_first")),
            ("  days of warning: median", *both("median_days_of_warning")),
            ("  shortest", *both("shortest_days_of_warning")),
        ]
        population = self.population
        stories = ", ".join(f"{count} {story}" for story, count in population.stories.items())
        summary = (
            f"{population.domains} domains, {population.addresses} verified addresses (largest "
            f"domain {population.largest_domain}), {self.parameters['days']} days from "
            f"{self.parameters['start']}: {stories}; {population.on_hold} on hold for a while, "
            f"{population.reregistered} taken by someone else after their drop (some after the end)"
        )
        return "\n".join([summary, "", table(("", "lapsewatch", "PyPI model"), rows), "", *self._in_short()])

    def _in_short(self) -> list[str]:
        """What the table means for an operator, in a few lines."""
        ours, pypi = self.lapsewatch, self.pypi
        late = ours.caught_after_drop + ours.caught_after_reregistration
        warning = (
            ""
            if ours.median_days_of_warning is None
            else f", {ours.median_days_of_warning:g} days ahead (median)"
        )
        return [
            f"Lapses caught before the drop: {ours.caught_before_drop} of {ours.lapses} "
            f"(PyPI model {pypi.caught_before_drop}); after it {late}, missed {ours.missed}, "
            f"drop still ahead {ours.open_at_end}.",
            "Addresses unverified at domains that never left their holder: "
            f"{ours.addresses_falsely_unverified} (PyPI model {pypi.addresses_falsely_unverified}).",
            f"Lookups: {ours.lookups_of_daily:.1%} of checking every domain every day "
            f"(PyPI model {pypi.lookups_of_daily:.1%}).",
            f"Early warnings: {ours.lapses_warned_first} lapses warned before any address was "
            f"unverified{warning}.",
        ]
