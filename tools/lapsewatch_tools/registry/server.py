"""The reference registry: the registry API v1 (docs/registry-api.yaml) served from SQLite.

It stands in for PyPI or npm in local runs, the demo and the tests, so it implements the
contract to the letter, plus two read-only endpoints for operators and tests (`/v1/emails` and
`/v1/audit`) and a fault plan that makes chosen calls fail on purpose.

Everything here is the standard library: sqlite3, a WSGI app and wsgiref's server with one
thread per connection. SQLite work takes microseconds next to the HTTP around it, so one
connection behind a lock serves every thread: that keeps ":memory:" databases working (each
connection to ":memory:" is a database of its own) and makes each unverify atomic with its
idempotency record.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import hashlib
import hmac
import itertools
import json
import logging
import os
import re
import secrets
import socket
import sqlite3
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from socketserver import ThreadingMixIn
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from lapsewatch.domains import InvalidDomain, is_a_label_domain, registrable_domain, to_ascii
from lapsewatch.lifecycle import UNVERIFIABLE
from lapsewatch.timefmt import parse_time

log = logging.getLogger(__name__)

# The endpoints, as a fault plan names them.
LIST_EMAIL_DOMAINS = "GET /v1/email-domains"
UNVERIFY = "POST /v1/email-domains/unverify"
LIST_EMAILS = "GET /v1/emails"
AUDIT = "GET /v1/audit"

DEFAULT_LIMIT = 500
MAX_LIMIT = 1000
MAX_IDEMPOTENCY_KEY = 255
MAX_BODY = 1 << 20
UNVERIFY_REASONS = frozenset(str(lifecycle) for lifecycle in UNVERIFIABLE)
UNVERIFY_FIELDS = frozenset({"domain", "include_subdomains", "verified_before", "reason", "evidence"})

_SEED_BATCH = 10_000
_LIMIT = re.compile(r"[0-9]{1,4}")
_DIGITS = re.compile(r"[0-9]+")
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)
# How times are stored: RFC 3339 in UTC to the second, so that text order is time order.
_STORED_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
# The full stops UTS-46 maps to ".", as lapsewatch.domains reduces addresses.
_DOTS = re.compile("[\u3002\uff0e\uff61]")

_TABLES = """
CREATE TABLE IF NOT EXISTS emails (
    id INTEGER PRIMARY KEY,
    user TEXT NOT NULL,
    email TEXT NOT NULL,
    -- The domain as the registry stores it: any case, possibly Unicode, possibly junk.
    domain TEXT NOT NULL,
    -- The normalised A-label domain with its labels reversed (mail.corp.co.uk is
    -- uk.co.corp.mail), so that a domain and all its subdomains are one index range.
    -- NULL for junk, which no unverify ever matches.
    reversed_domain TEXT,
    verified INTEGER NOT NULL,
    verified_at TEXT,
    unverified_reason TEXT,
    unverified_at TEXT
);
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY,
    body_sha256 TEXT NOT NULL,
    response TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    domain TEXT NOT NULL,
    include_subdomains INTEGER NOT NULL,
    verified_before TEXT,
    reason TEXT NOT NULL,
    evidence TEXT NOT NULL,
    unverified INTEGER NOT NULL,
    replayed INTEGER NOT NULL
);
"""
_EMAIL_INDEXES = {
    # The listing groups verified addresses by stored domain; this index covers it.
    "emails_verified_by_domain": "emails (domain, verified_at) WHERE verified = 1",
    "emails_by_reversed_domain": "emails (reversed_domain)",
}


@functools.lru_cache(maxsize=1 << 16)
def reversed_domain(stored: str) -> str | None:
    """The match key of a stored domain: its A-label form with the labels reversed, or None.

    The reduction is the one lapsewatch.domains applies to an address before looking for its
    registrable domain (outer white space, UTS-46 full stops, one trailing dot), so every address
    the sweep counts under a domain is matched by an unverify of that domain.
    """
    host = _DOTS.sub(".", stored.strip()).removesuffix(".")
    try:
        ascii_host = to_ascii(host)
    except InvalidDomain:
        return None
    if "." not in ascii_host:
        return None  # one label (localhost, intranet): no unverify can name it
    return _reverse(ascii_host)


@dataclass(frozen=True, slots=True)
class SeedReport:
    """What a seed load did: addresses loaded, and the bad lines as (line number, reason)."""

    loaded: int
    errors: list[tuple[int, str]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Fault:
    """One failure to answer a call with; build them with the class methods."""

    status: int | None = None
    retry_after: int | None = None
    # Seconds to wait, after the call has had its effect, before answering: a read timeout on
    # the client then leaves the work done and the answer lost.
    delay: float = 0.0
    # Close the connection without an answer, before the call has any effect.
    drop: bool = False

    @classmethod
    def rate_limited(cls, retry_after: int = 1) -> Fault:
        return cls(status=429, retry_after=retry_after)

    @classmethod
    def unavailable(cls, status: int = 503, retry_after: int | None = None) -> Fault:
        return cls(status=status, retry_after=retry_after)

    @classmethod
    def dropped(cls) -> Fault:
        return cls(drop=True)

    @classmethod
    def slow(cls, seconds: float) -> Fault:
        return cls(delay=seconds)


class FaultPlan:
    """Faults the next calls of an endpoint answer with, in order; for tests and the demo only.

        plan = FaultPlan().add(UNVERIFY, Fault.rate_limited(), Fault.unavailable(), Fault.dropped())

    makes the next three unverify calls answer 429, then 503, then nothing; the fourth works.
    Faults apply before authentication, like a load balancer's.
    """

    def __init__(self) -> None:
        self._faults: dict[str, deque[Fault]] = {}
        self._lock = threading.Lock()

    def add(self, endpoint: str, *faults: Fault) -> FaultPlan:
        with self._lock:
            self._faults.setdefault(endpoint, deque()).extend(faults)
        return self

    def take(self, endpoint: str) -> Fault | None:
        with self._lock:
            pending = self._faults.get(endpoint)
            return pending.popleft() if pending else None

    def pending(self, endpoint: str) -> int:
        with self._lock:
            return len(self._faults.get(endpoint, ()))


class BadRequest(ValueError):
    """A request the contract does not allow; answered `status` (400) with the message."""

    status = 400


class LengthRequired(BadRequest):
    """A body sent without a Content-Length (chunked, say): this registry reads none but those."""

    status = 411


@dataclass(frozen=True, slots=True)
class _Unverify:
    domain: str
    include_subdomains: bool
    verified_before: str | None
    reason: str
    evidence: dict

    def canonical(self) -> str:
        return json.dumps(
            {
                "domain": self.domain,
                "include_subdomains": self.include_subdomains,
                "verified_before": self.verified_before,
                "reason": self.reason,
                "evidence": self.evidence,
            },
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )


class RegistryStore:
    """The registry's SQLite database: addresses, idempotency records and the audit log."""

    def __init__(self, db_path: str | os.PathLike = ":memory:") -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
        if str(db_path) != ":memory:":
            # Readers (an operator's sqlite3 shell) never block the server, nor it them.
            self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = NORMAL")
        self._db.executescript(_TABLES)
        self._create_indexes()

    def _create_indexes(self) -> None:
        for name, definition in _EMAIL_INDEXES.items():
            self._db.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {definition}")

    def load_seed(self, lines: Iterable[str]) -> SeedReport:
        """Load JSON Lines of addresses in one transaction; bad lines are reported, not loaded."""
        insert = (
            "INSERT INTO emails (user, email, domain, reversed_domain, verified, verified_at) "
            "VALUES (?, ?, ?, ?, ?, ?)"
        )
        errors: list[tuple[int, str]] = []
        loaded = 0
        with self._lock:
            # A crash mid-load loses only the load itself, which can be run again.
            self._db.execute("PRAGMA synchronous = OFF")
            self._db.execute("BEGIN")
            try:
                # Building the indexes once, after the rows, takes half the time of updating
                # them row by row.
                for name in _EMAIL_INDEXES:
                    self._db.execute(f"DROP INDEX {name}")
                numbered = enumerate(lines, start=1)
                while batch := list(itertools.islice(numbered, _SEED_BATCH)):
                    rows = []
                    for line_no, line in batch:
                        if not line.strip():
                            continue
                        try:
                            rows.append(_seed_row(line))
                        except ValueError as exc:
                            errors.append((line_no, str(exc)))
                    self._db.executemany(insert, rows)
                    loaded += len(rows)
                self._create_indexes()
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            finally:
                self._db.execute("PRAGMA synchronous = NORMAL")
        return SeedReport(loaded, errors)

    def email_domains(self, after: str | None, limit: int) -> tuple[list[dict], str | None]:
        """One page of the listing, and the last domain on it when more follow."""
        where = "verified = 1" if after is None else "verified = 1 AND domain > :after"
        query = (
            "SELECT domain, COUNT(*), MIN(verified_at) FROM emails "
            f"WHERE {where} GROUP BY domain ORDER BY domain LIMIT :fetch"
        )
        with self._lock:
            # One row more than asked says whether another page follows.
            rows = self._db.execute(query, {"after": after, "fetch": limit + 1}).fetchall()
        items = [
            {"domain": domain, "verified_emails": count, "oldest_verified_at": oldest}
            for domain, count, oldest in rows[:limit]
        ]
        return items, (items[-1]["domain"] if len(rows) > limit else None)

    def unverify(self, key: str, request: _Unverify) -> tuple[int, dict]:
        """Apply an unverify once per Idempotency-Key; the status and the answer."""
        canonical = request.canonical()
        body_sha256 = hashlib.sha256(canonical.encode()).hexdigest()
        now = _utc_text(datetime.now(UTC))
        with self._lock:
            # IMMEDIATE takes the write lock first, so another process on the same file cannot
            # apply the same key between our look-up and our insert.
            self._db.execute("BEGIN IMMEDIATE")
            try:
                status, answer = self._unverify_once(key, request, body_sha256, now)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return status, answer

    def _unverify_once(self, key: str, request: _Unverify, body_sha256: str, now: str) -> tuple[int, dict]:
        known = self._db.execute(
            "SELECT body_sha256, response FROM idempotency WHERE key = ?", (key,)
        ).fetchone()
        if known is not None:
            if known[0] != body_sha256:
                return 409, {"error": "this Idempotency-Key was already used with a different body"}
            answer = {**json.loads(known[1]), "replayed": True}
            self._audit(key, request, now, unverified=0, replayed=True)
            return 200, answer
        match, params = _match_clause(_reverse(request.domain), request.include_subdomains)
        if request.verified_before is not None:
            match += " AND verified_at < :before"
            params["before"] = request.verified_before
        cursor = self._db.execute(
            "UPDATE emails SET verified = 0, unverified_reason = :reason, unverified_at = :now "
            f"WHERE verified = 1 AND {match}",
            {**params, "reason": request.reason, "now": now},
        )
        answer = {"unverified": cursor.rowcount, "replayed": False}
        self._db.execute(
            "INSERT INTO idempotency (key, body_sha256, response, created_at) VALUES (?, ?, ?, ?)",
            (key, body_sha256, json.dumps(answer), now),
        )
        self._audit(key, request, now, unverified=cursor.rowcount, replayed=False)
        return 200, answer

    def _audit(self, key: str, request: _Unverify, now: str, *, unverified: int, replayed: bool) -> None:
        self._db.execute(
            "INSERT INTO audit (at, idempotency_key, domain, include_subdomains, verified_before, reason, "
            "evidence, unverified, replayed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                now,
                key,
                request.domain,
                request.include_subdomains,
                request.verified_before,
                request.reason,
                json.dumps(request.evidence, ensure_ascii=False),
                unverified,
                replayed,
            ),
        )

    def emails(self, ascii_domain: str, verified: bool | None) -> list[dict]:
        """The addresses at a domain or its subdomains, verified or not."""
        match, params = _match_clause(_reverse(ascii_domain), include_subdomains=True)
        if verified is not None:
            match += " AND verified = :verified"
            params["verified"] = verified
        query = (
            "SELECT user, email, domain, verified, verified_at, unverified_reason, unverified_at "
            f"FROM emails WHERE {match} ORDER BY id"
        )
        with self._lock:
            rows = self._db.execute(query, params).fetchall()
        return [
            {
                "user": user,
                "email": email,
                "domain": domain,
                "verified": bool(is_verified),
                "verified_at": verified_at,
                "unverified_reason": reason,
                "unverified_at": unverified_at,
            }
            for user, email, domain, is_verified, verified_at, reason, unverified_at in rows
        ]

    def audit(self) -> list[dict]:
        with self._lock:
            rows = self._db.execute(
                "SELECT at, idempotency_key, domain, include_subdomains, verified_before, reason, evidence, "
                "unverified, replayed FROM audit ORDER BY id"
            ).fetchall()
        return [
            {
                "at": at,
                "idempotency_key": key,
                "domain": domain,
                "include_subdomains": bool(subdomains),
                "verified_before": before,
                "reason": reason,
                "evidence": json.loads(evidence),
                "unverified": unverified,
                "replayed": bool(replayed),
            }
            for at, key, domain, subdomains, before, reason, evidence, unverified, replayed in rows
        ]


def _reverse(ascii_domain: str) -> str:
    return ".".join(reversed(ascii_domain.split(".")))


def _match_clause(reversed_name: str, include_subdomains: bool) -> tuple[str, dict]:
    if not include_subdomains:
        return "reversed_domain = :name", {"name": reversed_name}
    # Subdomains are the keys that start with "name."; no character sorts between "." and "/".
    return (
        "(reversed_domain = :name OR (reversed_domain >= :below AND reversed_domain < :above))",
        {"name": reversed_name, "below": reversed_name + ".", "above": reversed_name + "/"},
    )


def _seed_row(line: str) -> tuple:
    try:
        record = json.loads(line)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(record, dict):
        raise ValueError("not a JSON object")
    user = record.get("user")
    email = record.get("email")
    verified = record.get("verified")
    verified_at = record.get("verified_at")
    if not isinstance(user, str) or not user:
        raise ValueError("user must be a non-empty string")
    if not isinstance(email, str) or "@" not in email:
        raise ValueError("email must be a string with an @")
    if not isinstance(verified, bool):
        raise ValueError("verified must be true or false")
    if verified_at is not None:
        try:
            verified_at = _stored_time(verified_at)
        except (ValueError, TypeError, OverflowError):
            raise ValueError(f"verified_at is not an RFC 3339 time: {verified_at!r}") from None
    elif verified:
        raise ValueError("a verified address needs verified_at")
    domain = email.rpartition("@")[2]
    return user, email, domain, reversed_domain(domain), verified, verified_at


def _stored_time(value: str) -> str:
    # Seeds mostly hold times already in the stored form; checking the calendar is enough then.
    if _STORED_TIME.fullmatch(value):
        datetime.fromisoformat(value)
        return value
    return _utc_text(parse_time(value))


def _utc_text(moment: datetime) -> str:
    # isoformat, unlike strftime, writes years before 1000 with four digits, as RFC 3339 wants.
    return moment.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def _read_lines(source: str | os.PathLike | Iterable[str]) -> Iterator[str]:
    if isinstance(source, str | os.PathLike):
        with open(source, encoding="utf-8") as lines:
            yield from lines
    else:
        yield from source


class RegistryApp:
    """The registry API as a WSGI application over a RegistryStore."""

    def __init__(
        self,
        db_path: str | os.PathLike = ":memory:",
        *,
        token: str,
        faults: FaultPlan | None = None,
    ) -> None:
        if not token:
            raise ValueError("the registry needs a token")
        self.token = token
        self.faults = faults or FaultPlan()
        self.store = RegistryStore(db_path)
        self._routes = {
            LIST_EMAIL_DOMAINS: self._list_email_domains,
            UNVERIFY: self._unverify,
            LIST_EMAILS: self._list_emails,
            AUDIT: self._audit,
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def load_seed(self, source: str | os.PathLike | Iterable[str]) -> SeedReport:
        """Load a JSON Lines file (a path) or the lines themselves."""
        return self.store.load_seed(_read_lines(source))

    def __call__(self, environ: dict, start_response) -> list[bytes]:
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO", "")
        endpoint = f"{method} {path}"
        fault = self.faults.take(endpoint)
        if fault is not None and fault.drop:
            environ["lapsewatch.drop_connection"]()
            # wsgiref needs a status even for an answer that can no longer be sent.
            start_response("503 Service Unavailable", [])
            return []
        if fault is not None and fault.status is not None:
            headers = [("Retry-After", str(fault.retry_after))] if fault.retry_after is not None else []
            status, payload = fault.status, {"error": f"failing on purpose ({fault.status})"}
        else:
            status, payload, headers = self._answer(environ, method, path, endpoint)
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        body = json.dumps(payload, ensure_ascii=False).encode()
        start_response(
            _STATUS_LINES.get(status, f"{status} Error"),
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(body))),
                ("Cache-Control", "no-store"),
                *headers,
            ],
        )
        return [body]

    def _answer(self, environ: dict, method: str, path: str, endpoint: str) -> tuple[int, dict, list]:
        handler = self._routes.get(endpoint)
        if handler is None:
            allowed = [route.split(" ", 1)[0] for route in self._routes if route.endswith(f" {path}")]
            if allowed:
                return 405, {"error": f"{method} is not allowed here"}, [("Allow", ", ".join(allowed))]
            return 404, {"error": "no such endpoint"}, []
        if not self._authorised(environ.get("HTTP_AUTHORIZATION", "")):
            return 401, {"error": "a valid bearer token is required"}, [("WWW-Authenticate", "Bearer")]
        try:
            status, payload = handler(environ)
        except BadRequest as exc:
            return exc.status, {"error": str(exc)}, []
        except Exception:
            log.exception("%s failed", endpoint)
            return 500, {"error": "internal error"}, []
        return status, payload, []

    def _authorised(self, header: str) -> bool:
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(credentials.strip().encode("utf-8", "replace"), self.token.encode())

    def _list_email_domains(self, environ: dict) -> tuple[int, dict]:
        query = _query(environ, frozenset({"limit", "cursor"}))
        limit = _limit(query.get("limit"))
        cursor = query.get("cursor")
        items, last = self.store.email_domains(None if cursor is None else _decode_cursor(cursor), limit)
        return 200, {"items": items, "next_cursor": None if last is None else _encode_cursor(last)}

    def _unverify(self, environ: dict) -> tuple[int, dict]:
        key = environ.get("HTTP_IDEMPOTENCY_KEY")
        if not key:
            raise BadRequest("the Idempotency-Key header is required")
        if len(key) > MAX_IDEMPOTENCY_KEY:
            raise BadRequest(f"the Idempotency-Key header must be at most {MAX_IDEMPOTENCY_KEY} characters")
        if environ.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower() != "application/json":
            raise BadRequest("Content-Type must be application/json")
        return self.store.unverify(key, _unverify_request(_json_body(environ)))

    def _list_emails(self, environ: dict) -> tuple[int, dict]:
        query = _query(environ, frozenset({"domain", "verified"}))
        domain = query.get("domain")
        if domain is None:
            raise BadRequest("the domain parameter is required")
        try:
            ascii_domain = to_ascii(domain)
        except InvalidDomain as exc:
            raise BadRequest(f"domain is not a domain name: {exc}") from None
        verified = query.get("verified")
        if verified not in (None, "true", "false"):
            raise BadRequest("verified must be true or false")
        wanted = None if verified is None else verified == "true"
        return 200, {"items": self.store.emails(ascii_domain, wanted)}

    def _audit(self, environ: dict) -> tuple[int, dict]:
        _query(environ, allowed=frozenset())  # takes no parameters, and says so
        return 200, {"items": self.store.audit()}


_STATUS_LINES = {
    200: "200 OK",
    400: "400 Bad Request",
    401: "401 Unauthorized",
    404: "404 Not Found",
    405: "405 Method Not Allowed",
    409: "409 Conflict",
    411: "411 Length Required",
    429: "429 Too Many Requests",
    500: "500 Internal Server Error",
    502: "502 Bad Gateway",
    503: "503 Service Unavailable",
    504: "504 Gateway Timeout",
}


def _query(environ: dict, allowed: frozenset[str]) -> dict[str, str]:
    values = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    # Strict, so that a client's misspelt parameter fails loudly instead of being ignored.
    if unknown := sorted(set(values) - allowed):
        raise BadRequest(f"unknown parameters: {', '.join(unknown)}")
    repeated = sorted(name for name, given in values.items() if len(given) > 1)
    if repeated:
        raise BadRequest(f"parameters given more than once: {', '.join(repeated)}")
    return {name: given[0] for name, given in values.items()}


def _limit(text: str | None) -> int:
    if text is None:
        return DEFAULT_LIMIT
    if not _LIMIT.fullmatch(text) or not 1 <= int(text) <= MAX_LIMIT:
        raise BadRequest(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return int(text)


def _encode_cursor(last_domain: str) -> str:
    return base64.urlsafe_b64encode(json.dumps(["v1", last_domain]).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> str:
    try:
        version, last_domain = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError, binascii.Error, RecursionError):
        raise BadRequest("cursor is not one this registry gave out") from None
    if version != "v1" or not isinstance(last_domain, str):
        raise BadRequest("cursor is not one this registry gave out")
    return last_domain


def _json_body(environ: dict) -> object:
    # Checked before a byte is read: read(-5) would wait for the client to close the connection.
    length = _content_length(environ.get("CONTENT_LENGTH", ""))
    try:
        return json.loads(environ["wsgi.input"].read(length))
    except ValueError as exc:
        raise BadRequest(f"the body is not JSON: {exc}") from None
    except RecursionError:
        raise BadRequest("the body is JSON nested too deeply to read") from None


def _content_length(text: str) -> int:
    text = text.strip(" \t")
    if not text:
        raise LengthRequired("a Content-Length header is required")
    if not _DIGITS.fullmatch(text):
        raise BadRequest(f"Content-Length must be a whole number of bytes, not {text[:20]!r}")
    digits = text.lstrip("0") or "0"
    # Compared by length first: int() refuses numbers of more than 4,300 digits.
    if len(digits) > len(str(MAX_BODY)) or int(digits) > MAX_BODY:
        raise BadRequest(f"the body is larger than {MAX_BODY} bytes")
    return int(digits)


def _unverify_request(body: object) -> _Unverify:
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    if unknown := sorted(set(body) - UNVERIFY_FIELDS):
        raise BadRequest(f"unknown fields: {', '.join(unknown)}")
    if missing := sorted(UNVERIFY_FIELDS - set(body)):
        raise BadRequest(f"missing fields: {', '.join(missing)}")
    domain = body["domain"]
    if not is_a_label_domain(domain):
        raise BadRequest(
            f"domain must be a lowercase A-label domain name such as example.com or xn--bcher-kva.de, "
            f"not {domain!r}"
        )
    _check_registrable(domain)
    if not isinstance(body["include_subdomains"], bool):
        raise BadRequest("include_subdomains must be true or false")
    reason = body["reason"]
    if not isinstance(reason, str) or reason not in UNVERIFY_REASONS:
        raise BadRequest(f"reason must be one of {', '.join(sorted(UNVERIFY_REASONS))}")
    if not isinstance(body["evidence"], dict):
        raise BadRequest("evidence must be a JSON object")
    return _Unverify(
        domain=domain,
        include_subdomains=body["include_subdomains"],
        verified_before=_rfc3339_or_none(body["verified_before"]),
        reason=reason,
        evidence=body["evidence"],
    )


def _check_registrable(domain: str) -> None:
    # A public suffix has no one holder: `co.uk` with include_subdomains would unverify every
    # address under it. lapsewatch decides about registrable domains, and the contract takes no other.
    try:
        registrable = registrable_domain(domain)
    except InvalidDomain as exc:
        raise BadRequest(
            f"domain must be a registrable domain under the ICANN section of the Public Suffix List, "
            f"never a public suffix: {exc}"
        ) from None
    if registrable != domain:
        raise BadRequest(f"domain must be a registrable domain: {domain!r} is a name under {registrable!r}")


def _rfc3339_or_none(value: object) -> str | None:
    if value is None:
        return None
    error = BadRequest("verified_before must be an RFC 3339 time such as 2026-11-01T00:00:00Z, or null")
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise error
    try:
        return _utc_text(parse_time(value))
    except (ValueError, OverflowError):
        raise error from None


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    # Daemon threads: a slow answer (a fault, a stuck client) never holds up shutdown.
    daemon_threads = True
    quiet = True


class _RequestHandler(WSGIRequestHandler):
    def get_environ(self) -> dict:
        environ = super().get_environ()
        environ["lapsewatch.drop_connection"] = self._drop_connection
        return environ

    def _drop_connection(self) -> None:
        # The client sees the connection close with no answer; wsgiref ignores the broken pipe
        # when it then tries to write.
        self.connection.shutdown(socket.SHUT_RDWR)

    def log_message(self, format: str, *args) -> None:
        if not self.server.quiet:  # type: ignore[attr-defined]
            super().log_message(format, *args)


class RegistryServer:
    """Serve a RegistryApp on a loopback port from a background thread, one thread per connection.

    with RegistryServer() as registry:
        registry.load_seed(["{...}"])
        client = RegistryClient(registry.url, registry.token)
    """

    def __init__(
        self, app: RegistryApp | None = None, *, host: str = "127.0.0.1", port: int = 0, quiet: bool = True
    ) -> None:
        self.app = app or RegistryApp(token=secrets.token_urlsafe(24))
        self._httpd = _ThreadingWSGIServer((host, port), _RequestHandler)
        self._httpd.quiet = quiet
        self._httpd.set_app(self.app)
        self.url = f"http://{host}:{self._httpd.server_port}"
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    @property
    def token(self) -> str:
        return self.app.token

    def load_seed(self, source: str | os.PathLike | Iterable[str]) -> SeedReport:
        return self.app.load_seed(source)

    def start(self) -> RegistryServer:
        # A short poll keeps stop() quick: tests start and stop a registry each.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="registry", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> RegistryServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def serve_command(args) -> int:
    """`lapsewatch registry serve`: serve until Ctrl-C."""
    token = args.token or secrets.token_urlsafe(24)
    try:
        app = RegistryApp(args.db, token=token)
    except sqlite3.Error as exc:
        print(f"lapsewatch: error: cannot open the database {args.db}: {exc}", file=sys.stderr)
        return 2
    if args.seed:
        try:
            report = app.load_seed(Path(args.seed))
        except (OSError, UnicodeDecodeError) as exc:
            print(f"lapsewatch: error: cannot read the seed: {exc}", file=sys.stderr)
            return 2
        for line_no, reason in report.errors:
            print(f"{args.seed}:{line_no}: {reason}", file=sys.stderr)
        print(f"loaded {report.loaded} addresses, {len(report.errors)} bad lines skipped", file=sys.stderr)
    try:
        server = RegistryServer(app, host=args.host, port=args.port, quiet=False)
    except OSError as exc:
        print(f"lapsewatch: error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    with server:
        print(f"lapsewatch registry listening on {server.url}", flush=True)
        if not args.token:
            print(f"token: {token}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0
