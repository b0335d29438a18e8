"""GET with the limits every status lookup keeps.

One deadline across a lookup's tries and redirects, a wall-clock limit on each request (a
server trickling bytes cannot hold a lookup: `lapsewatch.net.watchdog`), bodies cut at a size,
capped Retry-After, every attempt through the per-server rate limiter, https only (plain http to
loopback when the caller allows it), URLs every parser reads alike (`lapsewatch.net.urls`),
connections to public addresses only (`lapsewatch.net.egress`), and credentials sent to no
origin but the first. Whatever goes wrong comes out as `Doubt`, which a provider turns into an
`unknown` observation.
"""

from __future__ import annotations

import http.cookiejar
import os
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import requests
import urllib3

from lapsewatch import __version__
from lapsewatch.net import egress
from lapsewatch.net.doubt import Doubt
from lapsewatch.net.egress import EgressPolicy, EgressRefused
from lapsewatch.net.failures import describe, host_of, network_failure
from lapsewatch.net.urls import UnsafeUrl, Url, parse_url, redirect_target, shown_url, url_refusal
from lapsewatch.net.watchdog import Watchdog, WatchedAdapter, current
from lapsewatch.ratelimit import RateLimiter

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# What lapsewatch asks for and reads; any other Content-Encoding would be read as if plain.
ACCEPT_ENCODING = "gzip, deflate"
CONTENT_ENCODINGS = frozenset({"identity", "gzip", "x-gzip", "deflate"})
USER_AGENT = f"lapsewatch/{__version__} (+RDAP) python-requests/{requests.__version__}"
# `lapsewatch check` runs 64 threads wide; a sweep talks to many registries in turn.
POOL_PER_HOST = 64
POOL_HOSTS = 64


def lookup_deadline(budget: float, deadline: float | None) -> float:
    """When a lookup must be done: its own budget from now, or the caller's deadline if sooner."""
    ends = time.monotonic() + budget
    return ends if deadline is None else min(ends, deadline)


class _Transient(Exception):
    """A failure worth another try: a timeout, a dropped connection."""


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    url: str  # where the answer came from, after any redirects
    status: int
    body: bytes
    redirected: bool  # whether any redirect was followed to get here


class HttpFetcher:
    """GET with the limits every lookup keeps, raising Doubt when it gets no answer.

    Hand-rolled rather than urllib3's Retry, because a lookup has one deadline across all its
    tries and redirects, each attempt (redirect hops included) waits its turn in the rate
    limiter, Retry-After must be capped, and every redirect hop must be vetted before it is
    followed. Retry does none of these.

    A Session of the caller's own is used as it is; only one from new_session() can cut off a
    server that trickles its headers (the body is timed either way).

    Credentials (an API key header) go only to the origin (scheme, host and port) of the URL
    first asked: a redirect elsewhere, by the service itself or by whoever answers in its name,
    must not collect them. Every URL, the first and each redirect's, is vetted before anything is
    sent to it (`url_refusal`), and every connection is made under `egress`: public addresses on
    the allowed ports, loopback too when plain http to loopback is allowed.
    """

    max_redirects = 3
    max_body = 1024 * 1024
    max_retry_after = 5.0
    # First pause between tries; it doubles each time, with jitter.
    backoff = 0.5

    def __init__(
        self,
        *,
        limiter: RateLimiter | None,
        session: requests.Session | None = None,
        request_timeout: float = 10.0,
        max_tries: int = 3,
        allow_loopback_http: bool = False,
        egress_ports: frozenset[int] = egress.DEFAULT_PORTS,
    ) -> None:
        self.limiter = limiter
        self.session = session or new_session()
        self._origin_proxies: dict[tuple[str, str, int], dict[str, str]] = {}
        self.request_timeout = request_timeout
        self.max_tries = max_tries
        self.allow_loopback_http = allow_loopback_http
        self.egress = EgressPolicy(allow_loopback=allow_loopback_http, ports=egress_ports)

    def get(
        self,
        url: str,
        *,
        headers: Mapping[str, str],
        deadline: float,
        credentials: Mapping[str, str] | None = None,
    ) -> HttpAnswer:
        """GET `url`, following redirects; `credentials` are headers sent only to its origin."""
        target = self._vetted(url)
        origin = target.origin
        failures = 0
        hops = 0
        while True:
            sent = {**headers, **credentials} if credentials and target.origin == origin else headers
            try:
                response_headers, status, body = self._attempt(target, sent, deadline)
            except _Transient as exc:
                failure, pause = str(exc), self._backoff(failures)
            else:
                if status in REDIRECT_STATUSES:
                    hops += 1
                    target = self._redirect(target, status, response_headers, hops)
                    continue
                if status != 429 and status < 500:
                    return HttpAnswer(target.text, status, body, redirected=hops > 0)
                failure = f"HTTP {status}"
                retry_after = self._retry_after(response_headers.get("Retry-After"))
                pause = self._backoff(failures) if retry_after is None else retry_after
            failures += 1
            if failures >= self.max_tries:
                tries = "1 try" if failures == 1 else f"{failures} tries"
                raise Doubt(f"{failure}; gave up after {tries}", target.text)
            if time.monotonic() + pause >= deadline:
                raise Doubt(f"{failure}, and no time left to try again", target.text)
            time.sleep(pause)

    def _redirect(self, target: Url, status: int, headers: Mapping[str, str], hops: int) -> Url:
        """Where the `hops`-th redirect, from `target`, leads; Doubt when it is one too many, names
        no Location, or leads where no request may go."""
        if hops > self.max_redirects:
            raise Doubt(f"more than {self.max_redirects} redirects", target.text)
        location = headers.get("Location")
        if not location:
            raise Doubt(f"HTTP {status} redirect without a Location", target.text)
        try:
            return self._vetted(redirect_target(target.text, location))
        except UnsafeUrl as exc:
            raise Doubt(
                f"refused {shown_url(location)}, a redirect from {target.text}: {exc}",
                target.text,
            ) from None

    def _vetted(self, url: str | Url) -> Url:
        """`url` parsed, or Doubt when it may not be asked: see `url_refusal`."""
        why = url_refusal(url, allow_loopback_http=self.allow_loopback_http)
        if why is not None:
            raise Doubt(why, url.text if isinstance(url, Url) else None)
        return url if isinstance(url, Url) else parse_url(url)

    def _attempt(
        self, target: Url, headers: Mapping[str, str], deadline: float
    ) -> tuple[Mapping[str, str], int, bytes]:
        url = target.text
        if self.limiter is not None and not self.limiter.acquire(target.host_port, deadline):
            raise Doubt(f"out of time waiting for the rate limit of {target.host_port}", url)
        timeout = min(self.request_timeout, deadline - time.monotonic())
        if timeout <= 0:
            raise Doubt("out of time", url)
        current.egress = self.egress
        with Watchdog(timeout) as watchdog:
            try:
                response = self.session.get(
                    url,
                    headers=headers,
                    timeout=timeout,
                    stream=True,
                    allow_redirects=False,
                    proxies=self._proxies(target),
                )
                try:
                    body = self._read_body(response, watchdog.ends, timeout)
                finally:
                    watchdog.stop()
                    response.close()
            except EgressRefused as exc:
                raise Doubt(str(exc), url) from None
            # Reading the body straight from urllib3 raises its own errors, not requests' wrappers.
            except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
                if watchdog.fired:
                    raise _Transient(_too_slow(url, timeout)) from None
                failure = network_failure(exc, url, connect_timeout=timeout, read_timeout=timeout)
                if failure is None:
                    # A bad URL, a bad header, a body that will not decode: trying again changes nothing.
                    raise Doubt(f"unusable answer: {describe(exc)}", url) from None
                if failure.retry:
                    raise _Transient(failure.message) from None
                raise Doubt(failure.message, url) from None
        return response.headers, response.status_code, body

    def _proxies(self, target: Url) -> dict[str, str]:
        """The environment's proxy for `url`'s origin (HTTPS_PROXY, NO_PROXY…), looked up once."""
        if target.origin not in self._origin_proxies:
            self._origin_proxies[target.origin] = requests.utils.get_environ_proxies(target.text)
        return self._origin_proxies[target.origin]

    def _read_body(self, response: requests.Response, ends: float, timeout: float) -> bytes:
        encodings = [e.strip().lower() for e in response.headers.get("Content-Encoding", "").split(",")]
        if unknown := [e for e in encodings if e and e not in CONTENT_ENCODINGS]:
            raise Doubt(f"the answer is in a Content-Encoding lapsewatch does not read: {unknown[0][:40]!r}")
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_body:
            raise Doubt(f"answer of {declared} bytes is over the {self.max_body} byte limit", response.url)
        chunks = []
        size = 0
        # read1 returns what has arrived rather than waiting for a full chunk, so the clock is
        # checked while a slow server trickles its answer.
        while chunk := response.raw.read1(64 * 1024, decode_content=True):
            size += len(chunk)
            if size > self.max_body:
                raise Doubt(f"answer cut off: over the {self.max_body} byte limit", response.url)
            if time.monotonic() > ends:
                raise _Transient(_too_slow(response.url, timeout))
            chunks.append(chunk)
        return b"".join(chunks)

    def _backoff(self, failures: int) -> float:
        base = self.backoff * 2**failures
        return base / 2 + random.uniform(0, base / 2)

    def _retry_after(self, value: str | None) -> float | None:
        """Seconds to wait from a Retry-After header (seconds or an HTTP date), capped; None if absent."""
        if not value:
            return None
        value = value.strip()
        if value.isdigit():
            seconds = float(value)
        else:
            try:
                moment = parsedate_to_datetime(value)
            except (TypeError, ValueError):
                return None
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            seconds = (moment - datetime.now(UTC)).total_seconds()
        return min(max(seconds, 0.0), self.max_retry_after)


def new_session() -> requests.Session:
    """A Session safe to share between threads, its pools sized for the checker's thread pool."""
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    session.headers["Accept-Encoding"] = ACCEPT_ENCODING
    # What requests would read from the environment on every request, read once: a proxy per
    # origin (`HttpFetcher._proxies`) and the CA bundle. Never ~/.netrc: no credentials of the
    # machine's go to a status service or to whoever it redirects to.
    session.trust_env = False
    session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    # Lookups need no cookies; refusing them keeps the one piece of shared mutable state of a
    # Session out of the threads' way.
    session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    adapter = WatchedAdapter(pool_connections=POOL_HOSTS, pool_maxsize=POOL_PER_HOST)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def _too_slow(url: str, timeout: float) -> str:
    return f"timed out after {timeout:.3g} s reading from {host_of(url)}: no complete answer"
