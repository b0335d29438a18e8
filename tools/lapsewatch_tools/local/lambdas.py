"""The Lambda functions of template.yaml, run in this process: their handler files loaded from
functions/, invoked with a Lambda-like context, and fed from SQS the way Lambda's event source
mapping feeds them."""

from __future__ import annotations

import importlib.util
import itertools
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from lapsewatch_tools.local.aws import LocalAws, SqsSource

_loaded = itertools.count()


@dataclass
class LocalContext:
    """What Powertools reads from a Lambda context."""

    function_name: str
    timeout: float
    memory_limit_in_mb: int = 512
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "local"
    log_stream_name: str = "local"
    _started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:000000000000:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout - (time.monotonic() - self._started)) * 1000))


class LocalFunction:
    """One function of the template, its handler module loaded from its CodeUri."""

    def __init__(self, aws: LocalAws, logical: str, project_root: Path) -> None:
        self.logical = logical
        code_uri = aws.function_setting(logical, "CodeUri")
        module_name, _, self._handler_name = aws.function_setting(logical, "Handler").rpartition(".")
        self.path = project_root / code_uri / f"{module_name}.py"
        self.timeout = float(aws.function_setting(logical, "Timeout") or 3)
        self.memory = int(aws.function_setting(logical, "MemorySize") or 128)
        self.module: ModuleType | None = None

    def load(self) -> None:
        """Import the handler file afresh: its module-level set-up reads the environment, as a
        cold start does."""
        name = f"lapsewatch_local_{self.logical}_{next(_loaded)}"
        spec = importlib.util.spec_from_file_location(name, self.path)
        if spec is None or spec.loader is None:
            raise FileNotFoundError(f"no handler at {self.path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        self.module = module

    def invoke(self, event: dict) -> Any:
        if self.module is None:
            self.load()
        handler = getattr(self.module, self._handler_name)
        return handler(event, LocalContext(self.logical, self.timeout, self.memory))


class EventSourceMapping:
    """Polls a queue and invokes a function with batches, as Lambda's SQS event source does:
    up to BatchSize records an invocation, at most MaximumConcurrency invocations at once,
    a partial batch response deletes only the records that succeeded, and SQS itself moves a
    message to the dead-letter queue after maxReceiveCount deliveries.

    One liberty, to keep a local sweep short: a failed message is made visible again at once
    instead of after the queue's visibility timeout (30 minutes in the template).
    """

    def __init__(self, sqs, source: SqsSource, invoke: Callable[[dict], Any]) -> None:
        self.sqs = sqs
        self.source = source
        self.invoke = invoke
        self.invocations = 0
        self.failures = 0
        self._lock = threading.Lock()

    def poll_once(self) -> int:
        """Receive one batch and invoke the function with it; returns the messages received."""
        received = self.sqs.receive_message(
            QueueUrl=self.source.queue_url,
            MaxNumberOfMessages=min(self.source.batch_size, 10),
            VisibilityTimeout=self.source.visibility_timeout,
            MessageSystemAttributeNames=["All"],
            WaitTimeSeconds=0,
        ).get("Messages", [])
        if not received:
            return 0
        event = {"Records": [self._record(message) for message in received]}
        with self._lock:
            self.invocations += 1
        try:
            response = self.invoke(event)
        except Exception:
            failed_ids = {m["MessageId"] for m in received}
        else:
            failed_ids = set()
            if self.source.report_failures and isinstance(response, dict):
                failed_ids = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
        done = [m for m in received if m["MessageId"] not in failed_ids]
        if done:
            self.sqs.delete_message_batch(
                QueueUrl=self.source.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        for message in received:
            if message["MessageId"] in failed_ids:
                with self._lock:
                    self.failures += 1
                self.sqs.change_message_visibility(
                    QueueUrl=self.source.queue_url,
                    ReceiptHandle=message["ReceiptHandle"],
                    VisibilityTimeout=0,
                )
        return len(received)

    def _record(self, message: dict) -> dict:
        attributes = message.get("Attributes", {})
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": {
                "ApproximateReceiveCount": attributes.get("ApproximateReceiveCount", "1"),
                "SentTimestamp": attributes.get("SentTimestamp", str(int(time.time() * 1000))),
                "SenderId": attributes.get("SenderId", "local"),
                "ApproximateFirstReceiveTimestamp": attributes.get(
                    "ApproximateFirstReceiveTimestamp", str(int(time.time() * 1000))
                ),
            },
            "messageAttributes": {},
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.source.queue_arn,
            "awsRegion": "us-east-1",
        }

    def depth(self) -> int:
        """Messages still on the queue, visible or in flight."""
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.source.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )
