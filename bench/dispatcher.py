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
import contextlib
import json
import os
import resource
import sys
import threading
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import accumulate

from bench import AwsRequests, MotoProcess, Result, Table, Target, command, free_port, peak_rss_mb, run_child

ADDRESSES = 1_000_000
EMAIL_DOMAINS = 250_000
SEED = 20240601
RUN_AT = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)
# The steady-state run: every domain known, this share of them due, items this large (about
# what benchmark 2 measures the checker writing), so that the scan takes as many pages as it would.
STEADY_DUE = 1 / 7
ITEM_BYTES = 740
SCAN_PAGE_BYTES = 1024 * 1024

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
    "com": 46,
    "net": 6,
    "org": 6,
    "de": 6,
    "co.uk": 4,
    "io": 3,
    "fr": 3,
    "nl": 3,
    "com.au": 2,
    "jp": 2,
    "ca": 2,
    "it": 2,
    "es": 2,
    "ch": 2,
    "com.br": 2,
    "ru": 2,
    "pl": 1,
    "se": 1,
    "in": 1,
    "co": 1,
    "us": 1,
    "edu": 1,
    "ac.uk": 1,
    "dev": 1,
    "cz": 1,
    "be": 1,
    "at": 1,
}
_SUFFIX_NAMES = list(SUFFIXES)
_SUFFIX_CUMULATIVE = list(accumulate(SUFFIXES.values()))
_SYLLABLES = [
    "ka",
    "lo",
    "mi",
    "ne",
    "ru",
    "ta",
    "vo",
    "zi",
    "ber",
    "dan",
    "fel",
    "gor",
    "hal",
    "jin",
    "kor",
    "lum",
    "mar",
    "nor",
    "pex",
    "quo",
    "ras",
    "sol",
    "tev",
    "ul",
    "var",
    "wex",
    "yon",
    "zen",
    "bri",
    "cla",
    "dro",
    "fu",
]
_SUBDOMAINS = ["mail", "eng", "corp", "us", "eu", "staff", "alumni", "students", "dev", "it"]
_UNICODE = [
    "bücher{}.de",
    "müller-{}.at",
    "例え{}.jp",
    "пример{}.рф",
    "café{}.fr",
    "ørsted{}.dk",
    "bücher{}。de",
]
_JUNK = [
    "localhost",
    "[192.168.0.{}]",
    "10.0.{}.1",
    "co.uk",
    "com",
    "intranet",
    "foo..bar{}.com",
    "-bad{}.com",
    "free text {}",
    "{}",
    "a{}" + "a" * 70 + ".com",
    "mail.local",
    "xn--{}.com",
    "user{}@",
    "under_score{}.com",
]
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
    """The registry API's listing (RegistryClient's `page`, `pages`, `iter_email_domains`), made page
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

    def pages(self, limit: int = 500, cursor: str | None = None) -> Iterator:
        while True:
            page = self.page(cursor, limit)
            yield page
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def iter_email_domains(self, limit: int = 500) -> Iterator:
        for page in self.pages(limit):
            yield from page.items

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


# The steady-state run's domain table --------------------------------------------------------------
class ScanProxy(ThreadingHTTPServer):
    """DynamoDB for the dispatcher's process: Scans of the domain table answered from memory,
    page by page as DynamoDB pages them (1 MB of items); every other request passed to moto.

    moto's Scan walks the table from its start for every page, which at 224,000 items of
    realistic size takes most of an hour; DynamoDB reads from where the page before stopped.
    """

    daemon_threads = True

    def __init__(self, moto_endpoint: str, table: str, schedule: list[tuple[str, str]]) -> None:
        self.moto_endpoint = moto_endpoint
        self.table = table
        self.schedule = schedule  # (domain, next_check_at as PynamoDB writes it), in key order
        self.position = {domain: index for index, (domain, _) in enumerate(schedule)}
        self.per_page = max(1, SCAN_PAGE_BYTES // ITEM_BYTES)
        self.scans = 0
        super().__init__(("127.0.0.1", free_port()), _ProxyHandler)
        self.endpoint = f"http://127.0.0.1:{self.server_port}"
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def scan_page(self, request: dict) -> dict:
        self.scans += 1
        start = 0
        if request.get("ExclusiveStartKey"):
            start = self.position[request["ExclusiveStartKey"]["domain"]["S"]] + 1
        page = self.schedule[start : start + self.per_page]
        answer: dict = {
            "Items": [{"domain": {"S": domain}, "next_check_at": {"S": due}} for domain, due in page],
            "Count": len(page),
            "ScannedCount": len(page),
        }
        if start + len(page) < len(self.schedule):
            answer["LastEvaluatedKey"] = {"domain": {"S": page[-1][0]}}
        return answer


class _ProxyHandler(BaseHTTPRequestHandler):
    server: ScanProxy

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("X-Amz-Target", "").endswith(".Scan"):
            request = json.loads(body)
            if request.get("TableName") == self.server.table:
                self._send(200, json.dumps(self.server.scan_page(request)).encode(), {})
                return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
        forwarded = urllib.request.Request(
            self.server.moto_endpoint + self.path, body, headers, method="POST"
        )
        try:
            with urllib.request.urlopen(forwarded, timeout=60) as response:
                self._send(response.status, response.read(), dict(response.headers))
        except urllib.error.HTTPError as error:  # DynamoDB's errors are answers too
            self._send(error.code, error.read(), dict(error.headers))

    def _send(self, status: int, body: bytes, headers: dict) -> None:
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() not in ("content-length", "transfer-encoding", "connection", "server", "date"):
                self.send_header(name, value)
        self.send_header("Content-Type", headers.get("Content-Type", "application/x-amz-json-1.0"))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


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
        bits = _mix(zlib.crc32(domain.encode()))
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
