"""Benchmark 1: the dispatcher at 1,000,000 addresses (about 250,000 distinct email domains).

The real Dispatcher, built by the sweep's Runtime, runs in a process of its own against moto's
server (another process) with template.yaml's tables and queues; the registry is a double that
generates its listing page by page from a seed, as the registry API would page it. The
dispatcher's process reports its wall time, CPU time, peak RSS and the AWS requests it made.

    .venv/bin/python -m bench dispatcher            # via the runner, which writes docs/benchmarks.md
    .venv/bin/python -m bench.dispatcher --profile  # one run, with cProfile's top functions
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import sys
import time
import zlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bench import AwsRequests, MotoProcess, Result, Table, Target, command, peak_rss_mb, run_child
from bench.registry_double import RegistryDouble, mix
from bench.scan_proxy import ITEM_BYTES, ScanProxy

RUN_AT = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)
# The steady-state run: every domain known, this share of them due.
STEADY_DUE = 1 / 7


# The steady-state run's domain table --------------------------------------------------------------
def steady_schedule(double: RegistryDouble) -> list[tuple[str, str]]:
    """Every registrable domain of the listing, as the domain table holds them after earlier
    sweeps: STEADY_DUE of them due at RUN_AT, the others later in the next fortnight."""
    from lapsewatch.domains import InvalidDomain, registrable_domain

    domains = set()
    for item in double.iter_email_domains(1000):
        with contextlib.suppress(InvalidDomain):
            domains.add(registrable_domain(item.domain))
    schedule = []
    for domain in sorted(domains):
        bits = mix(zlib.crc32(domain.encode()))
        if bits % 10_000 < STEADY_DUE * 10_000:
            due = RUN_AT - timedelta(hours=1)
        else:
            due = RUN_AT + timedelta(seconds=3600 + (bits >> 16) % (14 * 86_400))
        schedule.append((domain, due.strftime("%Y-%m-%dT%H:%M:%S.%f+0000")))
    return schedule


# The measured process -----------------------------------------------------------------------------
def child(args: argparse.Namespace) -> dict:
    """Dispatch once, in this process, and report what it cost."""
    counter = AwsRequests().install()
    imports_started = time.perf_counter()
    from lapsewatch.sweep.runtime import Runtime
    from lapsewatch.sweep.store import RunStore

    double = RegistryDouble()
    clock = lambda: RUN_AT  # noqa: E731 - a clock is a callable value
    deployed = Runtime.from_env()
    store = RunStore(
        domains_table=deployed.settings.domains_table, runs_table=deployed.settings.runs_table, clock=clock
    )
    runtime = replace(deployed, registry_client=lambda: double, clock=clock, store=store)
    setup_seconds = time.perf_counter() - imports_started
    setup_calls = sum(counter.calls.values())

    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    cpu_started, wall_started = time.process_time(), time.perf_counter()
    started = runtime.dispatcher.start(args.run_id)
    wall = time.perf_counter() - wall_started
    cpu = time.process_time() - cpu_started
    if profiler is not None:
        import pstats

        profiler.disable()
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(25)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "started": started,
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "double_cpu_seconds": double.generate_seconds,
        "process_cpu_seconds": usage.ru_utime + usage.ru_stime,
        "setup_seconds": setup_seconds,
        "setup_calls": setup_calls,
        "peak_rss_mb": peak_rss_mb(),
        "addresses": double.addresses,
        "email_domains": double.rows,
        "shard_size": runtime.settings.shard_size,
        "page_size": runtime.settings.page_size,
        "requests": counter.summary(),
    }


def run() -> Result:
    started = time.perf_counter()
    with MotoProcess() as moto, moto.keep_queues_short():
        first = run_child("bench.dispatcher", ["--child", "--run-id", "run-bench-first"], moto.environment)
        with steady_state(moto) as environment:
            steady = run_child("bench.dispatcher", ["--child", "--run-id", "run-bench-steady"], environment)
    return report({"first": first, "steady": steady}, time.perf_counter() - started)


class steady_state:
    """The dispatcher's DynamoDB through a ScanProxy holding a full domain table."""

    def __init__(self, moto: MotoProcess) -> None:
        self.moto = moto

    def __enter__(self) -> dict[str, str]:
        schedule = steady_schedule(RegistryDouble())
        self.proxy = ScanProxy(
            self.moto.endpoint, self.moto.environment["LAPSEWATCH_DOMAINS_TABLE"], schedule
        )
        # botocore's service-specific endpoint: DynamoDB goes to the proxy, SQS straight to moto.
        return self.moto.environment | {"AWS_ENDPOINT_URL_DYNAMODB": self.proxy.endpoint}

    def __exit__(self, *exc_info: object) -> None:
        self.proxy.shutdown()
        self.proxy.server_close()


def _run_figures(f: dict) -> dict:
    """What the report shows of one run, from the measured process's figures."""
    requests, started = f["requests"], f["started"]
    calls = requests["calls"]
    batches = calls.get("sqs.SendMessageBatch", 0)
    messages = requests["sqs_messages"] - calls.get("sqs.SendMessage", 0)
    return {
        "messages": messages,
        "batches": batches,
        "per_message": started["dispatched"] / messages if messages else 0.0,
        "per_batch": messages / batches if batches else 0.0,
        # Every message but the last must be full, and every batch but the last.
        "sizes": {int(k): v for k, v in requests["domains_per_message"].items()},
        "entries": {int(k): v for k, v in requests["entries_per_batch"].items()},
    }


def report(runs: dict[str, dict], seconds: float) -> Result:
    first, steady = runs["first"], runs["steady"]
    shown = {name: _run_figures(f) for name, f in runs.items()}

    def row(label: str, value) -> list[str]:
        return [label, *(value(runs[name], shown[name]) for name in ("first", "steady"))]

    rows = [
        row("addresses (sum of verified_emails)", lambda f, s: f"{f['addresses']:,}"),
        row("email domains listed", lambda f, s: f"{f['started']['listed']:,}"),
        row("invalid (junk)", lambda f, s: f"{f['started']['invalid']:,}"),
        row("distinct registrable domains", lambda f, s: f"{f['started']['distinct']:,}"),
        row("dispatched (due)", lambda f, s: f"{f['started']['dispatched']:,}"),
        row("wall time, Dispatcher.start()", lambda f, s: f"{f['wall_seconds']:.1f} s"),
        row("CPU time, Dispatcher.start()", lambda f, s: f"{f['cpu_seconds']:.1f} s"),
        row("  of which the registry double making rows", lambda f, s: f"{f['double_cpu_seconds']:.1f} s"),
        row("CPU time, whole process (imports included)", lambda f, s: f"{f['process_cpu_seconds']:.1f} s"),
        row("peak RSS, whole process", lambda f, s: f"{f['peak_rss_mb']:.0f} MB"),
        row("SQS requests", lambda f, s: f"{f['requests']['by_service'].get('sqs', 0):,}"),
        row("DynamoDB requests", lambda f, s: f"{f['requests']['by_service'].get('dynamodb', 0):,}"),
        row("SQS messages (shards)", lambda f, s: f"{s['messages']:,}"),
        row("domains per message (mean)", lambda f, s: f"{s['per_message']:.2f}"),
        row("messages per SendMessageBatch (mean)", lambda f, s: f"{s['per_batch']:.2f}"),
        row(
            "bytes per message (mean)",
            lambda f, s: f"{f['requests']['sqs_bytes'] / max(1, f['requests']['sqs_messages']):,.0f}",
        ),
    ]
    operations = sorted(set(first["requests"]["calls"]) | set(steady["requests"]["calls"]))
    call_rows = [
        [name, *(f"{runs[run]['requests']['calls'].get(name, 0):,}" for run in ("first", "steady"))]
        for name in operations
    ]
    worst_rss = max(f["peak_rss_mb"] for f in runs.values())
    worst_cpu = max(f["process_cpu_seconds"] for f in runs.values())
    targets = [
        Target("peak RSS (worse run)", f"{worst_rss:.0f} MB", "≤ 256 MB", worst_rss <= 256),
        Target("CPU time, whole process (worse run)", f"{worst_cpu:.1f} s", "≤ 20 s", worst_cpu <= 20),
    ]
    for name, label in (("first", "first run"), ("steady", "steady state")):
        s = shown[name]
        short_messages = sum(v for k, v in s["sizes"].items() if k < 25)
        short_batches = sum(v for k, v in s["entries"].items() if k < 10)
        targets += [
            Target(
                f"domains per SQS message, {label}",
                _spread(s["sizes"], "messages"),
                "≥ 25 (all but the last)",
                short_messages <= 1 and max(s["sizes"], default=0) >= 25,
            ),
            Target(
                f"messages per SendMessageBatch, {label}",
                _spread(s["entries"], "batches"),
                "10 (all but the last)",
                short_batches <= 1 and max(s["entries"], default=0) >= 10,
            ),
        ]
    return Result(
        name="dispatcher",
        title="Dispatcher at 1,000,000 addresses",
        command=command("dispatcher"),
        tables=[
            Table(
                ["measure", "first run (empty domain table)", f"steady state ({STEADY_DUE:.0%} due)"], rows
            ),
            Table(
                ["AWS operation", "first run", "steady state"], call_rows, title="AWS API calls by operation"
            ),
        ],
        targets=targets,
        notes=[
            "The registry double generates its 250,000 rows page by page from a seed (a few mailbox "
            "providers hold most addresses, then a Zipf tail of company domains, subdomains, case "
            "variants, Unicode and junk); its CPU time is measured and shown apart. The dispatcher is "
            "the real one, built by the sweep's Runtime from template.yaml's environment, in a process "
            "of its own: moto's server runs in another, so the CPU time and peak RSS are the "
            "dispatcher's process alone, Python's imports included.",
            "AWS requests are counted in the dispatcher's process with botocore's events: "
            "`before-parameter-build` once per API call (with its parameters: message sizes, items) and "
            "`before-send` once per HTTP attempt (retries included; no retry happened), registered on "
            "boto3's default session and on every botocore session PynamoDB creates (by handing PynamoDB "
            "a `get_session` that registers them).",
            "First run: the domain table is empty, so every domain is due and `RunStore.schedule()`'s scan "
            f"reads nothing. Steady state: every domain is in the table ({ITEM_BYTES}-byte items, so the "
            f"scan takes as many 1 MB pages as it would) and {STEADY_DUE:.0%} of them are due. moto's Scan "
            "re-reads the table from its start for every page (quadratic: most of an hour at this size), "
            "so in that run a small proxy in the runner's process answers the domain table's Scan pages "
            "from memory and passes every other DynamoDB request to moto.",
            "moto's SQS also does work in proportion to the queue's depth for each message sent, which "
            "real SQS does not; the runner purges the check queue every 0.25 s from its own process. "
            "Profile a run with `.venv/bin/python -m bench.dispatcher --profile`.",
        ],
        figures={"first": first, "steady": steady}
        | {"summary": shown["first"] | {"sizes": {}, "entries": {}}},
        seconds=seconds,
    )


def _spread(counts: dict[int, int], what: str) -> str:
    """ "25 in 8,973 of 8,974 messages, 15 in 1" from {25: 8973, 15: 1}."""
    total = sum(counts.values())
    parts = [f"{size} in {count:,}" for size, count in sorted(counts.items(), key=lambda kv: -kv[1])]
    return f"{parts[0]} of {total:,} {what}" + "".join(f", {part}" for part in parts[1:]) if parts else "none"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--child", action="store_true", help="be the measured process (moto's env is set)")
    parser.add_argument("--run-id", default="run-bench-profile")
    parser.add_argument("--steady", action="store_true", help="with --profile: the steady-state run")
    parser.add_argument("--profile", action="store_true", help="print cProfile's top functions to stderr")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return

    with MotoProcess() as moto, moto.keep_queues_short():
        if args.steady:
            with steady_state(moto) as environment:
                _profile(environment, args)
        else:
            _profile(moto.environment, args)


def _profile(environment: dict[str, str], args: argparse.Namespace) -> None:
    import subprocess

    extra = ["--profile"] if args.profile else []
    subprocess.run(
        [sys.executable, "-m", "bench.dispatcher", "--child", *extra],
        env={**os.environ, **environment},
        check=True,
    )


if __name__ == "__main__":
    main()
