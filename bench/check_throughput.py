"""Lookups per second of the RDAP provider against a loopback registry that answers at once,
and of the WHOIS provider against rate-limited loopback WHOIS servers.

    .venv/bin/python bench/check_throughput.py [--lookups N] [--rdap-rate R] [--whois-lookups N]

Shows what the per-server rate limit costs: at the default 5 requests/s a single registry caps a
sweep at 5 lookups/s whatever the thread count; raised, the provider's own overhead shows. The
RDAP server runs in a process of its own, so that it does not share the client's interpreter lock.

The WHOIS row: four loopback WHOIS servers, each refusing the queries beyond its own limit with a
rate-limit text as registries do, and the provider's table rate for each set to 95% of it. Its
lookups per second are shown as a share of the servers' summed limits, with the refusals it
provoked: the target is most of the limits and no refusal (a registry bans a client that asks
too fast).
"""

from __future__ import annotations

import argparse
import multiprocessing
import multiprocessing.synchronize
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from lapsewatch.lifecycle import Lifecycle
from lapsewatch.providers.rdap import DEFAULT_RATE, RdapProvider
from lapsewatch.providers.rdap_bootstrap import Bootstrap
from lapsewatch.providers.whois import WhoisProvider
from lapsewatch.providers.whois_rules import WhoisTable
from lapsewatch.ratelimit import RateLimiter
from lapsewatch_tools.local.rdap_server import DomainAnswer, LoopbackRdap
from lapsewatch_tools.local.whois_server import LoopbackWhois
from lapsewatch_tools.report import table

# The WHOIS servers' limit, far above a real registry's (one query a second, or 100 an hour) for
# the run to be short: the share of it that is reached is what counts. Each bucket holds 5, for
# arrivals bunched by thread scheduling.
WHOIS_TLDS = ("it", "se", "dk", "nz")
WHOIS_LIMIT = 20.0
WHOIS_BURST = 5
WHOIS_RATE = 0.95 * WHOIS_LIMIT


def measure(bootstrap: Bootstrap, *, rate: float, threads: int, lookups: int) -> tuple[float, int]:
    """Seconds for `lookups` lookups, and how many were not answered as the server answers."""
    # A limiter of its own, so that one run's bucket does not slow the next.
    provider = RdapProvider(bootstrap, limiter=RateLimiter(rate), allow_loopback_http=True)
    domains = [f"bench-{index}.com" for index in range(lookups)]
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        observations = list(pool.map(provider.lookup, domains))
    elapsed = time.perf_counter() - started
    return elapsed, sum(o.lifecycle is not Lifecycle.ACTIVE for o in observations)


def measure_whois(*, threads: int, lookups: int) -> tuple[float, int, int]:
    """Seconds for `lookups` WHOIS lookups spread over the servers, how many were not answered
    as registered, and how many queries the servers refused."""
    servers = [LoopbackWhois(limit=WHOIS_LIMIT, burst=WHOIS_BURST).start() for _ in WHOIS_TLDS]
    try:
        bundled = WhoisTable.load()
        # Limiters of the provider's own, at the table's rate for these servers (one at a time).
        rules = {tld: replace(bundled.rules[tld], rate=WHOIS_RATE, burst=1) for tld in WHOIS_TLDS}
        endpoints = {tld: ("127.0.0.1", server.port) for tld, server in zip(WHOIS_TLDS, servers, strict=True)}
        limiters = {tld: RateLimiter(WHOIS_RATE, burst=1) for tld in WHOIS_TLDS}
        provider = WhoisProvider(
            WhoisTable(rules),
            servers=endpoints,
            allow_loopback=True,
            limiter_for=lambda tld_rules: limiters[tld_rules.tld],
        )
        domains = [f"bench-{index}.{WHOIS_TLDS[index % len(WHOIS_TLDS)]}" for index in range(lookups)]
        started = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            observations = list(pool.map(provider.lookup, domains))
        elapsed = time.perf_counter() - started
    finally:
        for server in servers:
            server.close()
    not_answered = sum(o.lifecycle is not Lifecycle.ACTIVE for o in observations)
    return elapsed, not_answered, sum(server.refused for server in servers)


def serve(
    bootstrap_path: str, ready: multiprocessing.synchronize.Event, stop: multiprocessing.synchronize.Event
) -> None:
    """A registry that answers every .com name as registered, until told to stop."""
    with LoopbackRdap() as server:
        server.add_registry("bench", tlds=["com"], default=DomainAnswer.for_lifecycle("active"))
        server.bootstrap_file(bootstrap_path)
        ready.set()
        stop.wait()


def whois_report(lookups: int, threads: int = 16) -> str:
    """The WHOIS row, as a table of its own."""
    elapsed, not_answered, refused = measure_whois(threads=threads, lookups=lookups)
    limits = WHOIS_LIMIT * len(WHOIS_TLDS)
    row = (
        f"{len(WHOIS_TLDS)} x {WHOIS_LIMIT:g}",
        f"{WHOIS_RATE:g}",
        threads,
        lookups,
        f"{elapsed:.2f}",
        f"{lookups / elapsed:.1f}",
        f"{lookups / elapsed / limits:.1%}",
        refused,
        not_answered,
    )
    headings = (
        "WHOIS servers, limit /s",
        "table rate /s",
        "threads",
        "lookups",
        "seconds",
        "lookups/s",
        "of summed limits",
        "refusals",
        "not answered",
    )
    return table(headings, [row])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lookups", type=int, default=2000, help="lookups per raised-rate run")
    parser.add_argument("--rdap-rate", type=float, default=1000.0, help="the raised rate, requests/s")
    parser.add_argument("--whois-lookups", type=int, default=600, help="lookups of the WHOIS run")
    args = parser.parse_args()

    runs = [
        # rate, threads, lookups
        (DEFAULT_RATE, 1, 15),
        (DEFAULT_RATE, 16, 15),
        (args.rdap_rate, 1, args.lookups // 4),
        (args.rdap_rate, 16, args.lookups),
    ]
    rows = []
    spawn = multiprocessing.get_context("spawn")
    ready, stop = spawn.Event(), spawn.Event()
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "dns.json"
        server = spawn.Process(target=serve, args=(str(path), ready, stop), daemon=True)
        server.start()
        try:
            if not ready.wait(30):
                raise SystemExit("the loopback RDAP server did not start")
            bootstrap = Bootstrap.load(path)
            for rate, threads, lookups in runs:
                elapsed, failed = measure(bootstrap, rate=rate, threads=threads, lookups=lookups)
                rows.append(
                    (f"{rate:g}", threads, lookups, f"{elapsed:.2f}", f"{lookups / elapsed:.1f}", failed)
                )
        finally:
            stop.set()
            server.join(10)
    print(table(("rate limit /s", "threads", "lookups", "seconds", "lookups/s", "not answered"), rows))
    print()
    print(whois_report(args.whois_lookups))


if __name__ == "__main__":
    main()
