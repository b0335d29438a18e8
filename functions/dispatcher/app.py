"""Dispatcher: the daily schedule (or an operator's list of domains) starts a run."""

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from lapsewatch.sweep import handlers
from lapsewatch.sweep.observability import logger, metrics, tracer
from lapsewatch.sweep.runtime import Runtime

runtime = Runtime.from_env()
# EventBridge may deliver a schedule event twice: one run per occurrence (its `time`).
idempotency = IdempotencyConfig(
    event_key_jmespath="time", raise_on_no_idempotency_key=False, expires_after_seconds=3 * 24 * 3600
)
persistence = DynamoDBPersistenceLayer(table_name=runtime.settings.idempotency_table)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
@idempotent(persistence_store=persistence, config=idempotency)
def lambda_handler(event: dict, context: LambdaContext) -> dict | list[dict]:
    return handlers.dispatch(event, runtime, context)
