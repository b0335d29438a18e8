"""The reference registry's HTTP side: the registry API v1 (docs/registry-api.yaml) as a WSGI app.

It routes each call, applies the fault plan, checks the bearer token and checks every request
against the contract strictly (a misspelt parameter fails loudly), then hands the work to the
RegistryStore. The contract's own limits come from lapsewatch.registry.contract, which the
client reads too, so the two sides cannot drift apart.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import os
import re
import time
from collections.abc import Iterable, Iterator
from urllib.parse import parse_qs

from lapsewatch.domains import InvalidDomain, is_a_label_domain, registrable_domain, to_ascii
from lapsewatch.registry.contract import (
    DEFAULT_LIMIT,
    MAX_IDEMPOTENCY_KEY,
    MAX_LIMIT,
    NOTICE_STAGES,
    NOTIFY_FIELDS,
    UNVERIFY_FIELDS,
    UNVERIFY_REASONS,
)
from lapsewatch.timefmt import parse_time
from lapsewatch_tools.registry.faults import FaultPlan
from lapsewatch_tools.registry.store import Notice, RegistryStore, SeedReport, Unverify, utc_text

log = logging.getLogger(__name__)

# The endpoints, as a fault plan names them.
LIST_EMAIL_DOMAINS = "GET /v1/email-domains"
UNVERIFY = "POST /v1/email-domains/unverify"
LIST_EMAILS = "GET /v1/emails"
AUDIT = "GET /v1/audit"
NOTIFY = "POST /v1/email-domains/notify"
NOTICES = "GET /v1/notices"
# The endpoints that answer with addresses.
ADDRESS_READS = frozenset({LIST_EMAILS, NOTICES})

MAX_BODY = 1 << 20

_LIMIT = re.compile(r"[0-9]{1,4}")
_DIGITS = re.compile(r"[0-9]+")
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


class BadRequest(ValueError):
    """A request the contract does not allow; answered `status` (400) with the message."""

    status = 400


class LengthRequired(BadRequest):
    """A body sent without a Content-Length (chunked, say): this registry reads none but those."""

    status = 411


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
        notices_supported: bool = True,
        address_reads: bool = False,
    ) -> None:
        if not token:
            raise ValueError("the registry needs a token")
        self.token = token
        # Whether the token may read addresses (/v1/emails, /v1/notices): the demo's and the
        # tests' registry only. A listing token otherwise lists domains and unverifies, and that
        # is all: a leaked one reveals no address.
        self.address_reads = address_reads
        # The notify endpoint is optional in the contract: a registry without it answers 404.
        self.notices_supported = notices_supported
        self.faults = faults or FaultPlan()
        self.store = RegistryStore(db_path)
        self._routes = {
            LIST_EMAIL_DOMAINS: self._list_email_domains,
            UNVERIFY: self._unverify,
            LIST_EMAILS: self._list_emails,
            AUDIT: self._audit,
            NOTIFY: self._notify,
            NOTICES: self._notices,
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
        if endpoint in ADDRESS_READS and not self.address_reads:
            return 403, {"error": "this token cannot read addresses; a registry served with --demo can"}, []
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
        key = _idempotent_json_call(environ)
        return self.store.unverify(key, _unverify_request(_json_body(environ)))

    def _notify(self, environ: dict) -> tuple[int, dict]:
        if not self.notices_supported:
            return 404, {"error": "this registry does not implement notices"}
        key = _idempotent_json_call(environ)
        return self.store.notify(key, _notice_request(_json_body(environ)))

    def _notices(self, environ: dict) -> tuple[int, dict]:
        _query(environ, allowed=frozenset())
        return 200, {"items": self.store.notices()}

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
    403: "403 Forbidden",
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


def _idempotent_json_call(environ: dict) -> str:
    """The Idempotency-Key of a POST with a JSON body, checked."""
    key = environ.get("HTTP_IDEMPOTENCY_KEY")
    if not key:
        raise BadRequest("the Idempotency-Key header is required")
    if len(key) > MAX_IDEMPOTENCY_KEY:
        raise BadRequest(f"the Idempotency-Key header must be at most {MAX_IDEMPOTENCY_KEY} characters")
    if environ.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower() != "application/json":
        raise BadRequest("Content-Type must be application/json")
    return key


def _notice_request(body: object) -> Notice:
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    if unknown := sorted(set(body) - NOTIFY_FIELDS):
        raise BadRequest(f"unknown fields: {', '.join(unknown)}")
    if missing := sorted(NOTIFY_FIELDS - set(body)):
        raise BadRequest(f"missing fields: {', '.join(missing)}")
    domain = body["domain"]
    if not is_a_label_domain(domain):
        raise BadRequest(f"domain must be a lowercase A-label domain name, not {domain!r}")
    _check_registrable(domain)
    if not isinstance(body["stage"], str) or body["stage"] not in NOTICE_STAGES:
        raise BadRequest(f"stage must be one of {', '.join(sorted(NOTICE_STAGES))}")
    if body["include_subdomains"] is not True:
        raise BadRequest("include_subdomains must be true")
    if not isinstance(body["evidence"], dict):
        raise BadRequest("evidence must be a JSON object")
    expires_at = body["expires_at"]
    return Notice(domain, body["stage"], _rfc3339_or_none(expires_at, "expires_at"), body["evidence"])


def _unverify_request(body: object) -> Unverify:
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
    return Unverify(
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


def _rfc3339_or_none(value: object, name: str = "verified_before") -> str | None:
    if value is None:
        return None
    error = BadRequest(f"{name} must be an RFC 3339 time such as 2026-11-01T00:00:00Z, or null")
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise error
    try:
        return utc_text(parse_time(value))
    except (ValueError, OverflowError):
        raise error from None
