"""Benchmark 2: the checker against rate limits.

Four loopback RDAP registries, each a server of its own (lapsewatch's rate limiter is keyed by
host:port), each answering after 50 ms and enforcing its own rate limit with 429s beyond it; all
four run in one process, the checker in another. lapsewatch's per-server rate is set to the
servers' limit less a hair (the operator's setting), and the real DomainChecker and RdapProvider
look up active domains:

* one at a time: the loop a naive checker would be, bounded by the latency;
* concurrently, `DomainChecker.check_many` with its default 64 threads (what `lapsewatch check` uses);
* shards of 25 domains, one after another, each with a 16-thread pool of its own (the shape the
  checker function had before an invocation's shards shared one pool; without the storage);
* check_many again against registries that allow no burst at all (for the record: not a target);
* check_many through the WHOIS provider against four loopback WHOIS servers, each refusing the
  queries beyond its own rate limit with a rate-limit text, as registries do.

Then the checker function itself (functions/checker/app.py, loaded as a cold start loads it) is
invoked with SQS batches of the template's BatchSize shards, twice: against four registries of
their own that allow 25/s each, its DynamoDB answered in its process (MemoryTables), for the
share of the rate budget it uses; and against moto (another process), to count the DynamoDB
requests, log bytes and CPU time a shard costs, for benchmark 3.

    .venv/bin/python -m bench checker
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from itertools import batched
from pathlib import Path

from bench import AwsRequests, MotoProcess, Result, Table, Target, command, run_child
from lapsewatch.setting import default_of
from lapsewatch.sweep.settings import SweepSettings

LATENCY = 0.05
LIMIT = 100.0  # requests a second each registry allows
# Each registry's token bucket holds 10 (a tenth of a second at LIMIT): requests that the
# client spaced evenly arrive bunched by thread scheduling, and a real server's window absorbs
# that; over any interval t a registry still admits at most BURST + LIMIT x t.
BURST = 10
CLIENT_RATE = 0.98 * LIMIT  # lapsewatch's LAPSEWATCH_RDAP_RATE: the limit, less a hair
REGISTRIES = {"verisign": ["com"], "pir": ["org"], "denic": ["de"], "nominet": ["uk"]}
BASELINE_LOOKUPS = 100
CONCURRENT_LOOKUPS = 12_000  # long enough that start and finish weigh little
STRICT_LOOKUPS = 2000
SHARD_SIZE: int = default_of(SweepSettings, "shard_size")
SHARD_WORKERS: int = default_of(SweepSettings, "check_workers")
STORAGE_SHARDS = 40
# The checker function's own phase. It spends some 3 ms of CPU a domain (the lookup, and
# PynamoDB writing the domain's state), so one Python process keeps up with about 300 lookups a
# second: its registries allow a quarter of LIMIT, for the rate budget and not the CPU to set
# its pace (in Lambda, RdapRatePerServer's default is 5/s).
FUNCTION_LIMIT = LIMIT / 4
FUNCTION_RATE = 0.98 * FUNCTION_LIMIT
FUNCTION_LOOKUPS = 3000
STORE_LATENCY = 0.005  # seconds each DynamoDB request takes in the function phase
# The WHOIS phase: four loopback WHOIS servers in registries' formats, each allowing WHOIS_LIMIT
# queries a second (a bucket holding 5, for arrivals bunched by thread scheduling) and refusing
# beyond; the table's rate for them is 95% of that limit. Real registries allow far less (one a
# second, or 100 an hour): the limit is raised for the run to be short; the share is what counts.
WHOIS_TLDS = ("it", "se", "dk", "nz")
WHOIS_LIMIT = 20.0
WHOIS_BURST = 5
WHOIS_RATE = 0.95 * WHOIS_LIMIT
WHOIS_LOOKUPS = 1200


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
    from lapsewatch.providers.rdap import RdapProvider
    from lapsewatch.providers.rdap_bootstrap import Bootstrap

    if args.mode in ("storage", "function"):
        return _function(args)
    if args.mode == "whois":
        return _whois_child(args)
    provider = RdapProvider(Bootstrap.load(Path(args.bootstrap)), rate=args.rate, allow_loopback_http=True)
    checker = DomainChecker(provider)
    names = domains(args.lookups, args.mode)
    cpu, wall = time.process_time(), time.perf_counter()
    if args.mode == "one-at-a-time":
        results = [checker.check_domain(name) for name in names]
    elif args.mode == "check-many":
        results = checker.check_many(names)
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


def _whois_child(args: argparse.Namespace) -> dict:
    """check_many through the WHOIS provider, its table's rate for the servers set to `args.rate`."""
    from dataclasses import replace

    from lapsewatch.check import DomainChecker
    from lapsewatch.lifecycle import Lifecycle
    from lapsewatch.providers.whois import WhoisProvider
    from lapsewatch.providers.whois_rules import WhoisTable

    servers = dict(item.split("=", 1) for item in args.bootstrap.split(","))
    bundled = WhoisTable.load()
    table = WhoisTable({tld: replace(bundled.rules[tld], rate=args.rate, burst=1) for tld in servers})
    provider = WhoisProvider(
        table, servers={tld: ("127.0.0.1", int(port)) for tld, port in servers.items()}, allow_loopback=True
    )
    tlds = list(servers)
    names = [f"bench-{index}.{tlds[index % len(tlds)]}" for index in range(args.lookups)]
    cpu, wall = time.process_time(), time.perf_counter()
    results = DomainChecker(provider).check_many(names)
    wall = time.perf_counter() - wall
    return {
        "lookups": len(results),
        "wall_seconds": wall,
        "cpu_seconds": time.process_time() - cpu,
        "not_active": sum(r.lifecycle is not Lifecycle.ACTIVE for r in results),
        "errors": sorted({r.error for r in results if r.error})[:5],
    }


def _whois_phase() -> dict:
    from lapsewatch_tools.local.whois_server import LoopbackWhois

    servers = [LoopbackWhois(limit=WHOIS_LIMIT, burst=WHOIS_BURST).start() for _ in WHOIS_TLDS]
    try:
        where = ",".join(f"{tld}={server.port}" for tld, server in zip(WHOIS_TLDS, servers, strict=True))
        figures = run_child(
            "bench.checker",
            [
                "--child",
                "whois",
                "--bootstrap",
                where,
                "--rate",
                str(WHOIS_RATE),
                "--lookups",
                str(WHOIS_LOOKUPS),
            ],
            {},
        )
    finally:
        for server in servers:
            server.close()
    figures["rate"] = WHOIS_RATE
    figures["throttled"] = sum(server.refused for server in servers)
    return figures


def _function(args: argparse.Namespace) -> dict:
    """The checker function itself (functions/checker/app.py, Powertools decorators and all),
    loaded as a cold start loads it and invoked with SQS batches of BatchSize shards.

    `storage`: on moto, to count the AWS requests, log bytes and CPU time a shard costs.
    `function`: with DynamoDB answered in this process (MemoryTables), to measure the pace its
    lookups keep against the registries' limits, which moto's CPU time, taken from the same few
    cores, would hold back instead."""
    import contextlib
    import io
    import os
    import resource
    import warnings

    from bench import TEMPLATE
    from lapsewatch.sweep.messages import PlannedDomain, Shard
    from lapsewatch.sweep.records import RunRecord, run_pk
    from lapsewatch.sweep.store import RunStore
    from lapsewatch_tools.local.aws import LocalAws
    from lapsewatch_tools.local.lambdas import LocalFunction

    template = LocalAws(TEMPLATE)
    counter = AwsRequests().install()
    if args.mode == "function":
        MemoryTables(template, latency=STORE_LATENCY).install()
    # The bench's registries speak plain http on loopback, as in `lapsewatch run`.
    os.environ.update(
        LAPSEWATCH_RDAP_BOOTSTRAP=args.bootstrap,
        LAPSEWATCH_RDAP_RATE=str(args.rate),
        LAPSEWATCH_ALLOW_LOOPBACK_HTTP="true",
    )
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    function = LocalFunction(template, "CheckerFunction", TEMPLATE.parent)
    batch_size = int(
        template.resolve(
            template.resources["CheckerFunction"]["Properties"]["Events"]["Shards"]["Properties"]["BatchSize"]
        )
    )
    with contextlib.redirect_stdout(io.StringIO()):
        function.load()  # the cold start: Runtime.from_env() with the template's environment

    run_id = f"run-bench-{args.mode}"
    names = domains(args.lookups, args.mode)
    shards = [
        Shard(
            run_id,
            number,
            tuple(PlannedDomain(name, datetime(2020, 1, 1, tzinfo=UTC), (name,)) for name in chunk),
        )
        for number, chunk in enumerate(batched(names, SHARD_SIZE, strict=False))
    ]
    # The dispatcher's part, done directly: a run in `checking`, waiting for one shard more than
    # these (so that the final step is not started), and the shards as it records them.
    store = RunStore(
        domains_table=os.environ["LAPSEWATCH_DOMAINS_TABLE"], runs_table=os.environ["LAPSEWATCH_RUNS_TABLE"]
    )
    store.create_run(
        RunRecord(
            run_pk(run_id),
            "RUN",
            run_id=run_id,
            status="checking",
            created_at=datetime.now(UTC),
            shard_count=len(shards) + 1,
        )
    )
    store.record_plans(
        run_id, ((s.number, s.digest(), {d.domain: d.addresses for d in s.domains}) for s in shards)
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
        "lookups": len(names),
        "shards": len(shards),
        "domains": len(names),
        "invocations": invocations,
        "batch_size": batch_size,
        "workers": function.module.runtime.settings.check_workers,
        "failed_records": failed,
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "log_bytes": len(logs.getvalue().encode()),
        "requests": counter.summary(),
        # Every domain answers active: any other count is a lookup or a shard that failed.
        "not_active": len(names) - _checked(logs.getvalue())["active"],
    }


def _checked(logs: str) -> Counter[str]:
    """The domains the function counted, by lifecycle, from its "shard checked" log lines."""
    checked: Counter[str] = Counter()
    for line in logs.splitlines():
        entry = json.loads(line) if line.startswith("{") else {}
        if entry.get("message") == "shard checked":
            checked.update(entry["by_lifecycle"])
    return checked


class MemoryTables:
    """DynamoDB answered in this process: each of the template's tables a dict of items by key,
    every request after `latency` seconds (DynamoDB's, from a function in its region). PynamoDB
    builds and reads the requests as it does for DynamoDB; only botocore and HTTP are skipped.
    Updates are not applied (the run's shard counters), nor conditions checked: the bench's run
    waits for one shard more than it sends, so it never finishes either way."""

    def __init__(self, template, *, latency: float) -> None:
        import os

        tables = {
            logical: [key["AttributeName"] for key in resource["Properties"]["KeySchema"]]
            for logical, resource in template.resources.items()
            if resource["Type"] == "AWS::DynamoDB::Table"
        }
        # LocalAws names a table `<prefix>-<logical id>`.
        self.keys = {
            name: keys
            for name in (os.environ["LAPSEWATCH_DOMAINS_TABLE"], os.environ["LAPSEWATCH_RUNS_TABLE"])
            for logical, keys in tables.items()
            if name.endswith(f"-{logical}")
        }
        self.items: dict[str, dict[str, dict]] = {name: {} for name in self.keys}
        self.latency = latency
        self._lock = threading.Lock()

    def install(self) -> MemoryTables:
        from pynamodb.connection.base import Connection

        tables = self
        Connection._make_api_call = lambda self, operation, kwargs: tables.call(operation, kwargs)  # type: ignore[method-assign]
        return self

    def call(self, operation: str, kwargs: dict) -> dict:
        time.sleep(self.latency)
        answers = {
            "GetItem": self._get_item,
            "BatchGetItem": self._batch_get_item,
            "PutItem": self._put_item,
            "BatchWriteItem": self._batch_write_item,
            "TransactWriteItems": self._transact_write_items,
            # The run's progress counters: nothing this phase reads back.
            "UpdateItem": lambda kwargs: {},
        }
        if operation not in answers:
            # A request the checker function did not make when this double was written: fail the
            # benchmark loudly rather than answer something DynamoDB would not.
            raise RuntimeError(f"the benchmark's in-memory DynamoDB does not model {operation}")
        with self._lock:
            return answers[operation](kwargs)

    def _get_item(self, kwargs: dict) -> dict:
        item = self.items[kwargs["TableName"]].get(self._key(kwargs["TableName"], kwargs["Key"]))
        return {"Item": item} if item else {}

    def _batch_get_item(self, kwargs: dict) -> dict:
        responses = {
            table: [item for key in request["Keys"] if (item := self.items[table].get(self._key(table, key)))]
            for table, request in kwargs["RequestItems"].items()
        }
        return {"Responses": responses, "UnprocessedKeys": {}}

    def _put_item(self, kwargs: dict) -> dict:
        self._put(kwargs["TableName"], kwargs["Item"])
        return {}

    def _batch_write_item(self, kwargs: dict) -> dict:
        # The dispatcher's shard plans, written before the benchmark starts.
        for table, requests in kwargs["RequestItems"].items():
            for request in requests:
                self._put(table, request["PutRequest"]["Item"])
        return {"UnprocessedItems": {}}

    def _transact_write_items(self, kwargs: dict) -> dict:
        for entry in kwargs["TransactItems"]:
            if "Put" in entry:
                self._put(entry["Put"]["TableName"], entry["Put"]["Item"])
        return {}

    def _key(self, table: str, item: dict) -> str:
        return json.dumps([item[name] for name in self.keys[table]], sort_keys=True)

    def _put(self, table: str, item: dict) -> None:
        self.items[table][self._key(table, item)] = item


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
    figures["rate"] = rate
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
            with Registries(limit=FUNCTION_LIMIT) as slower:
                phases["function"] = _phase(
                    slower, "function", FUNCTION_LOOKUPS, FUNCTION_RATE, moto.environment
                )
    with Registries(burst=1) as strict:
        phases["strict"] = _phase(strict, "check-many", STRICT_LOOKUPS, CLIENT_RATE)
    phases["whois"] = _whois_phase()
    return report(phases, storage, time.perf_counter() - started)


def report(phases: dict, storage: dict, seconds: float) -> Result:
    limits = LIMIT * len(REGISTRIES)
    function_limits = FUNCTION_LIMIT * len(REGISTRIES)
    rows = []
    for mode, label in (
        ("one-at-a-time", "one at a time (a plain loop)"),
        ("check-many", "check_many, its 64 threads"),
        ("shards", f"shards of {SHARD_SIZE} one after another, {SHARD_WORKERS} threads each"),
        (
            "function",
            f"the checker function: {phases['function']['batch_size']} shards an invocation, one pool "
            f"of {phases['function']['workers']} threads (registries at {FUNCTION_LIMIT:g}/s)",
        ),
        ("strict", "check_many, registries allowing no burst (not a target)"),
        ("whois", f"WHOIS: check_many, {len(WHOIS_TLDS)} WHOIS servers allowing {WHOIS_LIMIT:g}/s each"),
    ):
        f = phases[mode]
        f["limits"] = {"function": function_limits, "whois": WHOIS_LIMIT * len(WHOIS_TLDS)}.get(mode, limits)
        f["lookups_per_second"] = f["lookups"] / f["wall_seconds"]
        f["share_of_limits"] = f["lookups_per_second"] / f["limits"]
        # Of lapsewatch's own budget: its per-server rate, at every registry.
        f["share_of_budget"] = f["lookups_per_second"] / (
            f["rate"] * (len(WHOIS_TLDS) if mode == "whois" else len(REGISTRIES))
        )
        f["cpu_ms_per_lookup"] = 1000 * f["cpu_seconds"] / f["lookups"]
        rows.append(
            [
                label,
                f"{f['lookups']:,}",
                f"{f['wall_seconds']:.1f}",
                f"{f['lookups_per_second']:.1f}",
                f"{f['share_of_limits']:.1%}",
                f"{f['throttled']:,}",
                f"{f['not_active']:,}",
                f"{f['cpu_ms_per_lookup']:.2f}",
            ]
        )
    baseline = phases["one-at-a-time"]["lookups_per_second"]
    best = phases["check-many"]
    function = phases["function"]
    throttled = sum(f["throttled"] for mode, f in phases.items() if mode not in ("strict", "whois"))
    whois = phases["whois"]

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
                    "429s (WHOIS: refusals)",
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
                f"{best['share_of_limits']:.1%}",
                "≥ 90%",
                best["share_of_limits"] >= 0.9,
            ),
            Target(
                "checker function: lookups/s of the sum of the limits",
                f"{function['share_of_limits']:.1%}, {function['throttled']} 429s",
                "≥ 90%, 0 429s",
                function["share_of_limits"] >= 0.9 and function["throttled"] == 0,
            ),
            Target("429s provoked (all but the no-burst run)", f"{throttled}", "0", throttled == 0),
            Target(
                "WHOIS: lookups/s of the sum of the servers' limits, refusals provoked",
                f"{whois['share_of_limits']:.1%}, {whois['throttled']} refusals",
                "≥ 90%, 0 refusals",
                whois["share_of_limits"] >= 0.9 and whois["throttled"] == 0,
            ),
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
            f"{CLIENT_RATE / LIMIT:.0%} of the registries' limit, so no run can reach more than "
            f"{CLIENT_RATE / LIMIT:.0%} of the limits.",
            "Shards one after another, each with its pool: a shard's slowest lookups hold the others and "
            "16 threads are spread over four registries, "
            f"{phases['shards']['share_of_limits']:.0%} of the limits. The checker function checks "
            "every shard of an invocation in one pool (ShardChecker.check_shards), each shard recorded "
            "as soon as its own domains are done: "
            f"{function['share_of_limits']:.0%} of its registries' limits, what is left being the "
            "pause between invocations (the last answers' latency, the last shard's record, the next "
            "batch's first reads).",
            f"The checker function's phase: functions/checker/app.py loaded as a cold start loads it "
            f"(Runtime.from_env() with the template's environment), invoked with "
            f"{function['invocations']} SQS events of {function['batch_size']} shards (the template's "
            f"BatchSize), {function['lookups']:,} domains, against four registries of their own like the "
            f"above but allowing {FUNCTION_LIMIT:g}/s each ({function_limits:g}/s in all; lapsewatch's "
            f"rate {FUNCTION_RATE:g}/s): the function spends {function['cpu_ms_per_lookup']:.1f} ms of "
            "CPU a domain, its lookup and PynamoDB writing the domain's state, and one Python process "
            "would not keep up with 400 domains a second. Its DynamoDB is answered in its own process, "
            f"each request after {STORE_LATENCY * 1000:g} ms (PynamoDB builds and reads every request; "
            "botocore and HTTP are skipped), since moto would take more CPU time than the function. "
            f"Benchmark 3 bills the checker's lookups at the share of its own rate budget this is "
            f"({function['share_of_budget']:.1%}).",
            f"Registries that allow no burst at all: {phases['strict']['throttled']} 429s in "
            f"{STRICT_LOOKUPS:,} lookups. lapsewatch spaces the requests it starts, but 64 threads "
            "contending for the interpreter lock send some of them late, bunched with the next; a server "
            "that counts every gap strictly answers those with 429 (lapsewatch then waits out the "
            "Retry-After and tries again).",
            f"The per-shard costs are the checker function's own, loaded in the same way, on "
            f"{storage['shards']} shards, {storage['batch_size']} to an invocation as the template's "
            "BatchSize, against moto in another process: requests counted as in benchmark 1; write units "
            "from the sizes of the items written (1 KB a unit, doubled in transactions); log bytes as the "
            "function printed them (CloudWatch Logs ingests them). Its wall time is moto's more than the "
            "function's.",
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
    parser.add_argument(
        "--child",
        choices=["one-at-a-time", "check-many", "shards", "function", "storage", "whois"],
        dest="mode",
    )
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
