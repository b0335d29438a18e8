"""Lookups per second of the RDAP provider against a loopback registry that answers at once.

    .venv/bin/python bench/check_throughput.py [--lookups N] [--rdap-rate R]

Shows what the per-server rate limit costs: at the default 5 requests/s a single registry caps a
sweep at 5 lookups/s whatever the thread count; raised, the provider's own overhead shows. The
server runs in a process of its own, so that it does not share the client's interpreter lock.
"""

from __future__ import annotations

import argparse
import multiprocessing
import multiprocessing.synchronize
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lapsewatch.lifecycle import Lifecycle
from lapsewatch.providers.rdap import DEFAULT_RATE, RdapProvider
from lapsewatch.providers.rdap_bootstrap import Bootstrap
from lapsewatch.ratelimit import RateLimiter
from lapsewatch_tools.local.rdap_server import DomainAnswer, LoopbackRdap
from lapsewatch_tools.report import table


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


def serve(
    bootstrap_path: str, ready: multiprocessing.synchronize.Event, stop: multiprocessing.synchronize.Event
) -> None:
    """A registry that answers every .com name as registered, until told to stop."""
    with LoopbackRdap() as server:
        server.add_registry("bench", tlds=["com"], default=DomainAnswer.for_lifecycle("active"))
        server.bootstrap_file(bootstrap_path)
        ready.set()
        stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lookups", type=int, default=2000, help="lookups per raised-rate run")
    parser.add_argument("--rdap-rate", type=float, default=1000.0, help="the raised rate, requests/s")
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


if __name__ == "__main__":
    main()
