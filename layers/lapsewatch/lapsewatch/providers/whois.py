"""WHOIS (port 43, RFC 3912) for the TLDs whose registries run no RDAP server.

A lookup sends one line, the A-label with the TLD's affixes and CRLF, on a connection of its own,
reads until the server closes, and reads the answer with the TLD's rules (`whois_rules`; the
reader is `whois_reader`). WHOIS is unauthenticated plain text, so its word is never enough
alone: the checker has an unsafe verdict confirmed by the DNS witness (`lapsewatch.dns`: the
parent zone must agree the name is no longer delegated), as it has every provider's, besides
the confirming second lookup every unsafe verdict gets.

Hostile, like every source:

- an answer over 64 KiB is refused whole (the read stops there and nothing of it is read);
- 10 s per query, whatever the server trickles, within one deadline for the lookup and its tries;
- connections go through the egress policy (port 43, public addresses; loopback only for the
  local tools);
- one rate limit per server, shared by every thread of the process (the table's rate, one a
  second by default), and after a refusal ("rate limit exceeded", "IP address blocked") that server
  is left alone for a while: registries ban clients that ask too fast.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from functools import cache

import idna

from lapsewatch.domains import InvalidDomain, to_ascii
from lapsewatch.net import egress
from lapsewatch.net.doubt import Doubt
from lapsewatch.net.failures import network_failure
from lapsewatch.net.fetch import lookup_deadline
from lapsewatch.providers import Observation
from lapsewatch.providers.whois_reader import decode, read_answer
from lapsewatch.providers.whois_rules import (
    DEFAULT_PORT,
    WhoisReading,
    WhoisRefusal,
    WhoisRules,
    WhoisTable,
)
from lapsewatch.ratelimit import RateLimiter

log = logging.getLogger(__name__)

MAX_ANSWER = 64 * 1024
QUERY_TIMEOUT = 10.0
# One query that takes all its 10 s, or a quick failure and another try: so that a lookup and its
# confirming lookup, a second later, end within 30 s together.
LOOKUP_BUDGET = 14.0
MAX_TRIES = 2
# How long a server that refused a query is left alone.
REFUSAL_BACKOFF = 60.0
PORTS = frozenset({DEFAULT_PORT})

type Endpoint = tuple[str, int]


class AnswerTooLong(Doubt):
    """An answer over the cap: refused whole."""


class Backoff:
    """When each server may be asked again after it refused, shared by the threads of a process."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._until: dict[str, float] = {}

    def refused(self, server: str, seconds: float) -> None:
        with self._lock:
            self._until[server] = max(self._until.get(server, 0.0), self._monotonic() + seconds)

    def waiting(self, server: str) -> float:
        """Seconds until `server` may be asked again; 0 when it may now."""
        with self._lock:
            return max(0.0, self._until.get(server, 0.0) - self._monotonic())


SHARED_BACKOFF = Backoff()


@cache
def shared_limiter(rate: float, burst: int) -> RateLimiter:
    """The process-wide limiter for a rate and burst: one bucket per server."""
    return RateLimiter(rate, burst=burst)


class WhoisProvider:
    """Domain status from the registries' WHOIS servers, for the TLDs `table` names.

    `servers` sends a TLD's queries elsewhere (a loopback stand-in) and keeps its reading rules.
    `allow_loopback` lets connections reach this machine (the local tools only); `ports` are the
    ports allowed beyond loopback, 43 and any other the table names.
    """

    name = "whois"

    def __init__(
        self,
        table: WhoisTable,
        *,
        servers: Mapping[str, Endpoint] | None = None,
        allow_loopback: bool = False,
        ports: frozenset[int] = PORTS,
        query_timeout: float = QUERY_TIMEOUT,
        lookup_budget: float = LOOKUP_BUDGET,
        max_tries: int = MAX_TRIES,
        backoff: Backoff = SHARED_BACKOFF,
        limiter_for: Callable[[WhoisRules], RateLimiter] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.table = table
        self.servers = dict(servers or {})
        for tld in self.servers:
            if tld not in table.rules:
                raise ValueError(f"the WHOIS table ({table.source}) does not serve .{tld}")
        table_ports = {rules.port for rules in table.rules.values()}
        self.policy = egress.EgressPolicy(allow_loopback=allow_loopback, ports=ports | table_ports)
        self.query_timeout = query_timeout
        self.lookup_budget = lookup_budget
        self.max_tries = max_tries
        self.backoff = backoff
        self._limiter_for = limiter_for or (lambda rules: shared_limiter(rules.rate, rules.burst))
        self._monotonic = monotonic

    def serves(self, domain: str) -> bool:
        return self.table.for_domain(domain) is not None

    def why_unserved(self, domain: str) -> str | None:
        return None

    def sees(self, domain: str) -> tuple[str, ...]:
        """The unsafe lifecycles this provider can show for `domain`'s TLD."""
        rules = self.table.for_domain(domain)
        return () if rules is None else rules.sees

    def endpoint(self, rules: WhoisRules) -> Endpoint:
        return self.servers.get(rules.tld, (rules.server, rules.port))

    def lookup(self, domain: str, *, deadline: float | None = None) -> Observation:
        ends = lookup_deadline(self.lookup_budget, deadline)
        rules = self.table.for_domain(domain)
        if rules is None:
            return self._doubt(f"the WHOIS table does not serve .{domain.rsplit('.', 1)[-1]}", None)
        host, port = self.endpoint(rules)
        source = _source(host, port)
        try:
            asked = to_ascii(domain.strip().removesuffix("."))
            reading = self._lookup(asked, rules, host, port, ends)
        except WhoisRefusal as exc:
            self.backoff.refused(source, REFUSAL_BACKOFF)
            return self._doubt(f"{exc}; leaving {source} alone for {REFUSAL_BACKOFF:.0f} s", source)
        except (Doubt, InvalidDomain) as exc:
            return self._doubt(str(exc), source)
        except Exception as exc:  # a bug or a surprise must be doubt, never a verdict
            log.exception("WHOIS lookup of %s at %s failed unexpectedly", domain, source)
            return self._doubt(f"lookup failed: {exc!r}", source)
        return Observation(
            provider=self.name,
            lifecycle=reading.lifecycle,
            statuses=reading.statuses,
            registered_at=reading.registered_at,
            source=source,
            service=source,
        )

    def _doubt(self, why: str, source: str | None) -> Observation:
        return Observation.doubt(self.name, why, source=source, service=source)

    def _lookup(self, asked: str, rules: WhoisRules, host: str, port: int, ends: float) -> WhoisReading:
        source = _source(host, port)
        unicode_name = _unicode(asked)
        failure = "no try was made"
        for _ in range(self.max_tries):
            if (wait := self.backoff.waiting(source)) > 0:
                raise Doubt(f"{source} refused a query lately; not asking it for another {wait:.0f} s")
            if ends - self._monotonic() <= 0:
                break
            if not self._limiter_for(rules).acquire(source, deadline=ends - 0.5):
                raise Doubt(f"the rate limit for {source} leaves no slot before the lookup's deadline")
            try:
                body = self._query(host, port, rules.query_line(asked), ends)
            except (AnswerTooLong, egress.EgressRefused) as exc:
                raise Doubt(str(exc)) from None
            except OSError as exc:
                said = network_failure(exc, f"whois://{_source(host, port)}", read_timeout=self.query_timeout)
                failure = said.message if said else f"the query failed: {exc}"
                # A server that let a query run out of time would only do it again.
                if isinstance(exc, TimeoutError) or (said is not None and not said.retry):
                    break
                continue
            return read_answer(decode(body, rules), asked, rules, unicode_name=unicode_name)
        raise Doubt(f"no answer from {source}: {failure}")

    def _query(self, host: str, port: int, line: bytes, ends: float) -> bytes:
        """One query on a connection of its own; the answer, read until the server closes."""
        query_ends = min(self._monotonic() + self.query_timeout, ends)

        def remaining() -> float:
            left = query_ends - self._monotonic()
            if left <= 0:
                raise TimeoutError(
                    f"no whole answer from {_source(host, port)} within {self.query_timeout:g} s"
                )
            return left

        with egress.connect((host, port), remaining(), policy=self.policy) as sock:
            sock.settimeout(remaining())
            sock.sendall(line)
            chunks: list[bytes] = []
            size = 0
            while True:
                sock.settimeout(remaining())
                chunk = sock.recv(16384)
                if not chunk:
                    return b"".join(chunks)
                size += len(chunk)
                if size > MAX_ANSWER:
                    raise AnswerTooLong(
                        f"the answer from {_source(host, port)} is over {MAX_ANSWER // 1024} KiB: refused"
                    )
                chunks.append(chunk)


def _source(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _unicode(asked: str) -> str | None:
    try:
        return idna.decode(asked)
    except (idna.IDNAError, UnicodeError):
        return None


def parse_server(text: str) -> tuple[str, Endpoint]:
    """An operator's `TLD=HOST[:PORT]`; raises ValueError."""
    tld, equals, where = text.strip().partition("=")
    tld = tld.strip()
    if not equals or not tld or not where.strip():
        raise ValueError(f"{text!r} is not TLD=HOST[:PORT]")
    if tld != tld.lower() or not tld.isascii() or "." in tld:
        raise ValueError(f"{tld!r} is not a TLD as a lowercase A-label (jp, nz, xn--p1ai)")
    where = where.strip()
    host, port = where, DEFAULT_PORT
    if where.startswith("["):
        host, _, rest = where[1:].partition("]")
        if rest:
            if not rest.startswith(":") or not rest[1:].isdigit():
                raise ValueError(f"{where!r} is not HOST[:PORT]")
            port = int(rest[1:])
    elif where.count(":") == 1:
        host, _, digits = where.partition(":")
        if not digits.isdigit():
            raise ValueError(f"{where!r} is not HOST[:PORT]")
        port = int(digits)
    if not host or not 1 <= port <= 65535:
        raise ValueError(f"{where!r} is not HOST[:PORT]")
    return tld, (host, port)
