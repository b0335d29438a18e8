"""Benchmark 2: the checker against rate limits.

Four loopback RDAP registries, each a server of its own (lapsewatch's rate limiter is keyed by
host:port), each answering after 50 ms and enforcing its own rate limit with 429s beyond it; all
four run in one process, the checker in another. lapsewatch's per-server rate is set to the
servers' limit less a hair (the operator's setting), and the real DomainChecker and RdapProvider
look up active domains:

* one at a time: the loop a naive checker would be, bounded by the latency;
* concurrently, `DomainChecker.check_many` with its 32 threads;
* as the checker Lambda does: shards of 25 domains, one after another, each with the sweep's
  16-thread pool (ShardChecker's shape, without the storage);
* check_many again against registries that allow no burst at all (for the record: not a target).

Then the checker function itself checks a few shards against moto (another process), to count
the DynamoDB requests, log bytes and time a shard costs, for benchmark 3.

    .venv/bin/python -m bench checker
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from itertools import batched
from pathlib import Path

from bench import AwsRequests, MotoProcess, Result, Table, Target, command, run_child

LATENCY = 0.05
LIMIT = 100.0  # requests a second each registry allows
# Each registry's token bucket holds 10 (a tenth of a second at LIMIT): requests that the
# client spaced evenly arrive bunched by thread scheduling, and a real server's window absorbs
# that; over any interval t a registry still admits at most BURST + LIMIT x t.
BURST = 10
CLIENT_RATE = 0.98 * LIMIT  # lapsewatch's LAPSEWATCH_RDAP_RATE: the limit, less a hair
REGISTRIES = {"verisign": ["com"], "pir": ["org"], "denic": ["de"], "nominet": ["uk"]}
BASELINE_LOOKUPS = 100
CONCURRENT_LOOKUPS = 6000
STRICT_LOOKUPS = 2000
SHARD_SIZE = 25
SHARD_WORKERS = 16  # SweepSettings.check_workers' default
STORAGE_SHARDS = 40


# The registries' process -------------------------------------------------------------------------
def serve(conn, bootstrap_path: str, latency: float, limit: float, burst: int) -> None:
    """Four registries on four ports, answering every name as an active registration."""
    from lapsewatch.timefmt import rfc3339
    from lapsewatch_tools.local.rdap_server import DomainAnswer, LoopbackRdap

    servers = {name: LoopbackRdap().start() for name in REGISTRIES}
    services = []
    for name, server in servers.items():
        base = server.add_registry(
            name,
            tlds=REGISTRIES[name],
            latency=latency,
            rate_limit=limit,
            burst=burst,
            default=DomainAnswer.for_lifecycle("active"),
        )
        services.append([REGISTRIES[name], [base]])
    document = {
        "description": "RDAP bootstrap file for Domain Name System registrations (bench)",
        "publication": rfc3339(datetime.now(UTC)),
        "services": services,
        "version": "1.0",
    }
    Path(bootstrap_path).write_text(json.dumps(document, indent=1))
    conn.send("ready")
    try:
        while (order := conn.recv()) != "stop":
            if order == "counters":
                counters = {
                    name: {"requests": s.requests[name], "throttled": s.throttled[name]}
                    for name, s in servers.items()
                }
                conn.send(counters | {"cpu_seconds": time.process_time()})
    finally:
        for server in servers.values():
            server.close()


class Registries:
    """The four registries' process, its bootstrap file, and their request and 429 counters."""

    def __init__(self, *, latency: float = LATENCY, limit: float = LIMIT, burst: int = BURST) -> None:
        self.latency, self.limit, self.burst = latency, limit, burst

    def __enter__(self) -> Registries:
        self._scratch = tempfile.TemporaryDirectory(prefix="lapsewatch-bench-")
        self.bootstrap = Path(self._scratch.name) / "dns.json"
        context = multiprocessing.get_context("spawn")
        self._conn, theirs = context.Pipe()
        self._process = context.Process(
            target=serve,
            args=(theirs, str(self.bootstrap), self.latency, self.limit, self.burst),
            daemon=True,
        )
        self._process.start()
        if not self._conn.poll(60) or self._conn.recv() != "ready":
            raise RuntimeError("the loopback RDAP registries did not start")
        return self

    def counters(self) -> dict:
        self._conn.send("counters")
        return self._conn.recv()

    def __exit__(self, *exc_info: object) -> None:
        self._conn.send("stop")
        self._process.join(10)
        if self._process.is_alive():
            self._process.terminate()
        self._scratch.cleanup()


def domains(count: int, prefix: str) -> list[str]:
    """Names spread evenly over the four registries."""
    tlds = [tlds[0] for tlds in REGISTRIES.values()]
    return [
        f"{prefix}-{index:05d}.{'co.uk' if tld == 'uk' else tld}" for index, tld in _round_robin(count, tlds)
    ]


def _round_robin(count: int, items: list[str]):
    return ((index, items[index % len(items)]) for index in range(count))


# The checker's process ---------------------------------------------------------------------------
def child(args: argparse.Namespace) -> dict:
    from lapsewatch.check import DomainChecker
    from lapsewatch.lifecycle import Lifecycle
    from lapsewatch.providers.rdap import Bootstrap, RdapProvider

    if args.mode == "storage":
        return _storage(args)
    provider = RdapProvider(Bootstrap.load(Path(args.bootstrap)), rate=args.rate, allow_loopback_http=True)
    checker = DomainChecker(provider)
    names = domains(args.lookups, args.mode)
    cpu, wall = time.process_time(), time.perf_counter()
    if args.mode == "one-at-a-time":
        results = [checker.check_domain(name) for name in names]
    elif args.mode == "check-many":
        results = checker.check_many(names, workers=32)
    else:  # the checker Lambda's shape: a shard at a time, each with a pool of its own
        results = []
        for shard in batched(names, SHARD_SIZE, strict=False):
            with ThreadPoolExecutor(min(SHARD_WORKERS, len(shard))) as pool:
                results += pool.map(checker.check_domain, shard)
    wall = time.perf_counter() - wall
    cpu = time.process_time() - cpu
    return {
        "lookups": len(results),
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "not_active": sum(r.lifecycle is not Lifecycle.ACTIVE for r in results),
        "errors": sorted({r.error for r in results if r.error})[:5],
    }


def _storage(args: argparse.Namespace) -> dict:
    """The checker function itself (functions/checker/app.py, Powertools decorators and all),
    invoked with SQS batches of BatchSize shards, on moto: the AWS requests and the log bytes
    one shard costs."""
    import contextlib
    import io
    import os
    import resource
    import warnings

    from bench import TEMPLATE
    from lapsewatch.sweep.messages import PlannedDomain, Shard
    from lapsewatch.sweep.store import RunRecord, RunStore, run_pk
    from lapsewatch_tools.local.aws import LocalAws
    from lapsewatch_tools.local.lambdas import LocalFunction

    counter = AwsRequests().install()
    # The bench's registries speak plain http on loopback, as in `lapsewatch run`.
    os.environ.update(
        LAPSEWATCH_RDAP_BOOTSTRAP=args.bootstrap,
        LAPSEWATCH_RDAP_RATE=str(args.rate),
        LAPSEWATCH_ALLOW_LOOPBACK_HTTP="true",
    )
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    template = LocalAws(TEMPLATE)
    function = LocalFunction(template, "CheckerFunction", TEMPLATE.parent)
    batch_size = int(
        template.resolve(
            template.resources["CheckerFunction"]["Properties"]["Events"]["Shards"]["Properties"]["BatchSize"]
        )
    )
    with contextlib.redirect_stdout(io.StringIO()):
        function.load()  # the cold start: Runtime.from_env() with the template's environment

    run_id = "run-bench-storage"
    names = domains(args.lookups, "storage")
    shards = [
        Shard(
            run_id,
            number,
            tuple(PlannedDomain(name, datetime(2020, 1, 1, tzinfo=UTC), (name,)) for name in chunk),
        )
        for number, chunk in enumerate(batched(names, SHARD_SIZE, strict=False))
    ]
    # The dispatcher's part, done directly: a run in `checking`, waiting for one shard more than
    # these (so that the final step is not started).
    RunStore(
        domains_table=os.environ["LAPSEWATCH_DOMAINS_TABLE"], runs_table=os.environ["LAPSEWATCH_RUNS_TABLE"]
    ).create_run(
        RunRecord(
            run_pk(run_id),
            "RUN",
            run_id=run_id,
            status="checking",
            created_at=datetime.now(UTC),
            shard_count=len(shards) + 1,
        )
    )
    counter.calls.clear()
    counter.attempts.clear()
    counter.write_units = counter.read_units = 0
    counter.put_items = counter.put_bytes = 0

    logs = io.StringIO()
    failed = 0
    cpu, wall = time.process_time(), time.perf_counter()
    with contextlib.redirect_stdout(logs):
        for number, batch in enumerate(batched(shards, batch_size, strict=False)):
            event = {
                "Records": [_sqs_record(f"m-{number}-{i}", shard.to_body()) for i, shard in enumerate(batch)]
            }
            failed += len(function.invoke(event).get("batchItemFailures", []))
    wall = time.perf_counter() - wall
    cpu = time.process_time() - cpu
    invocations = -(-len(shards) // batch_size)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "shards": len(shards),
        "domains": len(names),
        "invocations": invocations,
        "batch_size": batch_size,
        "failed_records": failed,
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "log_bytes": len(logs.getvalue().encode()),
        "requests": counter.summary(),
    }


def _sqs_record(message_id: str, body: str) -> dict:
    now = str(int(time.time() * 1000))
    return {
        "messageId": message_id,
        "receiptHandle": message_id,
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": now,
            "SenderId": "bench",
            "ApproximateFirstReceiveTimestamp": now,
        },
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:bench",
        "awsRegion": "us-east-1",
    }


# The runner's side -------------------------------------------------------------------------------
def _phase(registries: Registries, mode: str, lookups: int, rate: float, env: dict | None = None) -> dict:
    before = registries.counters()
    figures = run_child(
        "bench.checker",
        [
            "--child",
            mode,
            "--bootstrap",
            str(registries.bootstrap),
            "--rate",
            str(rate),
            "--lookups",
            str(lookups),
        ],
        env or {},
    )
    after = registries.counters()
    figures["server_cpu_seconds"] = after.pop("cpu_seconds") - before.pop("cpu_seconds")
    figures["server_requests"] = sum(after[n]["requests"] - before[n]["requests"] for n in after)
    figures["throttled"] = sum(after[n]["throttled"] - before[n]["throttled"] for n in after)
    figures["throttled_by_registry"] = {n: after[n]["throttled"] - before[n]["throttled"] for n in after}
    return figures


def run() -> Result:
    started = time.perf_counter()
    with Registries() as registries:
        phases = {
            mode: _phase(registries, mode, lookups, CLIENT_RATE)
            for mode, lookups in (
                ("one-at-a-time", BASELINE_LOOKUPS),
                ("check-many", CONCURRENT_LOOKUPS),
                ("shards", CONCURRENT_LOOKUPS),
            )
        }
        with MotoProcess() as moto:
            storage = _phase(
                registries, "storage", STORAGE_SHARDS * SHARD_SIZE, CLIENT_RATE, moto.environment
            )
    with Registries(burst=1) as strict:
        phases["strict"] = _phase(strict, "check-many", STRICT_LOOKUPS, CLIENT_RATE)
    return report(phases, storage, time.perf_counter() - started)


def report(phases: dict, storage: dict, seconds: float) -> Result:
    limits = LIMIT * len(REGISTRIES)
    rows = []
    for mode, label in (
        ("one-at-a-time", "one at a time (a plain loop)"),
        ("check-many", "check_many, 32 threads"),
        ("shards", f"shards of {SHARD_SIZE}, {SHARD_WORKERS} threads each (the checker Lambda)"),
        ("strict", "check_many, registries allowing no burst (not a target)"),
    ):
        f = phases[mode]
        f["lookups_per_second"] = f["lookups"] / f["wall_seconds"]
        f["cpu_ms_per_lookup"] = 1000 * f["cpu_seconds"] / f["lookups"]
        rows.append(
            [
                label,
                f"{f['lookups']:,}",
                f"{f['wall_seconds']:.1f}",
                f"{f['lookups_per_second']:.1f}",
                f"{f['lookups_per_second'] / limits:.1%}",
                f"{f['throttled']:,}",
                f"{f['not_active']:,}",
                f"{f['cpu_ms_per_lookup']:.2f}",
            ]
        )
    baseline = phases["one-at-a-time"]["lookups_per_second"]
    best = phases["check-many"]
    lambda_shape = phases["shards"]
    throttled = sum(f["throttled"] for mode, f in phases.items() if mode != "strict")

    requests = storage["requests"]
    per_shard = storage["shards"]
    storage["per_shard"] = {
        "calls": {name: count / per_shard for name, count in requests["calls"].items()},
        "write_units": requests["dynamodb_write_units"] / per_shard,
        "read_units": requests["dynamodb_read_units"] / per_shard,
        "log_bytes": storage["log_bytes"] / per_shard,
        "seconds": storage["wall_seconds"] / per_shard,
        "cpu_seconds": storage["cpu_seconds"] / per_shard,
    }
    storage["domain_item_bytes"] = requests["dynamodb_put_bytes"] / max(1, requests["dynamodb_put_items"])
    storage["domains_per_second"] = storage["domains"] / storage["wall_seconds"]
    storage_rows = [[name, f"{count:.2f}"] for name, count in storage["per_shard"]["calls"].items()] + [
        ["DynamoDB write units (from the items' sizes)", f"{storage['per_shard']['write_units']:.1f}"],
        ["DynamoDB read units", f"{storage['per_shard']['read_units']:.1f}"],
        ["domain item written, mean size", f"{storage['domain_item_bytes']:.0f} bytes"],
        ["log output (Powertools lines and EMF metrics)", f"{storage['per_shard']['log_bytes']:,.0f} bytes"],
        ["wall time (lookups and moto)", f"{storage['per_shard']['seconds'] * 1000:.0f} ms"],
        ["CPU time", f"{storage['per_shard']['cpu_seconds'] * 1000:.0f} ms"],
    ]
    return Result(
        name="checker",
        title="Checker against rate limits",
        command=command("checker"),
        tables=[
            Table(
                [
                    "how",
                    "lookups",
                    "seconds",
                    "lookups/s",
                    "of the limits",
                    "429s",
                    "not active",
                    "CPU ms/lookup",
                ],
                rows,
            ),
            Table(
                ["per shard of 25 domains", "value"],
                storage_rows,
                title="What one shard costs: the checker function on moto",
            ),
        ],
        targets=[
            Target(
                "lookups/s of the sum of the limits (check_many)",
                f"{best['lookups_per_second'] / limits:.1%}",
                "≥ 90%",
                best["lookups_per_second"] >= 0.9 * limits,
            ),
            Target("429s provoked (the first three runs)", f"{throttled}", "0", throttled == 0),
            Target(
                "speed-up over one at a time (check_many)",
                f"{best['lookups_per_second'] / baseline:.1f}x",
                "≥ 10x",
                best["lookups_per_second"] >= 10 * baseline,
            ),
        ],
        notes=[
            f"{len(REGISTRIES)} registries, each a LoopbackRdap on a port of its own: "
            f"{LATENCY * 1000:.0f} ms latency, {LIMIT:g} requests/s allowed (a token bucket holding "
            f"{BURST}), 429 with Retry-After beyond: {limits:g}/s in all. They run in one process, the "
            "checker in another; the 429s are the registries' own counts.",
            f"lapsewatch's per-server rate (LAPSEWATCH_RDAP_RATE) is {CLIENT_RATE:g}/s, "
            f"{CLIENT_RATE / LIMIT:.0%} of the registries' limit, so check_many can reach "
            f"{CLIENT_RATE / LIMIT:.0%} of the limits at most.",
            "The checker Lambda's shape finishes each shard before it starts the next, so a shard's "
            "slowest lookups hold the others and 16 threads are spread over four registries: "
            f"{lambda_shape['lookups_per_second'] / limits:.0%} of the limits. Benchmark 3 bills the "
            "checker at the rate its function reaches (the table below), not check_many's.",
            f"Registries that allow no burst at all: {phases['strict']['throttled']} 429s in "
            f"{STRICT_LOOKUPS:,} lookups. lapsewatch spaces the requests it starts, but 32 threads "
            "contending for the interpreter lock send some of them late, bunched with the next; a server "
            "that counts every gap strictly answers those with 429 (lapsewatch then waits out the "
            "Retry-After and tries again).",
            f"The per-shard costs are the checker function's own (functions/checker/app.py, loaded as a "
            f"cold start loads it) on {storage['shards']} shards, {storage['batch_size']} to an invocation "
            "as the template's BatchSize, against moto in another process: requests counted as in "
            "benchmark 1; write units from the sizes of the items written (1 KB a unit, doubled in "
            "transactions); log bytes as the function printed them (CloudWatch Logs ingests them).",
        ],
        figures={
            "phases": phases,
            "storage": storage,
            "limits": limits,
            "client_rate": CLIENT_RATE,
            "latency": LATENCY,
            "limit": LIMIT,
            "burst": BURST,
            "registries": len(REGISTRIES),
        },
        seconds=seconds,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--child", choices=["one-at-a-time", "check-many", "shards", "storage"], dest="mode")
    parser.add_argument("--bootstrap")
    parser.add_argument("--rate", type=float, default=CLIENT_RATE)
    parser.add_argument("--lookups", type=int, default=CONCURRENT_LOOKUPS)
    args = parser.parse_args()
    if args.mode:
        print(json.dumps(child(args)))
    else:
        print(json.dumps(run().to_json(), indent=1))


if __name__ == "__main__":
    main()
