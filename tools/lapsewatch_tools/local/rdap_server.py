"""A loopback RDAP server that answers like real registries, faults included.

Tests, the offline demo (`make run`) and the benchmarks point lapsewatch at it through the
bootstrap file it writes. One server plays several registries, each under its own path prefix
(``/{registry}/domain/{name}``) with its own latency and rate limit::

    with LoopbackRdap() as server:
        server.add_registry("verisign", tlds=["com"], rate_limit=50)
        server.set_domain("example.com", DomainAnswer.for_lifecycle("redemption"))
        server.bootstrap_file(tmp_path / "dns.json")

Names nobody set answer 404, as real registries do for unregistered names. The documents it
sends (domain objects, lifecycles' status lists, error objects) are rdap_documents' own.
"""

from __future__ import annotations

import contextlib
import json
import math
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote, urlsplit

from lapsewatch.timefmt import rfc3339
from lapsewatch_tools.local.loopback import LoopbackHandler, LoopbackServer
from lapsewatch_tools.local.rdap_documents import (
    LIFECYCLE_STATUSES,
    RDAP_MEDIA_TYPE,
    error_json,
    rdap_domain_json,
)

MIB = 1024 * 1024

# Days from now to the expiration date each lifecycle usually has.
_EXPIRES_IN_DAYS = {
    "active": 200,
    "reregistered": 360,
    "grace": -10,
    "hold": 120,
    "redemption": -50,
    "pending_delete": -75,
}
_FIRST_REGISTERED = datetime(2011, 5, 14, 16, 2, 11, tzinfo=UTC)


# How an answer is served: (handler, the domain asked, how many times it has been asked).
_Respond = Callable[["_Handler", str, int], None]


@dataclass(frozen=True, slots=True)
class DomainAnswer:
    """How the server answers for one domain. Build one with the class methods."""

    description: str
    respond: _Respond = field(repr=False, compare=False)

    @classmethod
    def for_lifecycle(
        cls,
        lifecycle: str,
        *,
        registered_at: datetime | None = None,
        expires_at: datetime | None = None,
        statuses: Iterable[str] | None = None,
        shape: str = "thick",
    ) -> DomainAnswer:
        """A registry's answer for a domain in `lifecycle`, with realistic statuses and dates."""
        if lifecycle == "unregistered":
            return cls.not_found()
        if lifecycle not in LIFECYCLE_STATUSES:
            raise ValueError(f"no answer for lifecycle {lifecycle!r}")
        now = datetime.now(UTC)
        if registered_at is None:
            registered_at = now - timedelta(days=5) if lifecycle == "reregistered" else _FIRST_REGISTERED
        if expires_at is None:
            expires_at = now + timedelta(days=_EXPIRES_IN_DAYS[lifecycle])
        chosen = list(LIFECYCLE_STATUSES[lifecycle] if statuses is None else statuses)

        def render(domain: str) -> dict:
            return rdap_domain_json(domain, chosen, registered_at, expires_at, shape=shape)

        return cls.document(render, description=f"{lifecycle} ({shape})")

    @classmethod
    def document(cls, render: Callable[[str], object], *, description: str = "document") -> DomainAnswer:
        """200 with the JSON `render(domain)` returns."""

        def respond(handler: _Handler, domain: str, nth: int) -> None:
            handler.send(200, json.dumps(render(domain)).encode())

        return cls(description, respond)

    @classmethod
    def raw(
        cls, status: int, body: bytes | object = b"", headers: Mapping[str, str] | None = None
    ) -> DomainAnswer:
        """Exactly this status, body (bytes, or a JSON value to encode) and headers."""
        data = body if isinstance(body, bytes) else json.dumps(body).encode()

        def respond(handler: _Handler, domain: str, nth: int) -> None:
            handler.send(status, data, headers)

        return cls(f"raw {status}", respond)

    @classmethod
    def not_found(cls) -> DomainAnswer:
        """404 with an RDAP error object, as most registries answer."""
        return cls.raw(404, error_json(404, "Not Found"))

    @classmethod
    def not_found_empty(cls) -> DomainAnswer:
        """404 with an empty body, as Verisign answers."""
        return cls.raw(404, b"")

    @classmethod
    def error_page(cls, status: int = 404) -> DomainAnswer:
        """An HTML error page, as a load balancer or proxy in front of a registry sends it."""
        page = f"<html><head><title>{status}</title></head><body><center><h1>{status}</h1></center>"
        page += "<hr><center>nginx</center></body></html>"
        return cls.raw(status, page.encode(), {"Content-Type": "text/html"})

    @classmethod
    def wrong_ldh_name(cls, other: str = "someone-else.com") -> DomainAnswer:
        """A well-formed answer about another domain."""
        return cls.document(lambda domain: rdap_domain_json(other, LIFECYCLE_STATUSES["redemption"]))

    @classmethod
    def wrong_object_class(cls, object_class: str = "entity") -> DomainAnswer:
        """An answer that is not a domain object, though it names the domain."""

        def render(domain: str) -> dict:
            document = rdap_domain_json(domain, LIFECYCLE_STATUSES["redemption"])
            document["objectClassName"] = object_class
            return document

        return cls.document(render, description=f"objectClassName {object_class}")

    @classmethod
    def malformed(cls) -> DomainAnswer:
        """A JSON document cut off half-way."""
        return cls.raw(200, b'{"objectClassName": "domain", "ldhName": "x", "status": ["redemption per')

    @classmethod
    def oversize(cls, size: int = MIB + 1, *, declare_length: bool = False) -> DomainAnswer:
        """A valid answer padded past `size` bytes, chunked unless `declare_length`."""

        def respond(handler: _Handler, domain: str, nth: int) -> None:
            document = rdap_domain_json(domain, LIFECYCLE_STATUSES["redemption"])
            document["remarks"] = [{"description": ["x" * size]}]
            body = json.dumps(document).encode()
            if declare_length:
                handler.send(200, body)
            else:
                handler.send_chunked(200, body)

        return cls(f"oversize {size}", respond)

    @classmethod
    def redirect(cls, location: str, status: int = 302) -> DomainAnswer:
        """A referral: `location` is a path on this server or any URL; "{domain}" is filled in."""

        def respond(handler: _Handler, domain: str, nth: int) -> None:
            handler.send(status, b"", {"Location": location.replace("{domain}", domain)})

        return cls(f"redirect {status} to {location}", respond)

    @classmethod
    def flaky(
        cls,
        first: int | DomainAnswer,
        times: int,
        then: DomainAnswer | None = None,
        *,
        retry_after: str | None = None,
    ) -> DomainAnswer:
        """`first` (a status such as 429 or 503, or a fault such as drop()) for the first `times`
        requests, then `then` (an active domain)."""
        after = then or cls.for_lifecycle("active")
        if isinstance(first, int):
            headers = {"Retry-After": retry_after} if retry_after is not None else {}
            first = cls.raw(first, error_json(first, "Try again later"), headers)
        failing = first

        def respond(handler: _Handler, domain: str, nth: int) -> None:
            (failing if nth <= times else after).respond(handler, domain, nth)

        return cls(f"{failing.description} x{times} then {after.description}", respond)

    @classmethod
    def hang(cls, seconds: float = 120.0) -> DomainAnswer:
        """Say nothing for `seconds` (or until the server closes), then hang up."""

        def respond(handler: _Handler, domain: str, nth: int) -> None:
            handler.server.closing.wait(seconds)
            handler.close_connection = True

        return cls(f"hang {seconds} s", respond)

    @classmethod
    def trickle(cls, interval: float = 0.5, *, in_headers: bool = False) -> DomainAnswer:
        """A valid answer sent one byte every `interval` seconds, in the body or from the status line."""

        def respond(handler: _Handler, domain: str, nth: int) -> None:
            body = json.dumps(rdap_domain_json(domain, LIFECYCLE_STATUSES["active"])).encode()
            head = (
                f"HTTP/1.1 200 OK\r\nContent-Type: {RDAP_MEDIA_TYPE}\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode()
            handler.close_connection = True
            if in_headers:
                handler.write_slowly(head + body, interval)
            else:
                handler.wfile.write(head)
                handler.write_slowly(body, interval)

        return cls(f"trickle every {interval} s", respond)

    @classmethod
    def drop(cls) -> DomainAnswer:
        """Hang up without a word."""

        def respond(handler: _Handler, domain: str, nth: int) -> None:
            handler.close_connection = True
            handler.connection.shutdown(socket.SHUT_RDWR)

        return cls("drop the connection", respond)


class _TokenBucket:
    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._updated = time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> float:
        """0 when a token was taken, else the seconds until one frees."""
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            if self._tokens >= 1:
                self._tokens -= 1
                return 0.0
            return (1 - self._tokens) / self.rate


@dataclass
class _Registry:
    name: str
    tlds: list[str]
    latency: float
    bucket: _TokenBucket | None
    default: DomainAnswer
    domains: dict[str, DomainAnswer] = field(default_factory=dict)


class _Server(LoopbackServer):
    def __init__(self, owner: LoopbackRdap) -> None:
        self.owner = owner
        self.closing = threading.Event()
        # Open connections, so that stopping the server (or a fault) can cut them.
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(_Handler)


class _Handler(LoopbackHandler):
    server: _Server

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        super().finish()

    def do_GET(self) -> None:
        try:
            self.server.owner._serve(self)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def send(self, status: int, body: bytes, headers: Mapping[str, str] | None = None) -> None:
        headers = {"Content-Type": RDAP_MEDIA_TYPE, **(headers or {})}
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def send_chunked(self, status: int, body: bytes, chunk: int = 64 * 1024) -> None:
        self.send_response(status)
        self.send_header("Content-Type", RDAP_MEDIA_TYPE)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for start in range(0, len(body), chunk):
            piece = body[start : start + chunk]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        self.wfile.write(b"0\r\n\r\n")

    def write_slowly(self, data: bytes, interval: float) -> None:
        for index in range(len(data)):
            self.wfile.write(data[index : index + 1])
            if self.server.closing.wait(interval):
                return

    def log_message(self, format: str, *args: object) -> None:
        pass  # tests and benchmarks want quiet


class LoopbackRdap:
    """Several RDAP registries on one 127.0.0.1 port. Use as a context manager, or start/close."""

    def __init__(self) -> None:
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._registries: dict[str, _Registry] = {}
        self._lock = threading.Lock()
        self._asked: Counter[tuple[str, str]] = Counter()
        # Requests received and 429s sent, per registry, and the latest requests' path and headers.
        self.requests: Counter[str] = Counter()
        self.throttled: Counter[str] = Counter()
        self.recent: deque[tuple[str, dict[str, str]]] = deque(maxlen=100)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> LoopbackRdap:
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and hang up on every client, releasing hung and trickling answers."""
        self._server.closing.set()
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()
        with self._server.connections_lock:
            connections = list(self._server.connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already gone
                connection.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> LoopbackRdap:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def add_registry(
        self,
        name: str,
        tlds: Iterable[str] = (),
        *,
        latency: float = 0.0,
        rate_limit: float | None = None,
        burst: float = 1.0,
        default: DomainAnswer | None = None,
    ) -> str:
        """Serve a registry at /{name}/; returns its base URL. Beyond `rate_limit` requests a
        second (with `burst` in hand) it answers 429 with Retry-After."""
        if not name or "/" in name:
            raise ValueError(f"a registry name is one path segment, not {name!r}")
        bucket = _TokenBucket(rate_limit, max(burst, 1.0)) if rate_limit else None
        with self._lock:
            self._registries[name] = _Registry(
                name=name,
                tlds=[t.lower().strip(".") for t in tlds],
                latency=latency,
                bucket=bucket,
                default=default or DomainAnswer.not_found(),
            )
        return self.base_url(name)

    def base_url(self, registry: str) -> str:
        return f"{self.url}/{registry}/"

    def domain_url(self, domain: str, registry: str | None = None) -> str:
        return f"{self.base_url(registry or self._registry_for(domain).name)}domain/{domain.lower()}"

    def set_domain(self, domain: str, answer: DomainAnswer, *, registry: str | None = None) -> None:
        """Answer `answer` for `domain`, at the registry serving its TLD unless `registry` is named."""
        target = self._registries[registry] if registry else self._registry_for(domain)
        with self._lock:
            target.domains[domain.lower()] = answer

    def asked(self, domain: str, registry: str | None = None) -> int:
        """How many requests for `domain` the registry has received."""
        return self._asked[(registry or self._registry_for(domain).name, domain.lower())]

    def bootstrap_file(self, path: Path | str) -> Path:
        """Write an RFC 9224 dns.json sending each registry's TLDs here."""
        services = [
            [registry.tlds, [self.base_url(registry.name)]]
            for registry in self._registries.values()
            if registry.tlds
        ]
        document = {
            "description": "RDAP bootstrap file for Domain Name System registrations (loopback)",
            "publication": rfc3339(datetime.now(UTC)),
            "services": services,
            "version": "1.0",
        }
        path = Path(path)
        path.write_text(json.dumps(document, indent=1))
        return path

    def _registry_for(self, domain: str) -> _Registry:
        labels = domain.lower().rstrip(".").split(".")
        for start in range(len(labels)):
            suffix = ".".join(labels[start:])
            for registry in self._registries.values():
                if suffix in registry.tlds:
                    return registry
        raise ValueError(f"no registry on this server serves {domain!r}")

    def _serve(self, handler: _Handler) -> None:
        parts = urlsplit(handler.path).path.split("/")
        registry = self._registries.get(parts[1]) if len(parts) == 4 else None
        if registry is None or parts[2] != "domain" or not parts[3]:
            handler.send(404, error_json(404, "Not Found"))
            return
        domain = unquote(parts[3]).lower()
        with self._lock:
            self.requests[registry.name] += 1
            self.recent.append((handler.path, dict(handler.headers.items())))
        if registry.latency:
            self._server.closing.wait(registry.latency)
        if registry.bucket is not None and (wait := registry.bucket.take()):
            with self._lock:
                self.throttled[registry.name] += 1
            retry_after = str(max(1, math.ceil(wait)))
            handler.send(429, error_json(429, "Too Many Requests"), {"Retry-After": retry_after})
            return
        with self._lock:
            self._asked[(registry.name, domain)] += 1
            nth = self._asked[(registry.name, domain)]
            answer = registry.domains.get(domain, registry.default)
        answer.respond(handler, domain, nth)
