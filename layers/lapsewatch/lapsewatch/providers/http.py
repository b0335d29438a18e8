"""HTTP for status providers: GET with the limits every lookup keeps.

One deadline across a lookup's tries and redirects, a wall-clock limit on each request (a
server trickling bytes cannot hold a lookup), bodies cut at a size, capped Retry-After, every
attempt through the per-server rate limiter, https only (plain http to loopback when the caller
allows it), URLs every parser reads alike (`lapsewatch.net.urls`), connections to public
addresses only (`lapsewatch.net.egress`), strict JSON in UTF-8, and credentials sent to no
origin but the first. Whatever goes wrong comes out as `Doubt`, which a provider turns into an
`unknown` observation.
"""

from __future__ import annotations

import contextlib
import heapq
import http.cookiejar
import ipaddress
import itertools
import json
import os
import random
import re
import socket
import ssl
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http.client import IncompleteRead, RemoteDisconnected
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from lapsewatch import __version__
from lapsewatch.net import egress
from lapsewatch.net.egress import STRICT, EgressPolicy, EgressRefused
from lapsewatch.net.urls import UnsafeUrl, Url, parse_url, redirect_target
from lapsewatch.ratelimit import RateLimiter

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# What lapsewatch asks for and reads; any other Content-Encoding would be read as if plain.
ACCEPT_ENCODING = "gzip, deflate"
CONTENT_ENCODINGS = frozenset({"identity", "gzip", "x-gzip", "deflate"})
USER_AGENT = f"lapsewatch/{__version__} (+RDAP) python-requests/{requests.__version__}"
# `lapsewatch check` runs 64 threads wide; a sweep talks to many registries in turn.
POOL_PER_HOST = 64
POOL_HOSTS = 64


def is_loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def url_allowed(url: str | Url, *, allow_loopback_http: bool = False) -> bool:
    """https anywhere; plain http never, or with `allow_loopback_http` only to this machine (the
    loopback servers of tests and local runs). Either way only a URL every parser reads alike.

    A plain-http answer could be forged on the way, and a forged 404 would unverify addresses.
    """
    return url_refusal(url, allow_loopback_http=allow_loopback_http) is None


def url_refusal(url: str | Url, *, allow_loopback_http: bool = False) -> str | None:
    """Why `url_allowed` refuses `url`, or None."""
    try:
        parsed = url if isinstance(url, Url) else parse_url(url)
    except UnsafeUrl as exc:
        return f"refused {shown_url(url)}: {exc}"
    if parsed.scheme == "https":
        return None
    if allow_loopback_http and is_loopback(parsed.host):
        return None
    allowed = "https, or plain http to this machine" if allow_loopback_http else "https"
    return f"refused {parsed.text}: only {allowed}"


def shown_url(url: str | Url) -> str:
    """A URL from outside, fit for a reason: cut short, its invisible characters escaped."""
    text = url.text if isinstance(url, Url) else str(url)
    return text[:200].encode("unicode_escape").decode("ascii") + ("…" if len(text) > 200 else "")


def lookup_deadline(budget: float, deadline: float | None) -> float:
    """When a lookup must be done: its own budget from now, or the caller's deadline if sooner."""
    ends = time.monotonic() + budget
    return ends if deadline is None else min(ends, deadline)


class Doubt(Exception):
    """A lookup that cannot give an answer; the message says why."""

    def __init__(self, message: str, url: str | None = None) -> None:
        super().__init__(message)
        self.url = url


class _DuplicateMember(ValueError):
    """A JSON object that names a member twice."""


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    members: dict[str, object] = {}
    for name, value in pairs:
        if name in members:
            raise _DuplicateMember(name)
        members[name] = value
    return members


def _no_constant(name: str) -> object:
    raise _NotJson(f"{name} is not a JSON value")


class _NotJson(ValueError):
    """JSON that Python's reader takes and RFC 8259 does not."""


def read_json(body: bytes) -> object:
    """An answer's JSON (RFC 8259), read strictly, or Doubt.

    Strictly: UTF-8 only, without a byte order mark (RFC 8259 §8.1; Python's reader would guess
    UTF-16 or UTF-32 from the first bytes), no NaN or Infinity, no unpaired surrogate escapes. A
    member named twice is doubt too: parsers disagree on which of the two counts, so whatever a
    reader here takes, the server may have meant the other.
    """
    if body.startswith(b"\xef\xbb\xbf"):
        raise Doubt("the answer is not JSON: it starts with a byte order mark")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Doubt("the answer is not JSON: it is not UTF-8") from None
    try:
        document = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except _DuplicateMember as exc:
        raise Doubt(f"the answer names the member {exc.args[0]!r} twice in one object") from None
    except _NotJson as exc:
        raise Doubt(f"the answer is not JSON: {exc}") from None
    except (ValueError, RecursionError):
        raise Doubt("the answer is not JSON") from None
    if _has_lone_surrogate(document):
        raise Doubt("the answer is not JSON: it escapes half of a UTF-16 surrogate pair")
    return document


def _has_lone_surrogate(value: object) -> bool:
    pending = [value]
    while pending:
        current = pending.pop()
        if isinstance(current, str):
            try:
                current.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(current, dict):
            pending.extend(current.keys())
            pending.extend(current.values())
        elif isinstance(current, list):
            pending.extend(current)
    return False


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
                    if hops > self.max_redirects:
                        raise Doubt(f"more than {self.max_redirects} redirects", target.text)
                    location = response_headers.get("Location")
                    if not location:
                        raise Doubt(f"HTTP {status} redirect without a Location", target.text)
                    try:
                        target = self._vetted(redirect_target(target.text, location))
                    except UnsafeUrl as exc:
                        raise Doubt(
                            f"refused {shown_url(location)}, a redirect from {target.text}: {exc}",
                            target.text,
                        ) from None
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
        _current.egress = self.egress
        with _Watchdog(timeout) as watchdog:
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
                    raise Doubt(f"unusable answer: {_describe(exc)}", url) from None
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
    adapter = _WatchedAdapter(pool_connections=POOL_HOSTS, pool_maxsize=POOL_PER_HOST)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def _host_port(url: str) -> str:
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    host = f"[{host}]" if host and ":" in host else host
    return f"{host}:{port}"


def _host(url: str) -> str:
    return urlsplit(url).hostname or url


def _too_slow(url: str, timeout: float) -> str:
    return f"timed out after {timeout:.3g} s reading from {_host(url)}: no complete answer"


@dataclass(frozen=True, slots=True)
class NetworkFailure:
    """A request that got no answer, in plain words, and whether another try could go otherwise."""

    message: str
    retry: bool


def network_failure(
    exc: BaseException,
    url: str,
    *,
    connect_timeout: float | None = None,
    read_timeout: float | None = None,
) -> NetworkFailure | None:
    """What went wrong on the way to `url`, said for a person: "could not resolve rdap.example",
    "connection refused by 127.0.0.1:9", "timed out after 10 s reading from rdap.example". None
    when `exc` is no failure of the network (a bad URL, an answer that will not decode).

    requests and urllib3 wrap the cause in layers whose messages name connection classes and
    repeat the URL, query string included; the cause is looked for inside them. A name that does
    not resolve is not worth another try, unless the resolver itself calls its failure temporary;
    nor is a certificate that does not verify. The rest (refused, reset, timed out) may be a
    server restarting, and is.
    """
    host, where = _host(url), _host_port(url)
    causes = list(_causes(exc))

    def first[E: BaseException](kind: type[E]) -> E | None:
        return next((cause for cause in causes if isinstance(cause, kind)), None)

    def after(seconds: float | None) -> str:
        return "" if seconds is None else f" after {seconds:.3g} s"

    unresolved = first(urllib3.exceptions.NameResolutionError)
    gaierror = first(socket.gaierror)
    if unresolved is not None or gaierror is not None:
        name = getattr(getattr(unresolved, "conn", None), "host", None) or host
        if not unresolvable(exc):
            return NetworkFailure(
                f"could not resolve {name}: temporary failure in name resolution", retry=True
            )
        return NetworkFailure(f"could not resolve {name}", retry=False)
    if (certificate := first(ssl.SSLCertVerificationError)) is not None:
        why = certificate.verify_message or certificate.reason or "it does not verify"
        return NetworkFailure(f"TLS certificate not valid for {host}: {why}", retry=False)
    if (tls := first(ssl.SSLError)) is not None:
        return NetworkFailure(f"TLS handshake with {where} failed: {_ssl_words(tls)}", retry=True)
    if first(ConnectionRefusedError) is not None:
        return NetworkFailure(f"connection refused by {where}", retry=True)
    # urllib3 counts every failure to connect as a ConnectTimeoutError (NewConnectionError is
    # one): only the others are timeouts.
    timeouts = [
        cause
        for cause in causes
        if isinstance(cause, requests.Timeout | urllib3.exceptions.TimeoutError | TimeoutError)
        and not isinstance(cause, urllib3.exceptions.NewConnectionError)
    ]
    if any(isinstance(c, requests.ConnectTimeout | urllib3.exceptions.ConnectTimeoutError) for c in timeouts):
        return NetworkFailure(f"timed out{after(connect_timeout)} connecting to {where}", retry=True)
    if timeouts:
        return NetworkFailure(f"timed out{after(read_timeout)} reading from {host}", retry=True)
    if first(ConnectionResetError) is not None:
        return NetworkFailure(f"connection reset by {where}", retry=True)
    if first(RemoteDisconnected) is not None or first(ConnectionAbortedError) is not None:
        return NetworkFailure(f"{where} closed the connection without answering", retry=True)
    if (
        first(IncompleteRead)
        or first(urllib3.exceptions.IncompleteRead)
        or first(requests.exceptions.ChunkedEncodingError)
        or first(urllib3.exceptions.ProtocolError)
    ):
        return NetworkFailure(f"the answer from {host} was cut short", retry=True)
    # requests' exceptions are OSErrors too, with no errno of their own: the system's error is
    # the one inside them.
    system = [c for c in causes if isinstance(c, OSError) and not isinstance(c, requests.RequestException)]
    if errors := [c for c in system if c.strerror]:
        return NetworkFailure(f"could not connect to {where}: {errors[0].strerror}", retry=True)
    if system or isinstance(exc, requests.ConnectionError):
        return NetworkFailure(f"connection to {where} failed: {_describe(exc)}", retry=True)
    return None


def unresolvable(exc: BaseException) -> bool:
    """Whether `exc` says that a host name does not resolve, for good: a failure the resolver
    itself calls temporary (EAI_AGAIN: no answer from the DNS server) is not."""
    causes = list(_causes(exc))
    resolution = [
        c for c in causes if isinstance(c, urllib3.exceptions.NameResolutionError | socket.gaierror)
    ]
    return bool(resolution) and not any(
        isinstance(c, socket.gaierror) and c.errno == socket.EAI_AGAIN for c in causes
    )


def _ssl_words(error: ssl.SSLError) -> str:
    """An SSL error's own words: "wrong version number" from "[SSL: WRONG_VERSION_NUMBER] wrong
    version number (_ssl.c:1000)"."""
    text = error.strerror if isinstance(error.strerror, str) else str(error)
    text = re.sub(r"^\[[^\]]*\]\s*|\s*\(_ssl\.c:\d+\)$", "", text)
    return text or error.reason or type(error).__name__


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and what it wraps: urllib3's `reason`, exceptions among the args, the chain."""
    seen: set[int] = set()
    pending = [exc]
    while pending and len(seen) < 32:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        inner = [getattr(current, "reason", None), *current.args, current.__cause__, current.__context__]
        pending.extend(cause for cause in inner if isinstance(cause, BaseException))


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
    """A connection the watchdog can cut, made under the egress policy of the request that opens
    it (the strictest when none is set)."""

    def request(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        watchdog = getattr(_current, "watchdog", None)
        if watchdog is not None:
            watchdog.watch(self)
        super().request(*args, **kwargs)  # type: ignore[misc]

    def _new_conn(self) -> socket.socket:
        policy = getattr(_current, "egress", None) or STRICT
        tunnel_host = getattr(self, "_tunnel_host", None)
        if tunnel_host:
            # Through a proxy: the proxy is the operator's, the host behind it is checked here.
            _check_proxied(tunnel_host, getattr(self, "_tunnel_port", None) or 443, policy)
            return super()._new_conn()  # type: ignore[misc]
        timeout = self.timeout if isinstance(self.timeout, int | float) else None  # type: ignore[attr-defined]
        try:
            return egress.connect(
                (self._dns_host, self.port),  # type: ignore[attr-defined]
                timeout,
                policy=policy,
                source_address=self.source_address,  # type: ignore[attr-defined]
                socket_options=self.socket_options,  # type: ignore[attr-defined]
            )
        except socket.gaierror as exc:
            raise urllib3.exceptions.NameResolutionError(self.host, self, exc) from exc  # type: ignore[attr-defined,arg-type]
        except TimeoutError as exc:
            raise urllib3.exceptions.ConnectTimeoutError(
                self,
                f"Connection to {self.host} timed out. (connect timeout={timeout})",  # type: ignore[attr-defined]
            ) from exc
        except OSError as exc:
            raise urllib3.exceptions.NewConnectionError(
                self,  # type: ignore[arg-type]
                f"Failed to establish a new connection: {exc}",
            ) from exc


def _check_proxied(host: str, port: int, policy: EgressPolicy) -> None:
    """The addresses `host` resolves to here, checked before a proxy is asked to reach it."""
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)}
    except OSError:
        return  # the proxy resolves names this machine cannot; its own rules then apply
    refusals = [why for address in sorted(addresses) if (why := policy.refusal(str(address), port))]
    if refusals:
        raise EgressRefused(f"refused to reach {host} through the proxy: {'; '.join(refusals)}")


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
