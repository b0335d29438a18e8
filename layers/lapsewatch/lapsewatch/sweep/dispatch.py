"""The dispatcher's work: list the registry's email domains, reduce them to distinct
registrable domains, and send the due ones to the checkers in shards."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import batched

from lapsewatch.domains import InvalidDomain, registrable_domain
from lapsewatch.registry import EmailDomain, RegistryClient
from lapsewatch.sweep.checking import finish_if_complete
from lapsewatch.sweep.messages import PlannedDomain, Shard
from lapsewatch.sweep.queues import ShardQueue
from lapsewatch.sweep.schedule import is_due
from lapsewatch.sweep.store import EMAIL_DOMAIN_LIMIT, RunRecord, RunStore, run_pk

_EARLIEST = 0
_EMAIL_DOMAINS = 1


@dataclass
class DomainCollector:
    """Distinct registrable domains from the registry's listing.

    Memory grows with the number of distinct domains, never with the number of addresses:
    each domain keeps its earliest verification time and a few of its raw email domains.
    """

    listed: int = 0
    invalid: Counter = field(default_factory=Counter)
    _domains: dict[str, list] = field(default_factory=dict)

    def add(self, item: EmailDomain) -> None:
        self.listed += 1
        try:
            registrable = registrable_domain(item.domain)
        except InvalidDomain as exc:
            self.invalid[exc.kind] += 1
            return
        entry = self._domains.get(registrable)
        if entry is None:
            self._domains[registrable] = [item.oldest_verified_at, {item.domain}]
            return
        earliest = entry[_EARLIEST]
        if item.oldest_verified_at and (earliest is None or item.oldest_verified_at < earliest):
            entry[_EARLIEST] = item.oldest_verified_at
        if len(entry[_EMAIL_DOMAINS]) < EMAIL_DOMAIN_LIMIT:
            entry[_EMAIL_DOMAINS].add(item.domain)

    def add_all(self, items: Iterable[EmailDomain]) -> None:
        for item in items:
            self.add(item)

    @property
    def distinct(self) -> int:
        return len(self._domains)

    @property
    def invalid_count(self) -> int:
        return sum(self.invalid.values())

    def planned(self) -> Iterator[PlannedDomain]:
        for domain in sorted(self._domains):
            earliest, email_domains = self._domains[domain]
            yield PlannedDomain(domain, earliest, tuple(sorted(email_domains)))


@dataclass(frozen=True, slots=True)
class Plan:
    shards: list[Shard]
    dispatched: int
    skipped_not_due: int


def plan_shards(
    run_id: str,
    domains: Iterable[PlannedDomain],
    *,
    shard_size: int,
    due: Callable[[str], datetime | None] | None = None,
    run_at: datetime | None = None,
    first_shard: int = 0,
) -> Plan:
    """Cut the domains that are due into shards; with no `due` schedule, every domain is."""
    skipped = 0

    def wanted() -> Iterator[PlannedDomain]:
        nonlocal skipped
        for planned in domains:
            if due is not None and run_at is not None and not is_due(due(planned.domain), run_at):
                skipped += 1
                continue
            yield planned

    shards = [
        Shard(run_id, first_shard + number, tuple(batch))
        for number, batch in enumerate(batched(wanted(), shard_size))
    ]
    dispatched = sum(len(shard.domains) for shard in shards)
    return Plan(shards, dispatched, skipped)


class Dispatcher:
    """Start a run: list, reduce, shard, send, and record how many shards to wait for."""

    def __init__(
        self,
        *,
        registry: Callable[[], RegistryClient],
        store: RunStore,
        queue: ShardQueue,
        start_final: Callable[[str], None],
        clock: Callable[[], datetime],
        shard_size: int,
        page_size: int,
        dry_run: bool,
    ) -> None:
        self._registry = registry
        self.store = store
        self.queue = queue
        self.start_final = start_final
        self.clock = clock
        self.shard_size = shard_size
        self.page_size = page_size
        self.dry_run = dry_run

    def start(
        self,
        run_id: str,
        *,
        trigger: str = "schedule",
        dry_run: bool | None = None,
        check_all: bool = False,
        domains: list[str] | None = None,
    ) -> dict:
        now = self.clock()
        run = RunRecord(
            run_pk(run_id),
            "RUN",
            run_id=run_id,
            status="dispatching",
            created_at=now,
            trigger=trigger,
            dry_run=self.dry_run if dry_run is None else dry_run,
            check_all=check_all or domains is not None,
        )
        if not self.store.create_run(run):
            existing = self.store.get_run(run_id)
            if existing is None or existing.status != "dispatching":
                return {"run_id": run_id, "status": existing.status if existing else None, "duplicate": True}
            # An earlier attempt died mid-dispatch: dispatch again. Shards are numbered the same
            # way, and the checkers count each shard and each domain of a run once.
            run = existing

        collector = DomainCollector()
        if domains is not None:
            collector.add_all(EmailDomain(domain, 1, None) for domain in domains)
        else:
            collector.add_all(self._registry().iter_email_domains(limit=self.page_size))

        due = None if run.check_all else self.store.due_schedule()
        plan = plan_shards(
            run_id,
            collector.planned(),
            shard_size=self.shard_size,
            due=due.get if due is not None else None,
            run_at=now,
        )
        self.queue.send(plan.shards)
        self.store.transition(
            run,
            ("dispatching",),
            "checking",
            shard_count=len(plan.shards),
            listed=collector.listed,
            invalid=collector.invalid_count,
            invalid_reasons=dict(collector.invalid),
            distinct=collector.distinct,
            skipped_not_due=plan.skipped_not_due,
        )
        current = self.store.get_run(run_id)
        if current is not None:
            finish_if_complete(current, self.store, self.start_final)
        return {
            "run_id": run_id,
            "status": "checking",
            "listed": collector.listed,
            "invalid": collector.invalid_count,
            "distinct": collector.distinct,
            "dispatched": plan.dispatched,
            "skipped_not_due": plan.skipped_not_due,
            "shards": len(plan.shards),
        }
