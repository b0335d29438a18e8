"""RDAP (RFC 9082, 9083): the registry's own answer, found through the IANA bootstrap (RFC 9224).

A lookup asks the registry's server for ``domain/{a-label}`` and reads its answer strictly, since
an attacker-controlled or broken server must never be able to get an address unverified:

- 404 means "not registered" only from the server the bootstrap file names (see `RdapProvider`).
- A 200 counts only as a JSON object with objectClassName "domain" and the ldhName asked for.
- Everything else (other statuses, refused redirects, bodies over 1 MiB, timeouts, a TLD with no
  server) is doubt: an Observation with lifecycle `unknown` and the reason.

The HTTP plumbing (`HttpFetcher`) enforces the limits every provider shares and is used by the
Domainr provider too.
"""

from __future__ import annotations

import contextlib
import heapq
import http.cookiejar
import ipaddress
import itertools
import json
import random
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from importlib import resources
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from lapsewatch import __version__
from lapsewatch.domains import tld, to_ascii
from lapsewatch.lifecycle import Lifecycle, lifecycle_from_statuses
from lapsewatch.providers import Observation
from lapsewatch.ratelimit import RateLimiter, shared_limiter
from lapsewatch.timefmt import parse_time_or_none

RDAP_MEDIA_TYPE = "application/rdap+json"
DEFAULT_RATE = 5.0
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
USER_AGENT = f"lapsewatch/{__version__} (+RDAP) python-requests/{requests.__version__}"
# Checks run 32 threads wide; a sweep talks to many registries in turn.
POOL_PER_HOST = 32
POOL_HOSTS = 64


class Bootstrap:
    """The IANA bootstrap registry for domain names: which RDAP servers serve which TLDs."""

    def __init__(self, services: Mapping[str, Sequence[str]], *, source: str = "bootstrap file") -> None:
        self.services = {suffix.lower(): list(urls) for suffix, urls in services.items()}
        self.source = source

    @classmethod
    def load(cls, path: Path | None = None) -> Bootstrap:
        """Read a dns.json file; None reads the snapshot bundled with lapsewatch.

        Raises ValueError, naming the file and the problem, when it cannot be used.
        """
        if path is None:
            source = "bundled lapsewatch/data/rdap_dns.json"
            text = (resources.files("lapsewatch") / "data" / "rdap_dns.json").read_bytes()
        else:
            source = str(path)
            try:
                text = Path(path).read_bytes()
            except OSError as exc:
                raise ValueError(f"cannot read the RDAP bootstrap file {source}: {exc.strerror}") from None
        try:
            document = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise ValueError(f"the RDAP bootstrap file {source} is not JSON: {exc}") from None
        return cls.from_json(document, source=source)

    @classmethod
    def from_json(cls, document: object, *, source: str = "bootstrap file") -> Bootstrap:
        """Validate the RFC 9224 shape: {"services": [[[label, ...], [url, ...]], ...]}."""

        def bad(why: str) -> ValueError:
            return ValueError(f"the RDAP bootstrap file {source} is not in RFC 9224 shape: {why}")

        if not isinstance(document, dict):
            raise bad("the top level is not a JSON object")
        services = document.get("services")
        if not isinstance(services, list):
            raise bad('there is no "services" list')
        table: dict[str, list[str]] = {}
        for index, service in enumerate(services):
            if not (isinstance(service, list) and len(service) == 2):
                raise bad(f"services[{index}] is not a pair [labels, urls]")
            labels, urls = service
            if not (isinstance(labels, list) and all(isinstance(label, str) for label in labels)):
                raise bad(f"services[{index}][0] is not a list of labels")
            if not (isinstance(urls, list) and urls and all(isinstance(url, str) for url in urls)):
                raise bad(f"services[{index}][1] is not a list of URLs")
            for url in urls:
                if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
                    raise bad(f"services[{index}] has {url!r}, which is not an http(s) URL")
            for label in labels:
                table.setdefault(label.strip().lower().rstrip("."), []).extend(urls)
        return cls(table, source=source)

    def servers_for(self, domain: str) -> list[str]:
        """Base URLs for the domain's longest matching suffix, as listed; [] when none."""
        labels = domain.lower().rstrip(".").split(".")
        for start in range(len(labels)):
            urls = self.services.get(".".join(labels[start:]))
            if urls:
                return list(urls)
        return []


def is_loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def url_allowed(url: str) -> bool:
    """https anywhere; plain http only to this machine (the loopback servers tests use).

    A plain-http answer could be forged on the way, and a forged 404 would unverify addresses.
    """
    parts = urlsplit(url)
    if parts.scheme == "https":
        return bool(parts.hostname)
    return parts.scheme == "http" and is_loopback(parts.hostname)


class Doubt(Exception):
    """A lookup that cannot give an answer; the message says why."""

    def __init__(self, message: str, url: str | None = None) -> None:
        super().__init__(message)
        self.url = url


class _Transient(Exception):
    """A failure worth another try: a timeout, a dropped connection."""


_CONNECTION_ERRORS = (
    requests.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    urllib3.exceptions.ProtocolError,
    OSError,
)


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    url: str  # where the answer came from, after any redirects
    status: int
    body: bytes


class HttpFetcher:
    """GET with the limits every lookup keeps, raising Doubt when it gets no answer.

    Hand-rolled rather than urllib3's Retry, because a lookup has one deadline across all its
    tries and redirects, each attempt (redirect hops included) waits its turn in the rate
    limiter, Retry-After must be capped, and every redirect hop must be vetted before it is
    followed. Retry does none of these.

    A Session of the caller's own is used as it is; only one from new_session() can cut off a
    server that trickles its headers (the body is timed either way).
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
    ) -> None:
        self.limiter = limiter
        self.session = session or new_session()
        self.request_timeout = request_timeout
        self.max_tries = max_tries

    def get(self, url: str, *, headers: Mapping[str, str], deadline: float) -> HttpAnswer:
        failures = 0
        hops = 0
        while True:
            if not url_allowed(url):
                raise Doubt(f"refused {url}: only https, or plain http to this machine", url)
            try:
                response_headers, status, body = self._attempt(url, headers, deadline)
            except _Transient as exc:
                failure, pause = str(exc), self._backoff(failures)
            else:
                if status in REDIRECT_STATUSES:
                    hops += 1
                    if hops > self.max_redirects:
                        raise Doubt(f"more than {self.max_redirects} redirects", url)
                    location = response_headers.get("Location")
                    if not location:
                        raise Doubt(f"HTTP {status} redirect without a Location", url)
                    url = urljoin(url, location)
                    continue
                if status != 429 and status < 500:
                    return HttpAnswer(url, status, body)
                failure = f"HTTP {status}"
                retry_after = self._retry_after(response_headers.get("Retry-After"))
                pause = self._backoff(failures) if retry_after is None else retry_after
            failures += 1
            if failures >= self.max_tries:
                tries = "1 try" if failures == 1 else f"{failures} tries"
                raise Doubt(f"{failure}; gave up after {tries}", url)
            if time.monotonic() + pause >= deadline:
                raise Doubt(f"{failure}, and no time left to try again", url)
            time.sleep(pause)

    def _attempt(
        self, url: str, headers: Mapping[str, str], deadline: float
    ) -> tuple[Mapping[str, str], int, bytes]:
        if self.limiter is not None and not self.limiter.acquire(_host_port(url), deadline):
            raise Doubt(f"out of time waiting for the rate limit of {_host_port(url)}", url)
        timeout = min(self.request_timeout, deadline - time.monotonic())
        if timeout <= 0:
            raise Doubt("out of time", url)
        with _Watchdog(timeout) as watchdog:
            try:
                response = self.session.get(
                    url, headers=headers, timeout=timeout, stream=True, allow_redirects=False
                )
                try:
                    body = self._read_body(response, watchdog.ends, timeout)
                finally:
                    watchdog.stop()
                    response.close()
            # Reading the body straight from urllib3 raises its own errors, not requests' wrappers.
            except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
                if watchdog.fired:
                    raise _Transient(f"no complete answer within {timeout:.3g} s") from None
                if isinstance(exc, requests.Timeout | urllib3.exceptions.TimeoutError | TimeoutError):
                    raise _Transient(f"no answer within {timeout:.3g} s") from None
                if isinstance(exc, _CONNECTION_ERRORS):
                    raise _Transient(f"connection failed: {_describe(exc)}") from None
                # A bad URL, a bad header, a body that will not decode: trying again changes nothing.
                raise Doubt(f"unusable answer: {_describe(exc)}", url) from None
        return response.headers, response.status_code, body

    def _read_body(self, response: requests.Response, ends: float, timeout: float) -> bytes:
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
                raise _Transient(f"no complete answer within {timeout:.3g} s")
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
    # Lookups need no cookies; refusing them keeps the one piece of shared mutable state of a
    # Session out of the threads' way.
    session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    adapter = _WatchedAdapter(pool_connections=POOL_HOSTS, pool_maxsize=POOL_PER_HOST)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def _host_port(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = f"[{parts.hostname}]" if parts.hostname and ":" in parts.hostname else parts.hostname
    return f"{host}:{port}"


def _describe(exc: BaseException) -> str:
    """The innermost cause: the wrappers' messages repeat the URL, query string included."""
    while True:
        inner = getattr(exc, "reason", None) or next(
            (arg for arg in reversed(exc.args) if isinstance(arg, BaseException)), None
        )
        if not isinstance(inner, BaseException) or inner is exc:
            return str(exc) or type(exc).__name__
        exc = inner


# requests' timeout bounds each socket read, not the request: a server sending a byte every few
# seconds, in its headers or its body, could hold a lookup for ever. A watchdog shuts the
# request's socket at a wall-clock limit; the connection classes below tell it which socket the
# current thread's request is on. One thread watches every request in the process: a timer
# thread per request would cost more than the request itself.
_current = threading.local()
_watch_lock = threading.Lock()


class _Watchdog:
    def __init__(self, seconds: float) -> None:
        self.ends = time.monotonic() + seconds
        self.fired = False
        self._connection: HTTPConnection | None = None
        self._stopped = False

    def __enter__(self) -> _Watchdog:
        _current.watchdog = self
        _deadlines.add(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        _current.watchdog = None
        self.stop()

    def watch(self, connection: HTTPConnection) -> None:
        with _watch_lock:
            self._connection = connection
            connection.watchdog = self  # type: ignore[attr-defined]

    def stop(self) -> None:
        with _watch_lock:
            self._stopped = True
            self._connection = None

    def cut(self) -> None:
        with _watch_lock:
            connection = self._connection
            # Once stopped, or once another request took the connection from the pool, the
            # socket is no longer ours to cut.
            if self._stopped or connection is None or connection.watchdog is not self:  # type: ignore[attr-defined]
                return
            self.fired = True
            sock = connection.sock
            if sock is not None:
                with contextlib.suppress(OSError):  # already closed by its owner
                    sock.shutdown(socket.SHUT_RDWR)


class _Deadlines:
    """The thread that cuts requests at their deadlines, earliest first."""

    def __init__(self) -> None:
        self._wakeup = threading.Condition()
        self._pending: list[tuple[float, int, _Watchdog]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def add(self, watchdog: _Watchdog) -> None:
        with self._wakeup:
            heapq.heappush(self._pending, (watchdog.ends, next(self._order), watchdog))
            # Started on first use, and again in a forked child, where it does not run.
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="lapsewatch-deadlines", daemon=True)
                self._thread.start()
            if self._pending[0][2] is watchdog:
                self._wakeup.notify()

    def _run(self) -> None:
        with self._wakeup:
            while True:
                now = time.monotonic()
                while self._pending and self._pending[0][0] <= now:
                    heapq.heappop(self._pending)[2].cut()
                self._wakeup.wait(self._pending[0][0] - now if self._pending else None)


_deadlines = _Deadlines()


class _WatchedConnectionMixin:
    def request(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        watchdog = getattr(_current, "watchdog", None)
        if watchdog is not None:
            watchdog.watch(self)
        super().request(*args, **kwargs)  # type: ignore[misc]


class _WatchedHTTPConnection(_WatchedConnectionMixin, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_WatchedConnectionMixin, HTTPSConnection):
    pass


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class _WatchedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


class RdapProvider:
    """Domain status from the registry's RDAP server.

    A 404 means "not registered" only when it comes from the server the bootstrap file names.
    RFC 7480 redirects point from the registry to a registrar's server, and a registrar that
    does not know a name says nothing about whether the registry does: a lost transfer or a
    stale referral would read as "free". So a 404 at the end of a redirect to another server is
    doubt; a redirect that stays under the bootstrap base URL is still the registry speaking.
    """

    name = "rdap"

    def __init__(
        self,
        bootstrap: Bootstrap,
        *,
        rate: float = DEFAULT_RATE,
        limiter: RateLimiter | None = None,
        session: requests.Session | None = None,
        request_timeout: float = 10.0,
        lookup_budget: float = 30.0,
        max_tries: int = 3,
    ) -> None:
        self.bootstrap = bootstrap
        self.lookup_budget = lookup_budget
        self.http = HttpFetcher(
            limiter=limiter or shared_limiter(rate),
            session=session,
            request_timeout=request_timeout,
            max_tries=max_tries,
        )

    def lookup(self, domain: str, *, deadline: float | None = None) -> Observation:
        ends = time.monotonic() + self.lookup_budget
        if deadline is not None:
            ends = min(ends, deadline)
        try:
            return self._lookup(domain, ends)
        except Doubt as exc:
            return Observation.doubt(self.name, str(exc), source=exc.url)
        except Exception as exc:  # a bug or a surprise must be doubt, never a verdict
            return Observation.doubt(self.name, f"lookup failed: {exc!r}")

    def _lookup(self, domain: str, deadline: float) -> Observation:
        a_label = to_ascii(domain.rstrip("."))
        base = self._server_for(a_label)
        url = f"{base}domain/{a_label}"
        answer = self.http.get(url, headers={"Accept": RDAP_MEDIA_TYPE}, deadline=deadline)
        if answer.status == 404:
            if answer.url.startswith(base):
                return Observation(provider=self.name, lifecycle=Lifecycle.UNREGISTERED, source=answer.url)
            raise Doubt(
                "a server the registry redirected to answered 404; only the registry's own 404 "
                "means the name is free",
                answer.url,
            )
        if answer.status != 200:
            raise Doubt(f"HTTP {answer.status}", answer.url)
        return read_answer(answer.body, a_label, source=answer.url)

    def _server_for(self, domain: str) -> str:
        servers = self.bootstrap.servers_for(domain)
        if not servers:
            raise Doubt(f"no RDAP server for .{tld(domain)} in the bootstrap file")
        # Listed order, https first; a server we may not talk to is no server.
        usable = sorted(filter(url_allowed, servers), key=lambda url: not url.startswith("https:"))
        if not usable:
            raise Doubt(f"the RDAP server for .{tld(domain)} is plain http, which is refused: {servers[0]}")
        base = usable[0]
        return base if base.endswith("/") else base + "/"


def read_answer(body: bytes, domain: str, *, source: str | None = None) -> Observation:
    """Read a 200 answer for `domain` (an A-label); doubt unless it is that domain's object."""

    def doubt(why: str) -> Observation:
        return Observation.doubt(RdapProvider.name, why, source=source)

    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return doubt("the answer is not JSON")
    if not isinstance(document, dict):
        return doubt(f"the answer is a JSON {type(document).__name__}, not an object")
    object_class = document.get("objectClassName")
    if object_class != "domain":
        return doubt(f"the answer's objectClassName is {object_class!r}, not 'domain'")
    ldh_name = document.get("ldhName")
    if not isinstance(ldh_name, str) or ldh_name.lower().removesuffix(".") != domain.lower():
        return doubt(f"the answer is for {ldh_name!r}, not {domain!r}")

    status = document.get("status")
    # Tolerant: a status list with odd entries keeps its strings; anything else is no status.
    statuses = tuple(s for s in status if isinstance(s, str)) if isinstance(status, list) else ()
    registered_at, expires_at = _dates(document.get("events"))
    return Observation(
        provider=RdapProvider.name,
        lifecycle=lifecycle_from_statuses(statuses),
        statuses=statuses,
        registered_at=registered_at,
        expires_at=expires_at,
        source=source,
    )


# RFC 9083 event actions. "reregistration" is a later registration of the same name, which is
# exactly what re-registration detection is looking for.
_REGISTRATION = {"registration", "reregistration"}
_EXPIRATION = {"expiration"}


def _dates(events: object) -> tuple[datetime | None, datetime | None]:
    """The latest registration and expiration dates among the events; unreadable ones are skipped."""
    registered: list[datetime] = []
    expires: list[datetime] = []
    for event in events if isinstance(events, list) else ():
        if not isinstance(event, dict) or not isinstance(event.get("eventAction"), str):
            continue
        action = event["eventAction"].strip().lower()
        moment = parse_time_or_none(event.get("eventDate"))
        if moment is None:
            continue
        if action in _REGISTRATION:
            registered.append(moment)
        elif action in _EXPIRATION:
            expires.append(moment)
    return max(registered, default=None), max(expires, default=None)
