"""The checker's work: one shard of domains, looked up, recorded, counted once."""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from lapsewatch.check import DomainChecker
from lapsewatch.domains import InvalidDomain, registrable_domain
from lapsewatch.lifecycle import Lifecycle
from lapsewatch.sweep.breaker import place
from lapsewatch.sweep.counting import Counted, shard_record
from lapsewatch.sweep.findings import decision_for, updated_state
from lapsewatch.sweep.messages import PlannedDomain, Shard
from lapsewatch.sweep.notices import notice_for
from lapsewatch.sweep.observability import MetricUnit, logger, metrics
from lapsewatch.sweep.progress import finish_if_complete
from lapsewatch.sweep.records import DomainState, RunRecord, RunStatus
from lapsewatch.sweep.store import RunStore

ACTIVE_RUN = (RunStatus.DISPATCHING, RunStatus.CHECKING)


class RunNotFound(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class ShardOutcome:
    run_id: str
    shard: int
    checked: int
    by_lifecycle: dict[str, int]
    unsafe: list[str]
    refused: int = 0
    # Why the message was dropped unchecked: not a shard the dispatcher sent (forged, garbled).
    dropped: str | None = None


class ShardChecker:
    """The checkers' work: every shard of an SQS batch looked up in one pool, recorded, and
    counted once on its run. Its limits are the sweep's settings (Runtime.shard_checker)."""

    def __init__(
        self,
        *,
        checker: DomainChecker,
        store: RunStore,
        start_final: Callable[[str], None],
        clock: Callable[[], datetime],
        workers: int,
        unknown_streak: timedelta,
        notice_stages: frozenset[Lifecycle],
        protected: frozenset[str],
        max_receives: int,
    ) -> None:
        self.checker = checker
        self.store = store
        self.start_final = start_final
        self.clock = clock
        self.workers = workers
        self.unknown_streak = unknown_streak
        self.notice_stages = notice_stages
        self.protected = protected
        # A shard that fails its last delivery is written off, so that its run can still end.
        self.max_receives = max_receives

    def check_records(self, records: Sequence[SQSRecord]) -> list[dict | Exception]:
        """An SQS batch: each record's result, or the exception that fails it alone (a body that
        is not a shard, a shard that failed), for Powertools' partial batch response. Their shards
        are checked together (check_shards); one that fails on its last delivery is written off."""
        shards: list[Shard | Exception] = []
        for record in records:
            try:
                shards.append(Shard.from_body(record.body))
            except Exception as exc:
                shards.append(exc)
        outcomes = iter(self.check_shards([shard for shard in shards if isinstance(shard, Shard)]))
        results: list[dict | Exception] = []
        for record, shard in zip(records, shards, strict=True):
            try:
                results.append(
                    shard if isinstance(shard, Exception) else self._report(record, shard, next(outcomes))
                )
            except Exception as exc:
                results.append(exc)
        return results

    def _report(self, record: SQSRecord, shard: Shard, outcome: ShardOutcome | Exception) -> dict | Exception:
        """A shard's outcome in the log and the metrics, and as its record's result."""
        logger.append_keys(run_id=shard.run_id, shard=shard.number)
        if isinstance(outcome, Exception):
            receives = int(record.attributes.approximate_receive_count or 1)
            logger.exception("shard failed", exc_info=outcome, extra={"receive": receives})
            if receives >= self.max_receives:
                self.write_off(shard)
            return outcome
        if outcome.dropped:
            # Deleted unchecked: retried, or written off, it could end the run early.
            metrics.add_metric("ShardsDropped", MetricUnit.Count, 1)
            return {"dropped": outcome.dropped}
        logger.info(
            "shard checked",
            extra={
                "checked": outcome.checked,
                "unsafe": outcome.unsafe,
                "by_lifecycle": outcome.by_lifecycle,
            },
        )
        metrics.add_metric("DomainsLookedUp", MetricUnit.Count, outcome.checked)
        return {"checked": outcome.checked}

    def check_shards(self, shards: Sequence[Shard]) -> list[ShardOutcome | Exception]:
        """Several shards (an SQS batch), each shard's outcome or the exception that failed it,
        in the order given: a shard that fails fails alone.

        Every shard's domains go to one pool of `workers` threads, so that the providers'
        per-server rate limits set the pace rather than each shard's slowest lookup. A shard is
        recorded once its own domains are done, while the pool goes on with the next ones. A
        shard naming a domain that an earlier shard of the batch still has in hand (one message
        delivered twice, or a domain listed twice in a run) waits for that shard to be recorded
        first, so that the domain is checked and counted once, as if the shards came one by one.
        """
        outcomes: list[ShardOutcome | Exception] = []
        in_hand: deque[_Started | ShardOutcome | Exception] = deque()
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            for shard in shards:
                while any(_share_domains(shard, earlier) for earlier in in_hand):
                    outcomes.append(self._finish(in_hand.popleft()))
                try:
                    in_hand.append(self._start(shard, pool))
                except Exception as exc:
                    in_hand.append(exc)
            while in_hand:
                outcomes.append(self._finish(in_hand.popleft()))
        return outcomes

    def _start(self, shard: Shard, pool: ThreadPoolExecutor) -> _Started | ShardOutcome:
        """Read what the shard needs and hand its domains to the pool."""
        with _logging_keys(shard):
            run = self.store.get_run(shard.run_id)
            if run is None:
                raise RunNotFound(f"run {shard.run_id} does not exist")
            if run.status not in ACTIVE_RUN:
                # A late redelivery after the run moved on: its results were counted or written off.
                return ShardOutcome(shard.run_id, shard.number, 0, {}, [])
            if (why := self._not_as_sent(shard, run)) is not None:
                # Dropped, never retried nor written off: a forged message cannot end a run early,
                # stand for a real shard, or change what a decision weighs.
                logger.warning("dropped a shard message the dispatcher did not send", extra={"why": why})
                return ShardOutcome(shard.run_id, shard.number, 0, {}, [], dropped=why)

            planned_domains = [d for d in shard.domains if _registrable(d.domain)]
            refused = len(shard.domains) - len(planned_domains)
            states = self.store.domain_states(d.domain for d in planned_domains)
            unsafe = frozenset(self.checker.unsafe)

        def check_one(planned: PlannedDomain) -> Counted | None:
            with _logging_keys(shard):
                return self._check_one(shard, planned, states.get(planned.domain), unsafe)

        verdicts = [pool.submit(check_one, planned) for planned in planned_domains]
        return _Started(shard, refused, unsafe, verdicts)

    def _finish(self, started: _Started | ShardOutcome | Exception) -> ShardOutcome | Exception:
        if not isinstance(started, _Started):
            return started
        try:
            with _logging_keys(started.shard):
                return self._record(started)
        except Exception as exc:
            return exc

    def _record(self, started: _Started) -> ShardOutcome:
        """Wait for the shard's domains, then record the shard and count it on its run."""
        shard, refused, unsafe = started.shard, started.refused, started.unsafe
        try:
            verdicts = [future.result() for future in started.verdicts]
        except BaseException:
            # As a shard's own pool did: the domains not yet begun are left to the next delivery.
            for future in started.verdicts:
                future.cancel()
            raise

        counted = [v for v in verdicts if v is not None]
        record = shard_record(
            shard, counted, refused, unsafe, streak_began=self._streak_began(), outcome="done"
        )
        updated = self.store.record_shard(shard.run_id, record)
        if updated is not None:
            finish_if_complete(updated, self.store, self.start_final)
        return ShardOutcome(
            shard.run_id,
            shard.number,
            len(counted),
            dict(Counter(str(c.lifecycle) for c in counted)),
            list(record.unsafe_domains),
            refused,
        )

    def _streak_began(self) -> datetime:
        """A domain unknown since before this is on an unknown streak."""
        return self.clock() - self.unknown_streak

    def write_off(self, shard: Shard) -> None:
        """Count a shard that failed its last delivery as dead, so its run can still finish.

        What it had checked and recorded before it died (the domains whose state says this run
        and shard) keeps its counts, places included: its decisions are weighed with their
        places' evidence like any other. The rest are counted as dead-lettered."""
        run = self.store.get_run(shard.run_id)
        if run is None or self._not_as_sent(shard, run) is not None:
            return
        planned = [d for d in shard.domains if _registrable(d.domain)]
        try:
            states = self.store.domain_states(d.domain for d in planned)
        except Exception:
            logger.exception("could not read a dead shard's domains: all counted as not checked")
            states = {}
        counted, lost = [], []
        for domain in planned:
            state = states.get(domain.domain)
            if state is None or state.last_run_id != shard.run_id:
                lost.append(domain.domain)
            elif state.last_shard == shard.number:
                counted.append(
                    self._counted(domain, Lifecycle(state.lifecycle), state.service, state.unknown_since)
                )
            # else another shard of the run counted it (a domain listed twice).
        record = shard_record(
            shard,
            counted,
            len(shard.domains) - len(planned),
            frozenset(self.checker.unsafe),
            streak_began=self._streak_began(),
            outcome="dead",
            lost=lost,
        )
        updated = self.store.record_shard(shard.run_id, record)
        if updated is not None:
            finish_if_complete(updated, self.store, self.start_final)

    def _not_as_sent(self, shard: Shard, run: RunRecord) -> str | None:
        """Why a shard message is not one the dispatcher sent, or None when it is: a number
        within the run's count, and the digest the dispatcher recorded under that number."""
        if run.shard_count is not None and not 0 <= shard.number < int(run.shard_count):
            return f"shard {shard.number} is outside the run's {int(run.shard_count)} shards"
        plan = self.store.shard_plan(shard.run_id, shard.number)
        if plan is None:
            return f"the dispatcher sent no shard {shard.number} in this run"
        if plan.digest != shard.digest():
            return f"shard {shard.number} is not what the dispatcher sent under that number"
        return None

    def _check_one(
        self, shard: Shard, planned: PlannedDomain, state: DomainState | None, unsafe: frozenset[Lifecycle]
    ) -> Counted | None:
        """Check one domain unless this run has already; None when another shard of the run
        counted it (the same domain listed twice), so that it is counted once."""
        if state is not None and state.last_run_id == shard.run_id:
            if state.last_shard != shard.number:
                return None
            # A redelivery of this shard: the earlier attempt checked and recorded this domain.
            counted = self._counted(planned, Lifecycle(state.lifecycle), state.service, state.unknown_since)
            return replace(counted, contradicted=_contradicted(state))

        try:
            result = self.checker.check_domain(planned.domain, planned.oldest_verified_at)
        except Exception:
            logger.exception(
                "a lookup failed unexpectedly: counted unknown", extra={"domain": planned.domain}
            )
            return self._counted(planned, Lifecycle.UNKNOWN, None, None, stored=False)
        now = self.clock()
        try:
            if result.unsafe:
                # Recorded before the domain's state, so a crash in between cannot lose the decision.
                self.store.record_finding(decision_for(shard, planned, result, now))
            if notice := notice_for(result, state, self.notice_stages, protected=self.protected, now=now):
                self.store.record_notice(shard.run_id, notice)
            recorded = updated_state(
                state, planned, result, now, unsafe=unsafe, run_id=shard.run_id, shard=shard.number
            )
            self.store.save_domain_state(recorded)
        except Exception:
            # One domain that cannot be stored never takes its shard-mates down: it is counted
            # (its place's evidence included) and, with no state saved, checked again next run.
            logger.exception("could not store a domain's check", extra={"domain": planned.domain})
            return self._counted(planned, result.lifecycle, result.service, None, stored=False)
        counted = self._counted(planned, result.lifecycle, result.service, recorded.unknown_since)
        return replace(counted, contradicted=_contradicted(recorded))

    def _counted(
        self,
        planned: PlannedDomain,
        lifecycle: Lifecycle,
        service: str | None,
        unknown_since: datetime | None,
        *,
        stored: bool = True,
    ) -> Counted:
        return Counted(
            domain=planned.domain,
            lifecycle=lifecycle,
            place=place(planned.domain, service),
            addresses=planned.addresses,
            unprotected=not self.checker.provider.serves(planned.domain),
            unknown_since=unknown_since if lifecycle is Lifecycle.UNKNOWN else None,
            stored=stored,
        )


@dataclass(frozen=True, slots=True)
class _Started:
    """A shard whose domains are in the pool."""

    shard: Shard
    refused: int
    unsafe: frozenset[Lifecycle]
    verdicts: list[Future[Counted | None]]


def _share_domains(shard: Shard, earlier: _Started | ShardOutcome | Exception) -> bool:
    """Whether `shard` names a domain of the same run that an earlier shard has in the pool."""
    if not isinstance(earlier, _Started) or earlier.shard.run_id != shard.run_id:
        return False
    return not {d.domain for d in shard.domains}.isdisjoint(d.domain for d in earlier.shard.domains)


@contextmanager
def _logging_keys(shard: Shard) -> Iterator[None]:
    """Logs written about a shard carry its run and number, from whichever thread: one pool
    works on several shards at once, so the keys are the thread's own, not the logger's."""
    logger.thread_safe_append_keys(run_id=shard.run_id, shard=shard.number)
    try:
        yield
    finally:
        logger.thread_safe_remove_keys(["run_id", "shard"])


def _registrable(domain: str) -> bool:
    """A garbled or forged shard message may name a public suffix or a name that is not a
    registrable domain: such a name is refused, never looked up nor unverified."""
    try:
        if registrable_domain(domain) == domain:
            return True
    except InvalidDomain:
        pass
    logger.warning("refused a domain that is not a registrable domain", extra={"domain": domain[:300]})
    return False


def _contradicted(state: DomainState) -> str | None:
    """The service the DNS contradicted at the domain's last check, if it did."""
    dns = state.dns or {}
    if state.lifecycle == Lifecycle.UNKNOWN and dns.get("delegated") is True:
        return state.service or state.provider or "unknown service"
    return None
