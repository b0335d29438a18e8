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
import bisect
import json
import os
import resource
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import accumulate

from bench import AwsRequests, MotoProcess, Result, Table, Target, command, peak_rss_mb, run_child

ADDRESSES = 1_000_000
EMAIL_DOMAINS = 250_000
SEED = 20240601
RUN_AT = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)

# Mailbox providers and the addresses each holds; gmail.com takes what the long tail leaves, so
# the listing adds up to exactly ADDRESSES. Case variants are rows of their own, as a registry
# that stores domains as typed lists them.
PROVIDERS = {
    "yahoo.com": 52_000,
    "hotmail.com": 45_000,
    "outlook.com": 38_000,
    "icloud.com": 27_000,
    "qq.com": 16_000,
    "163.com": 11_000,
    "proton.me": 9_000,
    "protonmail.com": 8_000,
    "gmx.de": 8_000,
    "web.de": 6_000,
    "yandex.ru": 6_000,
    "mail.ru": 5_000,
    "aol.com": 4_000,
    "live.com": 4_000,
    "me.com": 3_000,
    "fastmail.com": 2_000,
    "googlemail.com": 2_000,
    "Gmail.com": 900,
    "GMAIL.COM": 300,
    "hotmail.co.uk": 3_000,
    "yahoo.co.jp": 2_500,
    "naver.com": 2_000,
    "seznam.cz": 1_000,
    "orange.fr": 1_500,
}
# Registrable suffixes of company domains, weighted roughly as the web's.
SUFFIXES = {
    "com": 46, "net": 6, "org": 6, "de": 6, "co.uk": 4, "io": 3, "fr": 3, "nl": 3, "com.au": 2,
    "jp": 2, "ca": 2, "it": 2, "es": 2, "ch": 2, "com.br": 2, "ru": 2, "pl": 1, "se": 1, "in": 1,
    "co": 1, "us": 1, "edu": 1, "ac.uk": 1, "dev": 1, "cz": 1, "be": 1, "at": 1,
}  # fmt: skip
_SUFFIX_NAMES = list(SUFFIXES)
_SUFFIX_CUMULATIVE = list(accumulate(SUFFIXES.values()))
_SYLLABLES = [
    "ka", "lo", "mi", "ne", "ru", "ta", "vo", "zi", "ber", "dan", "fel", "gor", "hal", "jin", "kor", "lum",
    "mar", "nor", "pex", "quo", "ras", "sol", "tev", "ul", "var", "wex", "yon", "zen", "bri", "cla", "dro", "fu",
]  # fmt: skip
_SUBDOMAINS = ["mail", "eng", "corp", "us", "eu", "staff", "alumni", "students", "dev", "it"]
_UNICODE = ["bücher{}.de", "müller-{}.at", "例え{}.jp", "пример{}.рф", "café{}.fr", "ørsted{}.dk", "bücher{}。de"]
_JUNK = [
    "localhost", "[192.168.0.{}]", "10.0.{}.1", "co.uk", "com", "intranet", "foo..bar{}.com", "-bad{}.com",
    "free text {}", "{}", "a{}" + "a" * 70 + ".com", "mail.local", "xn--{}.com", "user{}@", "under_score{}.com",
]  # fmt: skip
_MASK = (1 << 64) - 1
_EPOCH = datetime(2015, 1, 1, tzinfo=UTC)
_SPAN_SECONDS = 10 * 365 * 86_400


def _mix(x: int) -> int:
    """splitmix64's finaliser: a row's random bits from its index, with no generator state."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


class RegistryDouble:
    """The registry API's listing (RegistryClient's `page` and `iter_email_domains`), made page
    by page from a seed instead of read from a server: nothing is held between pages, so the
    dispatcher process's memory is the dispatcher's.

    Heavy-tailed, as a registry's users are: a few mailbox providers hold most addresses; a long
    tail of company domains hold one or a few (a Zipf law by rank), with subdomains of them,
    case variants, some Unicode names and a little junk.
    """

    def __init__(self, *, addresses: int = ADDRESSES, rows: int = EMAIL_DOMAINS, seed: int = SEED) -> None:
        from lapsewatch.registry import EmailDomain

        self._email_domain = EmailDomain
        self.rows = rows
        self.seed = seed
        self._providers = list(PROVIDERS.items())
        self._tail_start = len(self._providers) + 1  # row 0 is gmail.com
        tail = sum(self._tail_count(i) for i in range(self._tail_start, rows))
        self.gmail = addresses - sum(PROVIDERS.values()) - tail
        if self.gmail < 1:
            raise ValueError("the long tail alone holds more than the addresses asked for")
        self.addresses = addresses
        self.generate_seconds = 0.0  # CPU spent making rows, to subtract from the dispatcher's

    # The RegistryClient surface the dispatcher uses ----------------------------------------------
    def page(self, cursor: str | None = None, limit: int = 500):
        from lapsewatch.registry import Page

        started = time.process_time()
        start = int(cursor or 0)
        end = min(start + limit, self.rows)
        items = [self.row(i) for i in range(start, end)]
        self.generate_seconds += time.process_time() - started
        return Page(items, str(end) if end < self.rows else None)

    def iter_email_domains(self, limit: int = 500) -> Iterator:
        cursor = None
        while True:
            page = self.page(cursor, limit)
            yield from page.items
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    # Rows -----------------------------------------------------------------------------------------
    def row(self, index: int):
        bits = _mix(self.seed * 1_000_003 + index)
        verified = _EPOCH + timedelta(seconds=bits % _SPAN_SECONDS)
        if (bits >> 40) % 200 == 0:
            verified = None  # an unreadable date: the client keeps the domain, undated
        if index == 0:
            return self._email_domain("gmail.com", self.gmail, verified)
        if index < self._tail_start:
            name, count = self._providers[index - 1]
            return self._email_domain(name, count, verified)
        return self._email_domain(self._tail_name(index, bits), self._tail_count(index), verified)

    def _tail_count(self, index: int) -> int:
        rank = index - self._tail_start + 1
        return max(1, int(3000 / rank**0.75))

    def _tail_name(self, index: int, bits: int) -> str:
        kind = (bits >> 8) % 1000
        if kind < 80:  # a subdomain of an earlier company
            return f"{_SUBDOMAINS[(bits >> 20) % len(_SUBDOMAINS)]}.{self._company(1 + (bits >> 24) % index)}"
        if kind < 110:  # an earlier company, typed in another case
            return self._company(1 + (bits >> 24) % index).upper()
        if kind < 120:
            return _UNICODE[(bits >> 20) % len(_UNICODE)].format(index)
        if kind < 125:
            return _JUNK[(bits >> 20) % len(_JUNK)].format(index)
        return self._company(index)

    def _company(self, index: int) -> str:
        word, n = [], index
        while True:
            word.append(_SYLLABLES[n % 32])
            n //= 32
            if not n:
                break
        bits = _mix(self.seed + index * 7919)
        suffix = _SUFFIX_NAMES[bisect.bisect_right(_SUFFIX_CUMULATIVE, bits % _SUFFIX_CUMULATIVE[-1])]
        return "".join(word) + f".{suffix}"


# The measured process -----------------------------------------------------------------------------
def child(args: argparse.Namespace) -> dict:
    """Dispatch once, in this process, and report what it cost."""
    counter = AwsRequests().install()
    imports_started = time.perf_counter()
    from lapsewatch.sweep.runtime import Runtime
    from lapsewatch.sweep.settings import SweepSettings

    double = RegistryDouble()
    runtime = Runtime(SweepSettings.from_env(), registry_client=lambda: double, clock=lambda: RUN_AT)
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
    with MotoProcess() as moto:
        figures = run_child("bench.dispatcher", ["--child", "--run-id", "run-bench-1"], moto.environment)
    return report(figures, time.perf_counter() - started)


def report(f: dict, seconds: float) -> Result:
    requests, dispatched = f["requests"], f["started"]
    calls = requests["calls"]
    batches = calls.get("sqs.SendMessageBatch", 0)
    messages = requests["sqs_messages"] - calls.get("sqs.SendMessage", 0)
    per_message = dispatched["dispatched"] / messages if messages else 0.0
    per_batch = messages / batches if batches else 0.0
    dispatcher_cpu = f["cpu_seconds"] - f["double_cpu_seconds"]
    rows = [
        ["addresses (sum of verified_emails)", f"{f['addresses']:,}"],
        ["email domains listed", f"{dispatched['listed']:,}"],
        ["invalid (junk)", f"{dispatched['invalid']:,}"],
        ["distinct registrable domains", f"{dispatched['distinct']:,}"],
        ["dispatched (all due: empty domains table)", f"{dispatched['dispatched']:,}"],
        ["wall time, Dispatcher.start()", f"{f['wall_seconds']:.1f} s"],
        ["CPU time, Dispatcher.start()", f"{f['cpu_seconds']:.1f} s"],
        ["  of which the registry double making rows", f"{f['double_cpu_seconds']:.1f} s"],
        ["CPU time, whole process (imports, setup, dispatch)", f"{f['process_cpu_seconds']:.1f} s"],
        ["peak RSS, whole process", f"{f['peak_rss_mb']:.0f} MB"],
        ["SQS requests", f"{requests['by_service'].get('sqs', 0):,}"],
        ["DynamoDB requests", f"{requests['by_service'].get('dynamodb', 0):,}"],
        ["SQS messages (shards)", f"{messages:,}"],
        ["domains per message", f"{per_message:.1f}"],
        ["messages per SendMessageBatch", f"{per_batch:.1f}"],
        ["bytes per message (mean)", f"{requests['sqs_bytes'] / max(1, requests['sqs_messages']):,.0f}"],
    ]
    call_rows = [[name, f"{count:,}", f"{requests['attempts'].get(name, 0):,}"] for name, count in calls.items()]
    return Result(
        name="dispatcher",
        title="Dispatcher at 1,000,000 addresses",
        command=command("dispatcher"),
        tables=[
            Table(["measure", "value"], rows),
            Table(["AWS operation", "calls", "HTTP attempts"], call_rows, title="AWS requests by operation"),
        ],
        targets=[
            Target("peak RSS", f"{f['peak_rss_mb']:.0f} MB", "≤ 256 MB", f["peak_rss_mb"] <= 256),
            Target(
                "CPU time (whole process)", f"{f['process_cpu_seconds']:.1f} s", "≤ 20 s",
                f["process_cpu_seconds"] <= 20,
            ),
            Target("domains per SQS message", f"{per_message:.1f}", "≥ 25", per_message >= 25),
            Target("messages per SendMessageBatch", f"{per_batch:.1f}", "≥ 10", per_batch >= 10),
        ],
        notes=[
            "The registry double generates its 250,000 rows page by page from a seed (a few mailbox "
            "providers hold most addresses, then a Zipf tail of company domains, subdomains, case "
            "variants, Unicode and junk); its CPU time is measured and shown apart. moto's server runs "
            "in another process, so the CPU time and peak RSS are the dispatcher's process alone, "
            "Python's imports included.",
            "AWS requests are counted with botocore's `before-call` (API calls) and `before-send` (HTTP "
            "attempts, retries included) events, registered on boto3's default session and on every "
            "botocore session PynamoDB creates (through the `get_session` it imports).",
            "The run is a first run: the domains table is empty, so every domain is due and "
            "`due_schedule()`'s scan reads nothing.",
        ],
        figures=f | {"domains_per_message": per_message, "messages_per_batch": per_batch,
                     "dispatcher_cpu_seconds": dispatcher_cpu},
        seconds=seconds,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", action="store_true", help="be the measured process (moto's env is set)")
    parser.add_argument("--run-id", default="run-bench-1")
    parser.add_argument("--profile", action="store_true", help="print cProfile's top functions to stderr")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return
    with MotoProcess() as moto:
        env = {**os.environ, **moto.environment}
        os.environ.update(env)
        extra = ["--profile"] if args.profile else []
        import subprocess

        subprocess.run([sys.executable, "-m", "bench.dispatcher", "--child", *extra], env=env, check=True)


if __name__ == "__main__":
    main()
