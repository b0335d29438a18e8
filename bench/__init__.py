"""lapsewatch's benchmarks: `make bench` (`python -m bench`) runs them and writes docs/benchmarks.md.

This module holds what several benchmarks share: moto's server in a process of its own with the
template's tables and queues, a counter of the AWS requests a process makes, and the result
types the runner turns into tables.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
REGION = "us-east-1"


# Results ---------------------------------------------------------------------------------------
@dataclass
class Target:
    name: str
    measured: str
    goal: str
    passed: bool


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]
    title: str = ""


@dataclass
class Result:
    """One benchmark's figures: its tables, its targets, notes, and raw numbers for later ones."""

    name: str
    title: str
    command: str
    tables: list[Table] = field(default_factory=list)
    blocks: list[str] = field(default_factory=list)  # preformatted text, shown as it is
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    figures: dict = field(default_factory=dict)
    seconds: float = 0.0

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> Result:
        data = dict(data)
        data["tables"] = [Table(**t) for t in data.get("tables", [])]
        data["targets"] = [Target(**t) for t in data.get("targets", [])]
        return cls(**data)


def command(name: str) -> str:
    return f".venv/bin/python -m bench {name}"


# Processes -------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def aws_environment(endpoint: str) -> dict[str, str]:
    """What boto3 and PynamoDB need to talk to moto and nothing else."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "LapsewatchBench",
        "POWERTOOLS_SERVICE_NAME": "lapsewatch",
    }


class MotoProcess:
    """moto's server in a process of its own, so that the process measured is the client alone.

    On entry it creates template.yaml's tables and queues (with LocalAws's own code, so the
    benchmark runs on the resources as deployed) and `environment` is the dispatcher's
    environment as template.yaml sets it, pointed at this server.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen | None = None

    def __enter__(self) -> MotoProcess:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # keep_queues_short purges more often than real SQS's once a minute.
            env={**os.environ, "MOTO_SQS_ENFORCE_STRICT_QUEUE_PURGE_BEHAVIOUR": "false"},
        )
        try:
            self._wait_ready()
            self.environment = self._create_resources()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    def keep_queues_short(self, interval: float = 0.25) -> _Purger:
        """Empty the check queue every `interval` seconds, from this process, while in the `with`.

        moto's SQS does work in proportion to the queue's depth for every message sent (it
        recomputes the queue's attributes), so 9,000 shards sent into one queue take minutes of
        moto's time that real SQS does not spend. Nothing reads the shards here: the dispatcher's
        process counts what it sent.
        """
        return _Purger(self.endpoint, [self.environment["LAPSEWATCH_CHECK_QUEUE_URL"]], interval)

    def _wait_ready(self, seconds: float = 30.0) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"moto's server did not start on {self.endpoint}")

    def _create_resources(self) -> dict[str, str]:
        from lapsewatch_tools.local.aws import LocalAws

        saved = dict(os.environ)
        os.environ.update(aws_environment(self.endpoint))
        try:
            aws = LocalAws(TEMPLATE)
            aws._create_resources()  # the template's own tables and queues, as `lapsewatch run` makes them
            environment = aws.function_environment("DispatcherFunction")
        finally:
            os.environ.clear()
            os.environ.update(saved)
        environment.update(aws_environment(self.endpoint))
        environment.update(
            LAPSEWATCH_REGISTRY_URL="https://registry.invalid", LAPSEWATCH_REGISTRY_TOKEN_SECRET_ARN=""
        )
        return environment


class _Purger:
    def __init__(self, endpoint: str, urls: list[str], interval: float) -> None:
        import boto3

        env = aws_environment(endpoint)
        self._sqs = boto3.client(
            "sqs",
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        )
        self._urls = urls
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-purger", daemon=True)

    def __enter__(self) -> _Purger:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            for url in self._urls:
                self._sqs.purge_queue(QueueUrl=url)


def run_child(module: str, args: list[str], env: dict[str, str], *, timeout: float = 600) -> dict:
    """Run `python -m module args` with `env` added, and return the JSON its last line prints.

    A process of its own: its peak RSS and CPU time are the measured code's alone.
    """
    completed = subprocess.run(
        [sys.executable, "-m", module, *args],
        env={**os.environ, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{module} failed ({completed.returncode}):\n{completed.stderr[-4000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


# Counting AWS requests -------------------------------------------------------------------------
class AwsRequests:
    """Every AWS API request the process makes, by service and operation, with its billing units.

    Counted with botocore's own events on every session: boto3's default session directly, and
    PynamoDB's, which it builds per thread and connection with botocore's `get_session`, by
    handing PynamoDB a `get_session` that registers the same handlers. `before-parameter-build`
    fires once per API call, with the call's parameters (message and item sizes come from them);
    `before-send` once per HTTP attempt, retries included (what AWS bills).
    """

    def __init__(self, *, shard_digest: bool = False) -> None:
        # With `shard_digest`, a digest of every shard message sent, in order, its run id left out:
        # two runs that send the same shards have the same digest.
        self._shard_digest = hashlib.sha256() if shard_digest else None
        self.calls: Counter[str] = Counter()
        self.attempts: Counter[str] = Counter()
        self.sqs_messages = 0
        self.entries_per_batch: Counter[int] = Counter()
        self.domains_per_message: Counter[int] = Counter()  # shard bodies: how many domains each carries
        self.sqs_bytes = 0
        self.sqs_chunks = 0  # SQS bills each 64 KB of a request's payload as one request
        self.write_units = 0.0  # DynamoDB on-demand units, from the items' sizes
        self.read_units = 0.0
        self.put_items = 0
        self.put_bytes = 0

    def install(self) -> AwsRequests:
        import boto3
        import botocore.session
        import pynamodb.connection.base as pynamodb_base

        boto3.setup_default_session()
        self._register(boto3.DEFAULT_SESSION.events)
        original = botocore.session.get_session

        def get_session(*args, **kwargs):
            session = original(*args, **kwargs)
            self._register(session)
            return session

        pynamodb_base.get_session = get_session
        return self

    def _register(self, events) -> None:
        events.register("before-parameter-build", self._before_call)
        events.register("before-send", self._before_send)

    def _before_call(self, model, params, **kwargs) -> None:
        service = model.service_model.service_name
        self.calls[f"{service}.{model.name}"] += 1
        if model.name == "SendMessageBatch":
            sizes = [len(entry["MessageBody"].encode()) for entry in params["Entries"]]
            self.entries_per_batch[len(sizes)] += 1
            for entry in params["Entries"]:
                self.domains_per_message[entry["MessageBody"].count('"domain":')] += 1
                if self._shard_digest is not None:
                    self._shard_digest.update(_without_run_id(entry["MessageBody"]).encode())
            self.sqs_messages += len(sizes)
            self.sqs_bytes += sum(sizes)
            self.sqs_chunks += max(1, math.ceil(sum(sizes) / 65536))
        elif model.name == "SendMessage":
            size = len(params["MessageBody"].encode())
            self.sqs_messages += 1
            self.sqs_bytes += size
            self.sqs_chunks += max(1, math.ceil(size / 65536))
        elif service == "sqs":
            self.sqs_chunks += 1
        elif service == "dynamodb":
            self._dynamodb_units(model.name, params)

    def _before_send(self, event_name: str = "", **kwargs) -> None:
        _, service, operation = [*event_name.split("."), "", ""][:3]
        self.attempts[f"{service}.{operation}"] += 1

    def _dynamodb_units(self, operation: str, params: dict) -> None:
        # Writes: one unit per KB of the item, rounded up per item; transactions cost double.
        if operation == "PutItem":
            size = item_size(params["Item"])
            self.put_items += 1
            self.put_bytes += size
            self.write_units += math.ceil(size / 1024)
        elif operation == "UpdateItem":
            self.write_units += 1  # the run record is small; its size after the update is not in the request
        elif operation == "TransactWriteItems":
            for entry in params["TransactItems"]:
                item = entry.get("Put", {}).get("Item")
                self.write_units += 2 * (math.ceil(item_size(item) / 1024) if item else 1)
        # Reads: one unit per 4 KB item read strongly consistent, half that eventually consistent
        # (every item lapsewatch reads is under 4 KB). A Scan or Query is counted as one small
        # read here; benchmark 3 prices the domain table's daily scan from the table's size.
        elif operation == "BatchGetItem":
            for table in params["RequestItems"].values():
                self.read_units += len(table["Keys"]) * (1 if table.get("ConsistentRead") else 0.5)
        elif operation in ("GetItem", "Query", "Scan"):
            self.read_units += 1 if params.get("ConsistentRead") else 0.5

    def summary(self) -> dict:
        by_service: Counter[str] = Counter()
        for name, count in self.calls.items():
            by_service[name.split(".", 1)[0]] += count
        return {
            "calls": dict(sorted(self.calls.items())),
            "attempts": dict(sorted(self.attempts.items())),
            "by_service": dict(by_service),
            "sqs_messages": self.sqs_messages,
            "entries_per_batch": {str(k): v for k, v in sorted(self.entries_per_batch.items())},
            "domains_per_message": {str(k): v for k, v in sorted(self.domains_per_message.items())},
            "sqs_bytes": self.sqs_bytes,
            "sqs_chunks": self.sqs_chunks,
            "dynamodb_write_units": self.write_units,
            "dynamodb_read_units": self.read_units,
            "dynamodb_put_items": self.put_items,
            "dynamodb_put_bytes": self.put_bytes,
            "shard_digest": self._shard_digest.hexdigest() if self._shard_digest is not None else None,
        }


def _without_run_id(body: str) -> str:
    """A shard message with its run id cut out (`"run_id":"..."`, the body's second field)."""
    start = body.find('"run_id":"')
    if start < 0:
        return body
    end = body.index('"', start + len('"run_id":"'))
    return body[:start] + body[end + 1 :]


def item_size(item: dict) -> int:
    """An item's size as DynamoDB bills it: attribute names plus values, in UTF-8 bytes."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: dict) -> int:
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        return len(inner.lstrip("-").replace(".", "").lstrip("0")) // 2 + 1
    if kind == "B":
        return len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + _value_size(v) for v in inner)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + _value_size(v) for k, v in inner.items())
    if kind in ("SS", "NS", "BS"):
        return sum(_value_size({kind[0]: v}) for v in inner)
    return 0


def peak_rss_mb() -> float:
    """This process's peak resident memory, in MB.

    VmHWM, the high-water mark of this program's own memory: ru_maxrss is not, since Linux
    carries it over exec from the process that forked it, so that a measured process started by
    a runner holding a large domain table would report the runner's memory."""
    import resource

    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
