"""Manual: an operator checks one domain or address, and may have it unverified."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from lapsewatch.sweep import handlers
from lapsewatch.sweep.observability import logger, metrics, tracer
from lapsewatch.sweep.runtime import Runtime

runtime = Runtime.from_env()


@logger.inject_lambda_context(clear_state=True)
# Its response carries the address an operator asked about: never stored in X-Ray.
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return handlers.manual(event, runtime, context)
