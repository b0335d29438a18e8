"""What each Lambda function does with its event. The functions in functions/ add only the
Powertools decorators and the Runtime built at cold start. Every handler takes
(event, runtime, context), the context being None outside Lambda."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from lapsewatch.sweep.dispatch import DispatchResult
from lapsewatch.sweep.events import BadEvent, operator_choice, run_id_in
from lapsewatch.sweep.messages import Shard, parse_dispatch_body, parse_final_body
from lapsewatch.sweep.observability import MetricUnit, logger, metrics
from lapsewatch.sweep.records import run_id_for
from lapsewatch.sweep.runtime import Runtime
from lapsewatch.timefmt import parse_time


def dispatch(
    event: dict, runtime: Runtime, context: LambdaContext | None = None
) -> DispatchResult | list[DispatchResult]:
    """A schedule event (`time`), or an operator's `{"domains": [...]}`; both may carry
    `"dry_run": true` and `"check_all": true`. From SQS: a run to continue, handed over by an
    invocation that ran out of time."""
    if not isinstance(event, dict):
        raise BadEvent("the event must be a JSON object")
    time_left = _time_left(context)
    if "Records" in event:
        resumed = []
        for record in event["Records"]:
            run_id, generation = parse_dispatch_body(record["body"])
            logger.info("continuing a run", extra={"run_id": run_id, "generation": generation})
            resumed.append(runtime.dispatcher.resume(run_id, generation, time_left=time_left))
        return resumed
    # An event can make a run dry, never live: `"dry_run": false` on a stack deployed dry is dry.
    dry_run = event.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise BadEvent('"dry_run" must be true or false')
    check_all = event.get("check_all", False)
    if not isinstance(check_all, bool):
        raise BadEvent('"check_all" must be true or false')

    if "domains" in event:
        domains = event["domains"]
        if not isinstance(domains, list) or not domains or not all(isinstance(d, str) for d in domains):
            raise BadEvent('"domains" must be a non-empty list of strings')
        now = runtime.clock()
        digest = hashlib.sha256(json.dumps(sorted(domains)).encode()).hexdigest()[:8]
        run_id = f"{run_id_for(now)}-manual-{digest}"
        logger.info("dispatching an operator's domains", extra={"run_id": run_id, "count": len(domains)})
        return _started(
            runtime.dispatcher.start(
                run_id, trigger="manual", dry_run=dry_run, domains=domains, time_left=time_left
            )
        )

    try:
        occurrence = parse_time(event["time"])
    except (KeyError, TypeError, ValueError):
        raise BadEvent('expected a schedule event with a "time", or {"domains": [...]}') from None
    run_id = run_id_for(occurrence)
    logger.info("dispatching the scheduled run", extra={"run_id": run_id})
    return _started(
        runtime.dispatcher.start(run_id, dry_run=dry_run, check_all=check_all, time_left=time_left)
    )


def _time_left(context: LambdaContext | None) -> Callable[[], float]:
    if context is None:
        return lambda: float("inf")
    return lambda: context.get_remaining_time_in_millis() / 1000


def _started(started: DispatchResult) -> DispatchResult:
    metrics.add_metric("RunsStarted", MetricUnit.Count, 0 if started.get("duplicate") else 1)
    metrics.add_metric("DomainsListed", MetricUnit.Count, started.get("listed", 0))
    metrics.add_metric("ShardsSent", MetricUnit.Count, started.get("shards", 0))
    return started


def check_batch(
    event: dict, runtime: Runtime, context: LambdaContext | None = None
) -> PartialItemFailureResponse:
    """An SQS batch of shards, their domains checked together in one pool (ShardChecker.check_shards).
    A shard that fails is reported alone (ReportBatchItemFailures) and retried by SQS; on its
    last delivery it is written off so that the run still ends. A body that is not a shard fails
    its record alone."""
    processor = BatchProcessor(event_type=EventType.SQS)
    max_receives = runtime.settings.max_receives

    # Every record's shard first, then all of them at once; the record handler below hands each
    # record its own result, so that Powertools builds the partial batch response as before.
    shards: dict[str, Shard | Exception] = {}
    for raw in event.get("Records", []):
        record = SQSRecord(raw)
        try:
            shards[record.message_id] = Shard.from_body(record.body)
        except Exception as exc:
            shards[record.message_id] = exc
    parsed = {message_id: shard for message_id, shard in shards.items() if isinstance(shard, Shard)}
    outcomes = dict(zip(parsed, runtime.shard_checker.check_shards(list(parsed.values())), strict=True))

    def check_record(record: SQSRecord) -> dict:
        shard = shards[record.message_id]
        if isinstance(shard, Exception):
            raise shard
        logger.append_keys(run_id=shard.run_id, shard=shard.number)
        outcome = outcomes[record.message_id]
        if not isinstance(outcome, Exception) and outcome.dropped:
            # Deleted unchecked: retried, or written off, it could end the run early.
            metrics.add_metric("ShardsDropped", MetricUnit.Count, 1)
            return {"dropped": outcome.dropped}
        if isinstance(outcome, Exception):
            receives = int(record.attributes.approximate_receive_count or 1)
            logger.exception("shard failed", exc_info=outcome, extra={"receive": receives})
            if receives >= max_receives:
                runtime.shard_checker.write_off(shard)
            raise outcome
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

    metrics.add_metric("ShardsReceived", MetricUnit.Count, len(event.get("Records", [])))
    return process_partial_response(
        event=event, record_handler=check_record, processor=processor, context=context
    )


def finalize(event: dict, runtime: Runtime, context: LambdaContext | None = None) -> dict | list[dict]:
    """Finish runs whose shards are done (SQS), or an operator's
    `{"approve_run": id}`, `{"discard_run": id}` (each with `"domains": [...]` to choose some of
    the held decisions, and `"by"`: who) or `{"close_run": id}` (a run stuck waiting for a shard
    that was lost)."""
    metrics.add_metric("FinalInvocations", MetricUnit.Count, 1)
    if not isinstance(event, dict):
        raise BadEvent("the event must be a JSON object")
    if "Records" in event:
        time_left = _time_left(context)
        return [_finish(parse_final_body(record["body"]), runtime, time_left) for record in event["Records"]]
    if "approve_run" in event:
        run_id = run_id_in(event, "approve_run")
        domains, by = operator_choice(event)
        logger.info("operator approved a held run", extra={"run_id": run_id, "domains": domains, "by": by})
        return runtime.finalizer.approve(run_id, domains, by, time_left=_time_left(context))
    if "discard_run" in event:
        run_id = run_id_in(event, "discard_run")
        domains, by = operator_choice(event)
        logger.info("operator discarded a held run", extra={"run_id": run_id, "domains": domains, "by": by})
        return runtime.finalizer.discard(run_id, domains, by)
    if "close_run" in event:
        logger.info("operator closed a stuck run", extra={"run_id": event["close_run"]})
        return runtime.finalizer.close(run_id_in(event, "close_run"), time_left=_time_left(context))
    raise BadEvent('expected SQS records, or {"approve_run": id}, {"discard_run": id}, {"close_run": id}')


def _finish(run_id: str, runtime: Runtime, time_left: Callable[[], float]) -> dict:
    logger.append_keys(run_id=run_id)
    summary = runtime.finalizer.finish(run_id, time_left)
    logger.info("run finished", extra={"summary": summary})
    return summary


def manual(event: dict, runtime: Runtime, context: LambdaContext | None = None) -> dict:
    metrics.add_metric("ManualChecks", MetricUnit.Count, 1)
    if isinstance(event, dict):
        # The domain only: an address is never logged.
        logger.append_keys(domain=event.get("domain") or str(event.get("email", "")).rpartition("@")[2])
    return runtime.manual.handle(event)
