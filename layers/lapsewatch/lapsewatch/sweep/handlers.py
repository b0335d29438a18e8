"""What each Lambda function does with its event: parse it (lapsewatch.sweep.events), call the
part of the Runtime that does the work, and return what it gives. The functions in functions/
add only the Powertools decorators and the Runtime built at cold start. Every handler takes
(event, runtime, context), the context being None outside Lambda."""

from __future__ import annotations

from collections.abc import Callable

from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.typing import LambdaContext

from lapsewatch.sweep.batch import WholeBatchProcessor
from lapsewatch.sweep.dispatch import DispatchResult
from lapsewatch.sweep.events import (
    ApproveRun,
    BadEvent,
    CloseRun,
    ContinueRuns,
    DiscardRun,
    DomainsRun,
    FinishRuns,
    ScheduledRun,
    parse_dispatch_event,
    parse_final_event,
)
from lapsewatch.sweep.observability import MetricUnit, logger, metrics
from lapsewatch.sweep.runtime import Runtime
from lapsewatch.sweep.summary import RunSummary

# The handlers, and what they raise on an event that is not theirs.
__all__ = ["BadEvent", "check_batch", "dispatch", "finalize", "manual"]


def dispatch(
    event: dict, runtime: Runtime, context: LambdaContext | None = None
) -> DispatchResult | list[DispatchResult]:
    """A schedule event (`time`), or an operator's `{"domains": [...]}`; both may carry
    `"dry_run": true` and `"check_all": true`. From SQS: a run to continue, handed over by an
    invocation that ran out of time."""
    parsed = parse_dispatch_event(event)
    time_left = _time_left(context)
    match parsed:
        case ContinueRuns(runs):
            resumed = []
            for run_id, generation in runs:
                logger.info("continuing a run", extra={"run_id": run_id, "generation": generation})
                resumed.append(runtime.dispatcher.resume(run_id, generation, time_left=time_left))
            return resumed
        case DomainsRun(domains, dry_run):
            run_id = parsed.run_id(runtime.clock())
            logger.info("dispatching an operator's domains", extra={"run_id": run_id, "count": len(domains)})
            return _started(
                runtime.dispatcher.start(
                    run_id, trigger="manual", dry_run=dry_run, domains=domains, time_left=time_left
                )
            )
        case ScheduledRun(_, dry_run, check_all):
            logger.info("dispatching the scheduled run", extra={"run_id": parsed.run_id})
            return _started(
                runtime.dispatcher.start(
                    parsed.run_id, dry_run=dry_run, check_all=check_all, time_left=time_left
                )
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
    """An SQS batch of shards, their domains checked together in one pool
    (ShardChecker.check_records). A shard that fails is reported alone (ReportBatchItemFailures)
    and retried by SQS; on its last delivery it is written off so that the run still ends. A body
    that is not a shard fails its record alone."""
    metrics.add_metric("ShardsReceived", MetricUnit.Count, len(event.get("Records", [])))
    return process_partial_response(
        event=event,
        record_handler=runtime.shard_checker.check_records,
        processor=WholeBatchProcessor(),
        context=context,
    )


def finalize(
    event: dict, runtime: Runtime, context: LambdaContext | None = None
) -> RunSummary | list[RunSummary] | dict:
    """Finish runs whose shards are done (SQS), or an operator's
    `{"approve_run": id}`, `{"discard_run": id}` (each with `"domains": [...]` to choose some of
    the held decisions, and `"by"`: who) or `{"close_run": id}` (a run stuck waiting for a shard
    that was lost)."""
    metrics.add_metric("FinalInvocations", MetricUnit.Count, 1)
    parsed = parse_final_event(event)
    time_left = _time_left(context)
    match parsed:
        case FinishRuns(run_ids):
            return [_finish(run_id, runtime, time_left) for run_id in run_ids]
        case ApproveRun(run_id, domains, by):
            logger.info(
                "operator approved a held run", extra={"run_id": run_id, "domains": domains, "by": by}
            )
            return runtime.finalizer.approve(run_id, domains, by, time_left=time_left)
        case DiscardRun(run_id, domains, by):
            logger.info(
                "operator discarded a held run", extra={"run_id": run_id, "domains": domains, "by": by}
            )
            return runtime.finalizer.discard(run_id, domains, by)
        case CloseRun(run_id):
            logger.info("operator closed a stuck run", extra={"run_id": run_id})
            return runtime.finalizer.close(run_id, time_left=time_left)


def _finish(run_id: str, runtime: Runtime, time_left: Callable[[], float]) -> RunSummary:
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
