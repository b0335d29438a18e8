"""A client for the registry API v1 (docs/registry-api.yaml).

Transient failures (429, 5xx, dropped connections, timeouts) are retried here, with urllib3's
Retry: exponential backoff, and Retry-After honoured up to a cap. Unverify calls are retried
too, because each carries an Idempotency-Key derived from the decision: a retry, or the same
decision sent again tomorrow, replays instead of acting twice.

Answers are checked against the contract strictly: an answer of the wrong shape is an error,
never a guess; so is a page longer than the `limit` asked for, or a listing that does not end
within `max_pages` pages. One exception: an item whose `oldest_verified_at` cannot be read
keeps its domain (with no date), because dropping the domain would hide it from the checks.

Requests are checked as strictly before they go out: an unverify names a registrable domain,
never a public suffix (one call for `co.uk` would unverify everyone under it) nor a name under a
registrable domain. The registry is reached over https; plain http only to this machine, for
the reference registry in local runs and tests.

The bearer token never appears in a log line, an error message or a repr.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

import requests
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase
from urllib3.connectionpool import ConnectionPool
from urllib3.exceptions import InvalidHeader, MaxRetryError
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from lapsewatch.domains import InvalidDomain, is_a_label_domain, registrable_domain
from lapsewatch.lifecycle import Lifecycle
from lapsewatch.net.failures import network_failure, unresolvable
from lapsewatch.net.urls import UnsafeUrl, is_loopback, parse_url, url_allowed
from lapsewatch.registry.contract import (
    DEFAULT_LIMIT,
    MAX_IDEMPOTENCY_KEY,
    MAX_LIMIT,
    NOTICE_STAGES,
    UNVERIFY_REASONS,
)
from lapsewatch.timefmt import parse_time_or_none, rfc3339

log = logging.getLogger(__name__)

# Ten million domains at 500 a page: a listing still handing out cursors after that is looping.
DEFAULT_MAX_PAGES = 20_000
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_DECISION_KEY_PREFIX = "lapsewatch-v1-"
_NOTICE_KEY_PREFIX = "lapsewatch-notice-v1-"


class RegistryError(Exception):
    """The registry call failed. `status` is the HTTP status, or None when there was no answer.

    `retryable` says whether the same call may work later (429, 5xx, no answer: the retries
    here are spent, but the failure is the registry's) or never will (any other 4xx, an answer
    that breaks the contract).
    """

    retryable = False

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class TransientRegistryError(RegistryError):
    """Rate limited, failing or unreachable, after every retry; try again later."""

    retryable = True


class PermanentRegistryError(RegistryError):
    """Refused (4xx) or answered outside the contract; the same call will fail again."""


class IdempotencyConflict(PermanentRegistryError):
    """409: the Idempotency-Key was already used with a different body."""


@dataclass(frozen=True, slots=True)
class EmailDomain:
    """A domain as the registry stores it (any case, maybe Unicode, maybe junk)."""

    domain: str
    verified_emails: int
    oldest_verified_at: datetime | None


@dataclass(frozen=True, slots=True)
class Page:
    items: list[EmailDomain]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class UnverifyRequest:
    """What to unverify and why. `domain` is a registrable domain (a public suffix of the PSL's
    ICANN section plus one label) in lowercase A-label form, exactly as registrable_domain gives it."""

    domain: str
    reason: str
    evidence: dict
    include_subdomains: bool = True
    verified_before: datetime | None = None

    def __post_init__(self) -> None:
        if not is_a_label_domain(self.domain):
            raise ValueError(f"not a lowercase A-label domain: {self.domain!r}")
        _check_registrable(self.domain)
        if str(self.reason) not in UNVERIFY_REASONS:
            choices = ", ".join(sorted(UNVERIFY_REASONS))
            raise ValueError(f"reason must be one of {choices}, not {self.reason!r}")
        if not isinstance(self.evidence, Mapping):
            raise ValueError("evidence must be a mapping")
        try:
            json.dumps(self.evidence)
        except (TypeError, ValueError, RecursionError) as exc:
            raise ValueError(f"evidence must be JSON-serialisable: {exc}") from None

    def to_body(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "include_subdomains": bool(self.include_subdomains),
            "verified_before": rfc3339(_as_utc(self.verified_before)),
            "reason": str(self.reason),
            "evidence": dict(self.evidence),
        }


def _check_registrable(domain: str) -> None:
    # A public suffix with include_subdomains would unverify every address under it, and a name
    # under a registrable domain would leave its siblings verified at the same lapsed domain.
    try:
        registrable = registrable_domain(domain)
    except InvalidDomain as exc:
        raise ValueError(f"{domain!r} cannot be unverified: {exc}") from None
    if registrable != domain:
        raise ValueError(f"{domain!r} is not a registrable domain: it is a name under {registrable!r}")


@dataclass(frozen=True, slots=True)
class UnverifyResult:
    unverified: int
    replayed: bool


@dataclass(frozen=True, slots=True)
class NoticeRequest:
    """An early warning: `domain` is in `stage` (grace or hold) and expires (or expired) at
    `expires_at`; the registry tells the owners of its verified addresses to renew or add another."""

    domain: str
    stage: str
    expires_at: datetime | None
    evidence: dict

    def __post_init__(self) -> None:
        _check_registrable(self.domain)
        if self.stage not in NOTICE_STAGES:
            raise ValueError(f"stage must be one of {', '.join(sorted(NOTICE_STAGES))}, not {self.stage!r}")

    def to_body(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "stage": self.stage,
            "expires_at": rfc3339(_as_utc(self.expires_at)),
            "include_subdomains": True,
            "evidence": dict(self.evidence),
        }


@dataclass(frozen=True, slots=True)
class NoticeResult:
    notified: int
    replayed: bool


class NoticesUnsupported(PermanentRegistryError):
    """404 from the notify endpoint: this registry does not implement early warnings."""


def notice_key(domain: str, stage: str, expires_at: datetime | None) -> str:
    """The Idempotency-Key of a notice: one per domain, stage and expiry date, whatever runs follow."""
    canonical = json.dumps(["v1", domain, stage, rfc3339(_as_utc(expires_at))], separators=(",", ":"))
    return _NOTICE_KEY_PREFIX + hashlib.sha256(canonical.encode()).hexdigest()


def decision_key(
    domain: str,
    lifecycle: Lifecycle | str,
    registered_at: datetime | None,
    oldest_verified_at: datetime | None,
) -> str:
    """The Idempotency-Key for unverifying `domain`, derived from the decision alone.

    The same decision, retried, re-delivered or made again on a later run, gets the same key,
    so the registry acts on it once. A different decision gets a new key: a new lifecycle, a new
    registration, or an address verified later at the same lapsed domain (a newer
    `oldest_verified_at`). Times count to the second; naive times are taken as UTC.

    The body sent under a key must not change either, or the registry answers 409: build the
    request once per decision and resend it as it was.
    """
    fields = [
        "v1",
        domain,
        str(lifecycle),
        rfc3339(_as_utc(registered_at)),
        rfc3339(_as_utc(oldest_verified_at)),
    ]
    canonical = json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
    return _DECISION_KEY_PREFIX + hashlib.sha256(canonical.encode()).hexdigest()


def _as_utc(moment: datetime | None) -> datetime | None:
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


class CappedRetry(Retry):
    """urllib3's Retry, with Retry-After honoured up to a cap.

    A registry asking for an hour's pause must not hold a Lambda until it times out; and an
    unreadable Retry-After falls back to the backoff instead of failing the call.
    """

    def __init__(self, *args: Any, retry_after_cap: float = 60.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.retry_after_cap = retry_after_cap

    def new(self, **kwargs: Any) -> CappedRetry:
        retry = super().new(**kwargs)
        retry.retry_after_cap = self.retry_after_cap
        return retry

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        """As Retry's, except that a name that does not resolve is not tried again: urllib3
        counts it as a failure to connect, like a refused one, but a name the resolver says does
        not exist will not exist a second later either."""
        if error is not None and unresolvable(error):
            raise MaxRetryError(_pool, url, error) from error  # type: ignore[arg-type]  # as Retry does
        return super().increment(method, url, response, error, _pool, _stacktrace)

    def parse_retry_after(self, retry_after: str) -> float:
        try:
            seconds = super().parse_retry_after(retry_after)
        except InvalidHeader:
            return 0.0  # no wait from the header: the backoff applies
        return min(seconds, self.retry_after_cap)


def _check_url(base_url: str, allow_loopback_http: bool) -> None:
    """The status lookups' URL policy (`lapsewatch.net.urls`), said for the registry URL.

    Over plain http the token could be read on the way, and a forged listing or answer believed.
    """
    try:
        url = parse_url(base_url)
    except UnsafeUrl as exc:
        if base_url.lower().startswith("http://"):
            exc = UnsafeUrl(f"{exc}; plain http only reaches a loopback host in any case")
        raise ValueError(f"the registry URL {base_url!r} is refused: {exc}") from None
    if url_allowed(url, allow_loopback_http=allow_loopback_http):
        return
    if not is_loopback(url.host):
        raise ValueError(
            f"the registry URL must be https: plain http only reaches a loopback host "
            f"(127.0.0.0/8, ::1, localhost), not {base_url!r}"
        )
    raise ValueError(
        f"the registry URL must be https: plain http, even to loopback, is off here "
        f"(allow_loopback_http=False), not {base_url!r}"
    )


class _BearerAuth(AuthBase):
    """The bearer token, as `token()` gives it at each request (a secret re-read every few
    minutes), and read afresh by `refresh()` when the registry refuses it."""

    def __init__(self, token: Callable[[], str], fresh_token: Callable[[], str] | None) -> None:
        self._token = token
        self._fresh_token = fresh_token
        # Every token sent, so that an error echoing an old one is redacted too.
        self._sent: set[str] = set()

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        token = self._token()
        self._sent.add(token)
        request.headers["Authorization"] = f"Bearer {token}"
        return request

    def __repr__(self) -> str:
        return "_BearerAuth(<redacted>)"

    def refresh(self) -> bool:
        """Read the token again, past any cache: True when it changed (a rotated secret)."""
        if self._fresh_token is None:
            return False
        token = self._fresh_token()
        return token not in self._sent

    def redact(self, text: str) -> str:
        """The text with the token blanked out (a server may echo it in an error)."""
        for token in self._sent:
            text = text.replace(token, "<token>")
        return text


class RegistryClient:
    """The registry API over one requests Session.

    Each request is retried up to `retries` times on 429, 5xx, connection errors and read
    timeouts; an answer cut short is sent again only while fewer than `retries` + 1 requests
    have gone out for the call. `timeout` is (connect, read) in seconds, per request.

    `base_url` is https, or plain http to a loopback host (127.0.0.0/8, ::1, localhost) while
    `allow_loopback_http` is true; the Lambda functions turn that off.
    """

    def __init__(
        self,
        base_url: str,
        token: str | Callable[[], str],
        *,
        fresh_token: Callable[[], str] | None = None,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = (5.0, 30.0),
        retries: int = 5,
        backoff_factor: float = 0.5,
        retry_after_cap: float = 60.0,
        allow_loopback_http: bool = True,
    ) -> None:
        _check_url(base_url, allow_loopback_http)
        current = token if callable(token) else lambda: token
        if not current():
            raise ValueError("the registry token is empty")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.backoff_factor = backoff_factor
        # The token lives in the auth object alone, whose repr hides it. `token` may be a
        # callable, asked at each request; `fresh_token` reads it past any cache, once, when the
        # registry answers 401 (the secret was rotated).
        self._auth = _BearerAuth(current, fresh_token)
        self._owns_session = session is None
        self._session = session or requests.Session()
        retry = CappedRetry(
            total=retries,
            backoff_factor=backoff_factor,
            status_forcelist=RETRY_STATUSES,
            # POST is safe to retry: every unverify carries its Idempotency-Key, and urllib3
            # resends the very same request, headers included.
            allowed_methods=frozenset({"GET", "POST"}),
            respect_retry_after_header=True,
            retry_after_cap=retry_after_cap,
            # The last 429 or 5xx comes back as a response, for an error with the server's message.
            raise_on_status=False,
        )
        # Mounted for this registry only: a session the caller shares keeps its other adapters.
        self._session.mount(self.base_url + "/", HTTPAdapter(max_retries=retry))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url!r})"

    def close(self) -> None:
        if self._owns_session:
            self._session.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def page(self, cursor: str | None = None, limit: int = DEFAULT_LIMIT) -> Page:
        """One page of the distinct domains that have a verified address, at most `limit` of them
        (so never more than MAX_LIMIT)."""
        if not 1 <= limit <= MAX_LIMIT:
            raise ValueError(f"limit must be from 1 to {MAX_LIMIT}, not {limit}")
        params: dict[str, Any] = {"limit": limit}
        if cursor is not None:
            params["cursor"] = cursor
        return _parse_page(self._call("GET", "/v1/email-domains", params=params), limit)

    def pages(
        self,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
        *,
        max_pages: int | None = DEFAULT_MAX_PAGES,
    ) -> Iterator[Page]:
        """The listing page by page, from `cursor` (the start when None) to the end.

        Raises PermanentRegistryError, rather than page forever, when the registry hands out a
        cursor it handed out before (after yielding that page), or when page number `max_pages`
        still has a next cursor (without yielding it). `max_pages=None` sets no limit.
        """
        if max_pages is not None and max_pages < 1:
            raise ValueError(f"max_pages must be at least 1, or None, not {max_pages}")
        return self._pages(limit, cursor, max_pages)

    def _pages(self, limit: int, cursor: str | None, max_pages: int | None) -> Iterator[Page]:
        seen: set[str] = set()
        for number in itertools.count(1):
            page = self.page(cursor, limit)
            if page.next_cursor is not None and number == max_pages:
                raise PermanentRegistryError(
                    f"the listing did not end within {max_pages} pages of up to {limit} domains: "
                    "stopping, not paging forever"
                )
            yield page
            if page.next_cursor is None:
                return
            if page.next_cursor in seen:
                raise PermanentRegistryError(
                    "the registry returned a cursor it had returned before: stopping, not paging forever"
                )
            seen.add(page.next_cursor)
            cursor = page.next_cursor

    def iter_email_domains(self, limit: int = DEFAULT_LIMIT) -> Iterator[EmailDomain]:
        """Every domain with a verified address, one page in memory at a time."""
        for page in self.pages(limit):
            yield from page.items

    def unverify(self, request: UnverifyRequest, idempotency_key: str) -> UnverifyResult:
        """Ask the registry to unverify; IdempotencyConflict if the key went with another body."""
        _check_idempotency_key(idempotency_key)
        body = self._call(
            "POST",
            "/v1/email-domains/unverify",
            json=request.to_body(),
            headers={"Idempotency-Key": idempotency_key},
        )
        return _parse_unverify_result(body)

    def notify(self, request: NoticeRequest, idempotency_key: str) -> NoticeResult:
        """Ask the registry to warn the owners of a domain's verified addresses (an optional
        endpoint): NoticesUnsupported when the registry answers 404."""
        _check_idempotency_key(idempotency_key)
        what = "POST /v1/email-domains/notify"
        try:
            body = self._call(
                "POST",
                "/v1/email-domains/notify",
                json=request.to_body(),
                headers={"Idempotency-Key": idempotency_key},
            )
        except PermanentRegistryError as exc:
            if exc.status == 404:
                unsupported = f"{what}: the registry does not support notices"
                raise NoticesUnsupported(unsupported, status=404) from None
            raise
        return _parse_notice_result(body)

    def _call(self, method: str, path: str, **kwargs: Any) -> object:
        """Send a call with retries; the decoded JSON of its 200 answer, or a RegistryError."""
        what = f"{method} {path}"
        sent = 0
        refreshed = False
        while True:
            try:
                response = self._session.request(
                    method,
                    self.base_url + path,
                    auth=self._auth,
                    timeout=self.timeout,
                    allow_redirects=False,
                    stream=True,
                    **kwargs,
                )
            except requests.RequestException as exc:
                # urllib3 has spent its retries on the connection, the headers, or 429/5xx.
                why = self._network_failure(exc)
                raise TransientRegistryError(self._auth.redact(f"{what} failed: {why}")) from exc
            retry_state = response.raw.retries
            sent += 1 + (len(retry_state.history) if retry_state else 0)
            try:
                # urllib3 retries until the headers arrive; the body is read after, so a
                # connection cut or stalled mid-body is retried here, within the same budget.
                content = response.content
            except requests.RequestException as exc:
                if sent > self.retries:
                    raise TransientRegistryError(
                        self._auth.redact(f"{what} failed reading the answer: {self._network_failure(exc)}"),
                        status=response.status_code,
                    ) from exc
                log.warning("%s: the answer was cut short (%s); retrying", what, type(exc).__name__)
                time.sleep(self.backoff_factor * 2 ** (sent - 1))
                continue
            finally:
                response.close()
            if response.status_code == 401 and not refreshed:
                refreshed = True
                if self._auth.refresh():
                    log.info(
                        "%s: the registry refused the token; trying once more with the token read again", what
                    )
                    continue
            return self._decode(what, response.status_code, response.reason, content)

    def _network_failure(self, exc: requests.RequestException) -> str:
        """What went wrong, in plain words ("could not resolve registry.example",
        "connection refused by 127.0.0.1:9"), not the wrappers' reprs."""
        connect, read = self.timeout
        failure = network_failure(exc, self.base_url, connect_timeout=connect, read_timeout=read)
        return str(exc) if failure is None else failure.message

    def _decode(self, what: str, status: int, reason: str, content: bytes) -> object:
        if status == 200:
            try:
                return json.loads(content)
            except ValueError:
                raise _Malformed(what, "the body is not JSON") from None
            except RecursionError:
                raise _Malformed(what, "the body is JSON nested too deeply to read") from None
        message = self._auth.redact(f"{what}: {status} {reason}: {_error_message(content)}")
        if status == 401:
            raise PermanentRegistryError(f"{message} (is the registry token right?)", status=status)
        if status == 409:
            raise IdempotencyConflict(
                f"{message} (the registry holds another request under this Idempotency-Key)", status=status
            )
        if status == 429 or 500 <= status <= 599:
            raise TransientRegistryError(message, status=status)
        raise PermanentRegistryError(message, status=status)


def _error_message(content: bytes) -> str:
    try:
        error = json.loads(content)["error"]
    except (ValueError, TypeError, KeyError, IndexError, RecursionError):
        error = None
    if isinstance(error, str):
        return error[:500]
    text = content[:200].decode("utf-8", "replace").strip()
    return text or "no error message"


class _Malformed(PermanentRegistryError):
    def __init__(self, what: str, problem: str) -> None:
        super().__init__(f"{what}: the answer breaks the contract: {problem}", status=200)


def _parse_page(body: object, limit: int) -> Page:
    what = "GET /v1/email-domains"
    if not isinstance(body, dict):
        raise _Malformed(what, "the body is not an object")
    items = body.get("items")
    if not isinstance(items, list):
        raise _Malformed(what, "items is not a list")
    if len(items) > limit:
        raise _Malformed(what, f"{len(items)} items, more than the limit of {limit} asked for")
    if "next_cursor" not in body:
        raise _Malformed(what, "next_cursor is missing")
    next_cursor = body["next_cursor"]
    if next_cursor is not None and (not isinstance(next_cursor, str) or not next_cursor):
        raise _Malformed(what, "next_cursor is neither a non-empty string nor null")
    domains = []
    undated = 0
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise _Malformed(what, f"item {index} is not an object")
        domain = item.get("domain")
        count = item.get("verified_emails")
        if not isinstance(domain, str):
            raise _Malformed(what, f"item {index}: domain is not a string")
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise _Malformed(what, f"item {index}: verified_emails is not a whole number of at least 1")
        oldest = parse_time_or_none(item.get("oldest_verified_at"))
        undated += oldest is None
        domains.append(EmailDomain(domain, count, oldest))
    if undated:
        # Kept, not dropped: a domain left out of the listing would never be checked.
        log.warning("%s: %d of %d items had no readable oldest_verified_at", what, undated, len(items))
    return Page(domains, next_cursor)


def _check_idempotency_key(idempotency_key: str) -> None:
    if not (
        1 <= len(idempotency_key) <= MAX_IDEMPOTENCY_KEY
        and idempotency_key.isascii()
        and idempotency_key.isprintable()
        and idempotency_key.strip() == idempotency_key
    ):
        raise ValueError(
            f"the Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters, "
            "not starting or ending with a space"
        )


def _parse_notice_result(body: object) -> NoticeResult:
    what = "POST /v1/email-domains/notify"
    if not isinstance(body, dict):
        raise _Malformed(what, "the body is not an object")
    notified, replayed = body.get("notified"), body.get("replayed")
    if not isinstance(notified, int) or isinstance(notified, bool) or notified < 0:
        raise _Malformed(what, "notified is not a whole number")
    if not isinstance(replayed, bool):
        raise _Malformed(what, "replayed is not true or false")
    return NoticeResult(notified, replayed)


def _parse_unverify_result(body: object) -> UnverifyResult:
    what = "POST /v1/email-domains/unverify"
    if not isinstance(body, dict):
        raise _Malformed(what, "the body is not an object")
    unverified = body.get("unverified")
    replayed = body.get("replayed")
    if not isinstance(unverified, int) or isinstance(unverified, bool) or unverified < 0:
        raise _Malformed(what, "unverified is not a whole number")
    if not isinstance(replayed, bool):
        raise _Malformed(what, "replayed is not true or false")
    return UnverifyResult(unverified, replayed)
