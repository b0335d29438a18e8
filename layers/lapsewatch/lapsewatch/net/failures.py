"""What went wrong on the way to a server, in plain words, and whether trying again could help."""

from __future__ import annotations

import re
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from http.client import IncompleteRead, RemoteDisconnected
from urllib.parse import urlsplit

import requests
import urllib3


def _host_port(url: str) -> str:
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    host = f"[{host}]" if host and ":" in host else host
    return f"{host}:{port}"


def host_of(url: str) -> str:
    return urlsplit(url).hostname or url


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
    failed = _Failed(exc, list(_causes(exc)), host_of(url), _host_port(url))
    # The first that applies names the failure: the most telling causes first, the system's own
    # words for it last.
    return (
        _unresolved(failed)
        or _tls_failure(failed)
        or _refused_or_timed_out(failed, connect_timeout, read_timeout)
        or _broken_off(failed)
        or _system_failure(failed)
    )


@dataclass(frozen=True, slots=True)
class _Failed:
    """An exception, what it wraps, and where the request was going."""

    exc: BaseException
    causes: list[BaseException]
    host: str
    where: str

    def first[E: BaseException](self, kind: type[E]) -> E | None:
        return next((cause for cause in self.causes if isinstance(cause, kind)), None)


def _unresolved(failed: _Failed) -> NetworkFailure | None:
    unresolved = failed.first(urllib3.exceptions.NameResolutionError)
    if unresolved is None and failed.first(socket.gaierror) is None:
        return None
    name = getattr(getattr(unresolved, "conn", None), "host", None) or failed.host
    if not unresolvable(failed.exc):
        return NetworkFailure(f"could not resolve {name}: temporary failure in name resolution", retry=True)
    return NetworkFailure(f"could not resolve {name}", retry=False)


def _tls_failure(failed: _Failed) -> NetworkFailure | None:
    if (certificate := failed.first(ssl.SSLCertVerificationError)) is not None:
        why = certificate.verify_message or certificate.reason or "it does not verify"
        return NetworkFailure(f"TLS certificate not valid for {failed.host}: {why}", retry=False)
    if (tls := failed.first(ssl.SSLError)) is not None:
        return NetworkFailure(f"TLS handshake with {failed.where} failed: {_ssl_words(tls)}", retry=True)
    return None


def _refused_or_timed_out(
    failed: _Failed, connect_timeout: float | None, read_timeout: float | None
) -> NetworkFailure | None:
    if failed.first(ConnectionRefusedError) is not None:
        return NetworkFailure(f"connection refused by {failed.where}", retry=True)
    # urllib3 counts every failure to connect as a ConnectTimeoutError (NewConnectionError is
    # one): only the others are timeouts.
    timeouts = [
        cause
        for cause in failed.causes
        if isinstance(cause, requests.Timeout | urllib3.exceptions.TimeoutError | TimeoutError)
        and not isinstance(cause, urllib3.exceptions.NewConnectionError)
    ]
    if any(isinstance(c, requests.ConnectTimeout | urllib3.exceptions.ConnectTimeoutError) for c in timeouts):
        return NetworkFailure(f"timed out{_after(connect_timeout)} connecting to {failed.where}", retry=True)
    if timeouts:
        return NetworkFailure(f"timed out{_after(read_timeout)} reading from {failed.host}", retry=True)
    return None


def _after(seconds: float | None) -> str:
    return "" if seconds is None else f" after {seconds:.3g} s"


def _broken_off(failed: _Failed) -> NetworkFailure | None:
    """A connection the server ended: reset, closed before an answer, or an answer cut short."""
    first = failed.first
    if first(ConnectionResetError) is not None:
        return NetworkFailure(f"connection reset by {failed.where}", retry=True)
    if first(RemoteDisconnected) is not None or first(ConnectionAbortedError) is not None:
        return NetworkFailure(f"{failed.where} closed the connection without answering", retry=True)
    if (
        first(IncompleteRead)
        or first(urllib3.exceptions.IncompleteRead)
        or first(requests.exceptions.ChunkedEncodingError)
        or first(urllib3.exceptions.ProtocolError)
    ):
        return NetworkFailure(f"the answer from {failed.host} was cut short", retry=True)
    return None


def _system_failure(failed: _Failed) -> NetworkFailure | None:
    # requests' exceptions are OSErrors too, with no errno of their own: the system's error is
    # the one inside them.
    system = [
        c for c in failed.causes if isinstance(c, OSError) and not isinstance(c, requests.RequestException)
    ]
    if errors := [c for c in system if c.strerror]:
        return NetworkFailure(f"could not connect to {failed.where}: {errors[0].strerror}", retry=True)
    if system or isinstance(failed.exc, requests.ConnectionError):
        return NetworkFailure(f"connection to {failed.where} failed: {describe(failed.exc)}", retry=True)
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


def describe(exc: BaseException) -> str:
    """The innermost cause: the wrappers' messages repeat the URL, query string included."""
    while True:
        inner = getattr(exc, "reason", None) or next(
            (arg for arg in reversed(exc.args) if isinstance(arg, BaseException)), None
        )
        if not isinstance(inner, BaseException) or inner is exc:
            return str(exc) or type(exc).__name__
        exc = inner
