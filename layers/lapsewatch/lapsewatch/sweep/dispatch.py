"""The dispatcher's work: list the registry's email domains, reduce them to distinct
registrable domains, and send the due ones to the checkers in shards."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import batched, islice
from typing import NotRequired, TypedDict

from lapsewatch.registry import EmailDomain, RegistryClient
from lapsewatch.sweep.collector import DomainCollector
from lapsewatch.sweep.messages import PlannedDomain, Shard
from lapsewatch.sweep.progress import finish_if_complete
from lapsewatch.sweep.queues import CheckQueue
from lapsewatch.sweep.records import DISPATCH_LEASE, RunRecord, RunStatus, run_pk
from lapsewatch.sweep.store import RunStore


class DispatchResult(TypedDict):
    """What the dispatcher answers: a run started (its counts), handed over to another
    invocation (`continuing`, with its checkpoint's generation), or a duplicate left alone."""

    run_id: str
    status: str | None
    duplicate: NotRequired[bool]
    listed: NotRequired[int]
    generation: NotRequired[int]
    invalid: NotRequired[int]
    distinct: NotRequired[int]
    dispatched: NotRequired[int]
    skipped_not_due: NotRequired[int]
    shards: NotRequired[int]


def plan_shards(run_id: str, domains: Iterable[PlannedDomain], *, shard_size: int) -> Iterator[Shard]:
    """Cut domains into numbered shards; the same domains always give the same shards."""
    for number, batch in enumerate(batched(domains, shard_size, strict=False)):
        yield Shard(run_id, number, tuple(batch))


@dataclass(frozen=True, slots=True)
class RenderedShard(Shard):
    """A shard with its message body made once: the body sent and the digest recorded of it
    are the same text, and a million shards are not serialised twice."""

    body: str = ""

    @classmethod
    def of(cls, shard: Shard) -> RenderedShard:
        return cls(shard.run_id, shard.number, shard.domains, Shard.to_body(shard))

    def to_body(self) -> str:
        return self.body


# Shards sent between two looks at the time left.
HAND_OVER_EVERY = 100


class Dispatcher:
    """Start a run: list, reduce, shard, send, and record how many shards to wait for.

    A very large registry may not fit one invocation. When `time_left()` falls below the
    reserve, the dispatcher saves what it has (the distinct domains so far, the registry's
    cursor, the shards already sent) and hands over to a new invocation through
    `dispatch_later`. The domains due are settled, and saved (the listing and the names not
    due, from which the shards are cut), before the first shard is sent:
    whoever sends the rest (a continuation, or a retry after a crash) cuts exactly the same
    shards, and the checkers count a shard sent twice once.
    """

    def __init__(
        self,
        *,
        registry: Callable[[], RegistryClient],
        store: RunStore,
        queue: CheckQueue,
        start_final: Callable[[str], None],
        dispatch_later: Callable[[str, int], None],
        clock: Callable[[], datetime],
        shard_size: int,
        page_size: int,
        dry_run: bool,
        max_pages: int,
        reserve_seconds: float,
    ) -> None:
        self._registry = registry
        self.store = store
        self.queue = queue
        self.start_final = start_final
        self.dispatch_later = dispatch_later
        self.clock = clock
        self.shard_size = shard_size
        self.page_size = page_size
        self.dry_run = dry_run
        self.max_pages = max_pages
        self.reserve_seconds = reserve_seconds

    def start(
        self,
        run_id: str,
        *,
        trigger: str = "schedule",
        dry_run: bool = False,
        check_all: bool = False,
        domains: list[str] | None = None,
        time_left: Callable[[], float] = lambda: float("inf"),
    ) -> DispatchResult:
        """Start run `run_id`. `dry_run` can make it dry, never live: a stack deployed dry stays dry."""
        run = RunRecord(
            run_pk(run_id),
            "RUN",
            run_id=run_id,
            status=RunStatus.DISPATCHING,
            created_at=self.clock(),
            trigger=trigger,
            dry_run=self.dry_run or dry_run,
            check_all=check_all or domains is not None,
            claimed_until=self.clock() + DISPATCH_LEASE,
        )
        if not self.store.create_run(run):
            # The schedule event came again: EventBridge's retry after a failure, or a duplicate.
            existing = self.store.get_run(run_id)
            if existing is None or existing.status != RunStatus.DISPATCHING:
                return _duplicate(run_id, existing)
            if existing.checkpoint_generation:
                # An earlier attempt saved its work: go on from there, unless it is still at it.
                return self.resume(run_id, int(existing.checkpoint_generation), time_left=time_left)
            # An earlier attempt is listing, or died listing before it saved anything: list
            # again once its lease has run out.
            if not self.store.claim_listing(existing):
                return _duplicate(run_id, existing)
            run = existing

        collector = DomainCollector()
        if domains is not None:
            collector.add_all(EmailDomain(domain, 1, None) for domain in domains)
        return self._list_and_send(
            run, collector, None, listing_done=domains is not None, time_left=time_left
        )

    def resume(
        self, run_id: str, generation: int, *, time_left: Callable[[], float] = lambda: float("inf")
    ) -> DispatchResult:
        """Continue a run from its checkpoint `generation` (once, however often it is asked)."""
        run = self.store.get_run(run_id)
        if (
            run is None
            or run.status != RunStatus.DISPATCHING
            or not self.store.claim_checkpoint(run, generation)
        ):
            return _duplicate(run_id, run)
        collector = DomainCollector.from_bytes(self.store.load_checkpoint(run_id, generation))
        return self._list_and_send(
            run, collector, run.cursor, listing_done=run.cursor is None, time_left=time_left
        )

    def _list_and_send(
        self,
        run: RunRecord,
        collector: DomainCollector,
        cursor: str | None,
        *,
        listing_done: bool,
        time_left: Callable[[], float],
    ) -> DispatchResult:
        # Resuming a checkpoint saved after the listing: the domains to send are settled already.
        settled = listing_done and bool(run.checkpoint_generation)
        if not listing_done:
            # The budget spans the run's invocations: a listing that never ends fails the
            # dispatch, and a run that never dispatches unverifies nothing.
            budget = self.max_pages - collector.pages
            for page in self._registry().pages(self.page_size, cursor, max_pages=budget):
                collector.pages += 1
                collector.add_all(page.items)
                if page.next_cursor is not None and time_left() < self.reserve_seconds:
                    return self._hand_over(run, collector, page.next_cursor)
            if not run.check_all:
                collector.leave_out(self.store.not_due(run.created_at))
        if not settled:
            self._save(run, collector, cursor=None, claim=True)

        listed = run.trigger != "manual"
        shards = plan_shards(run.run_id, collector.planned(), shard_size=self.shard_size)
        resumed_at = sent = int(run.next_shard or 0)
        rendered = map(RenderedShard.of, islice(shards, sent, None))
        for chunk in batched(rendered, HAND_OVER_EVERY, strict=False):
            # Each invocation sends at least one chunk, so a run always moves forward.
            if sent > resumed_at and time_left() < self.reserve_seconds:
                run.next_shard = sent
                return self._hand_over(run, collector, None)
            # Recorded before it is sent: the checker accepts a shard only as the dispatcher planned
            # it. An operator's list of domains carries no count from the registry: its decisions
            # have no addresses on record, and wait for an operator's approval.
            self.store.record_plans(
                run.run_id,
                (
                    (s.number, s.digest(), {d.domain: d.addresses for d in s.domains} if listed else {})
                    for s in chunk
                ),
            )
            self.queue.send(chunk)
            sent += len(chunk)
        return self._finish_dispatch(run, collector, sent)

    def _save(self, run: RunRecord, collector: DomainCollector, *, cursor: str | None, claim: bool) -> int:
        generation = int(run.checkpoint_generation or 0) + 1
        self.store.save_checkpoint(run, generation, collector.to_bytes(), cursor=cursor, claim=claim)
        run.checkpoint_generation = generation
        return generation

    def _hand_over(self, run: RunRecord, collector: DomainCollector, cursor: str | None) -> DispatchResult:
        generation = self._save(run, collector, cursor=cursor, claim=False)
        self.dispatch_later(run.run_id, generation)
        return {
            "run_id": run.run_id,
            "status": "continuing",
            "listed": collector.listed,
            "generation": generation,
        }

    def _finish_dispatch(
        self, run: RunRecord, collector: DomainCollector, shard_count: int
    ) -> DispatchResult:
        # The collector counted every domain as it planned them, those of the shards sent
        # before a hand-over included.
        self.store.transition(
            run,
            (RunStatus.DISPATCHING,),
            RunStatus.CHECKING,
            shard_count=shard_count,
            listed=collector.listed,
            invalid=collector.invalid_count,
            invalid_reasons=dict(collector.invalid),
            distinct=collector.distinct,
            skipped_not_due=collector.skipped_not_due,
        )
        current = self.store.get_run(run.run_id)
        if current is not None:
            finish_if_complete(current, self.store, self.start_final)
        return {
            "run_id": run.run_id,
            "status": RunStatus.CHECKING,
            "listed": collector.listed,
            "invalid": collector.invalid_count,
            "distinct": collector.distinct,
            "dispatched": collector.distinct - collector.skipped_not_due,
            "skipped_not_due": collector.skipped_not_due,
            "shards": shard_count,
        }


def _duplicate(run_id: str, run: RunRecord | None) -> DispatchResult:
    return {"run_id": run_id, "status": run.status if run else None, "duplicate": True}
