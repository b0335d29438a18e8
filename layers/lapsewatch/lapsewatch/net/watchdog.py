"""A wall-clock limit on every request, and connections made under the egress rules.

The connection classes here are what `lapsewatch.net.fetch` mounts on its sessions: each tells
the watchdog which socket the current thread's request is on, and opens that socket through
`lapsewatch.net.egress`.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time

import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from lapsewatch.net import egress
from lapsewatch.net.egress import STRICT, EgressPolicy, EgressRefused

# requests' timeout bounds each socket read, not the request: a server sending a byte every few
# seconds, in its headers or its body, could hold a lookup for ever. A watchdog shuts the
# request's socket at a wall-clock limit; the connection classes below tell it which socket the
# current thread's request is on. One thread watches every request in the process: a timer
# thread per request would cost more than the request itself.
current = threading.local()
_watch_lock = threading.Lock()


class Watchdog:
    def __init__(self, seconds: float) -> None:
        self.ends = time.monotonic() + seconds
        self.fired = False
        self._connection: HTTPConnection | None = None
        self._stopped = False

    def __enter__(self) -> Watchdog:
        current.watchdog = self
        _deadlines.add(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        current.watchdog = None
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
        self._pending: list[tuple[float, int, Watchdog]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def add(self, watchdog: Watchdog) -> None:
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
        watchdog = getattr(current, "watchdog", None)
        if watchdog is not None:
            watchdog.watch(self)
        super().request(*args, **kwargs)  # type: ignore[misc]

    def _new_conn(self) -> socket.socket:
        policy = getattr(current, "egress", None) or STRICT
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


class WatchedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}
