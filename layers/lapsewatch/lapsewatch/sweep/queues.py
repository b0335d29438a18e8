"""SQS, behind one small class per queue of template.yaml: CheckQueue (shards for the checkers),
DispatchQueue (a dispatch handed over to a new invocation) and FinalQueue (runs to finish)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from itertools import batched

from lapsewatch.sweep.messages import Shard, dispatch_body, final_body

SQS_BATCH = 10  # SendMessageBatch's limit
_ATTEMPTS = 5


class QueueError(RuntimeError):
    pass


class CheckQueue:
    def __init__(self, sqs, url: str) -> None:
        self._sqs = sqs
        self.url = url

    def send(self, shards: Iterable[Shard]) -> int:
        """Send shards ten to a SendMessageBatch call, resending the entries SQS refuses."""
        sent = 0
        for batch in batched(shards, SQS_BATCH, strict=False):
            entries = {str(shard.number): shard.to_body() for shard in batch}
            for attempt in range(_ATTEMPTS):
                response = self._sqs.send_message_batch(
                    QueueUrl=self.url,
                    Entries=[{"Id": key, "MessageBody": body} for key, body in entries.items()],
                )
                for ok in response.get("Successful", []):
                    entries.pop(ok["Id"], None)
                    sent += 1
                if not entries:
                    break
                time.sleep(0.2 * 2**attempt)
            if entries:
                failed = response.get("Failed", [])
                raise QueueError(f"SQS refused {len(entries)} shard messages: {failed[:3]}")
        return sent


class DispatchQueue:
    """Where a dispatcher that runs out of time hands its run over to a new invocation."""

    def __init__(self, sqs, url: str) -> None:
        self._sqs = sqs
        self.url = url

    def send(self, run_id: str, generation: int) -> None:
        self._sqs.send_message(QueueUrl=self.url, MessageBody=dispatch_body(run_id, generation))


class FinalQueue:
    def __init__(self, sqs, url: str) -> None:
        self._sqs = sqs
        self.url = url

    def send(self, run_id: str) -> None:
        self._sqs.send_message(QueueUrl=self.url, MessageBody=final_body(run_id))
