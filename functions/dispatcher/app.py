"""Dispatcher: the daily schedule (or an operator's list of domains) starts a run.

A schedule event delivered twice starts one run: the run's lease (lapsewatch.sweep.store) lets
one invocation dispatch it at a time, and the run's id is the occurrence's time."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from lapsewatch.sweep import handlers
from lapsewatch.sweep.observability import logger, metrics, tracer
from lapsewatch.sweep.runtime import Runtime

runtime = Runtime.from_env()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict | list[dict]:
    return handlers.dispatch(event, runtime, context)
