"""Powertools' partial batch response, for a handler that takes a whole SQS batch at once."""

from __future__ import annotations

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord


class WholeBatchProcessor(BatchProcessor):
    """Powertools' BatchProcessor for SQS, whose handler takes every record of the batch together
    and gives back each one's result, or the exception that fails it alone: the checkers look up
    all of a batch's shards in one pool (ShardChecker.check_records). Each record is then reported
    as BatchProcessor reports a record handler's, so that the partial batch response, and the
    error when every record failed, are Powertools' own."""

    def __init__(self) -> None:
        super().__init__(event_type=EventType.SQS)

    def process(self) -> list[tuple]:
        records = [SQSRecord(raw) for raw in self.records]
        results = self.handler(records)
        return [
            self.failure_handler(record, (type(result), result, result.__traceback__))
            if isinstance(result, Exception)
            else self.success_handler(raw, result)
            for raw, record, result in zip(self.records, records, results, strict=True)
        ]
