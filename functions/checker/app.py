"""Checker: an SQS batch of shards, each domain looked up and recorded."""

from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.typing import LambdaContext

from lapsewatch.sweep import handlers
from lapsewatch.sweep.observability import logger, metrics, tracer
from lapsewatch.sweep.runtime import Runtime

runtime = Runtime.from_env()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> PartialItemFailureResponse:
    return handlers.check_batch(event, runtime, context)
