"""The reference registry's storage: addresses, idempotency records and the audit log in SQLite.

Apart from the HTTP around it so that what the registry keeps, and how a seed file is read into
it, can be read (and changed) without the request handling; app.py serves it over the API.

One connection behind a lock serves every thread: SQLite work takes microseconds next to the
HTTP around it, that keeps ":memory:" databases working (each connection to ":memory:" is a
database of its own) and makes each unverify atomic with its idempotency record.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import os
import re
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from lapsewatch.domains import FULL_STOPS, InvalidDomain, to_ascii
from lapsewatch.timefmt import parse_time

_SEED_BATCH = 10_000
# How times are stored: RFC 3339 in UTC to the second, so that text order is time order.
_STORED_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")

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
CREATE TABLE IF NOT EXISTS notices (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    email TEXT NOT NULL,
    domain TEXT NOT NULL,
    stage TEXT NOT NULL,
    expires_at TEXT,
    evidence TEXT NOT NULL
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
    host = FULL_STOPS.sub(".", stored.strip()).removesuffix(".")
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
class Unverify:
    """An unverify call the app has checked against the contract, as the store applies and audits it."""

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


@dataclass(frozen=True, slots=True)
class Notice:
    domain: str
    stage: str
    expires_at: str | None
    evidence: dict

    def canonical(self) -> str:
        fields = {
            "domain": self.domain,
            "stage": self.stage,
            "expires_at": self.expires_at,
            "evidence": self.evidence,
        }
        return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


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

    def unverify(self, key: str, request: Unverify) -> tuple[int, dict]:
        """Apply an unverify once per Idempotency-Key; the status and the answer."""
        canonical = request.canonical()
        body_sha256 = hashlib.sha256(canonical.encode()).hexdigest()
        now = utc_text(datetime.now(UTC))
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

    def _unverify_once(self, key: str, request: Unverify, body_sha256: str, now: str) -> tuple[int, dict]:
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

    def notify(self, key: str, notice: Notice) -> tuple[int, dict]:
        """Record one notice per verified address at the domain and its subdomains (what a real
        registry would email), once per Idempotency-Key; the status and the answer."""
        body_sha256 = hashlib.sha256(notice.canonical().encode()).hexdigest()
        now = utc_text(datetime.now(UTC))
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                known = self._db.execute(
                    "SELECT body_sha256, response FROM idempotency WHERE key = ?", (key,)
                ).fetchone()
                if known is not None:
                    self._db.execute("COMMIT")
                    if known[0] != body_sha256:
                        return 409, {"error": "this Idempotency-Key was already used with a different body"}
                    return 200, {**json.loads(known[1]), "replayed": True}
                match, params = _match_clause(_reverse(notice.domain), include_subdomains=True)
                rows = self._db.execute(
                    f"SELECT email FROM emails WHERE verified = 1 AND {match} ORDER BY id", params
                ).fetchall()
                self._db.executemany(
                    "INSERT INTO notices (at, idempotency_key, email, domain, stage, expires_at, evidence) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [
                        (
                            now,
                            key,
                            email,
                            notice.domain,
                            notice.stage,
                            notice.expires_at,
                            json.dumps(notice.evidence),
                        )
                        for (email,) in rows
                    ],
                )
                answer = {"notified": len(rows), "replayed": False}
                self._db.execute(
                    "INSERT INTO idempotency (key, body_sha256, response, created_at) VALUES (?, ?, ?, ?)",
                    (key, body_sha256, json.dumps(answer), now),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return 200, answer

    def notices(self) -> list[dict]:
        with self._lock:
            rows = self._db.execute(
                "SELECT at, idempotency_key, email, domain, stage, expires_at, evidence "
                "FROM notices ORDER BY id"
            ).fetchall()
        keys = ("at", "idempotency_key", "email", "domain", "stage", "expires_at")
        return [{**dict(zip(keys, row[:-1], strict=True)), "evidence": json.loads(row[-1])} for row in rows]

    def _audit(self, key: str, request: Unverify, now: str, *, unverified: int, replayed: bool) -> None:
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
    return utc_text(parse_time(value))


def utc_text(moment: datetime) -> str:
    # isoformat, unlike strftime, writes years before 1000 with four digits, as RFC 3339 wants.
    return moment.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"
