"""A client for the registry API v1 (docs/registry-api.yaml): the calls, their retries, their
errors. What goes out and comes back is in `models`, `keys`, `answers` and `errors` beside it.

Transient failures (429, 5xx, dropped connections, timeouts) are retried here, with urllib3's
Retry: exponential backoff, and Retry-After honoured up to a cap. Unverify calls are retried
too, because each carries an Idempotency-Key derived from the decision: a retry, or the same
decision sent again tomorrow, replays instead of acting twice. Each retry is told as it is
decided, with its reason (`on_retry`; by default a warning on the `lapsewatch.registry.retries`
logger, which the functions log and `lapsewatch run` shows), so that no wait is a silent one.

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

import itertools
import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase

from lapsewatch.net.failures import network_failure
from lapsewatch.net.urls import UnsafeUrl, is_loopback, parse_url, url_allowed
from lapsewatch.registry.answers import error_message, parse_notice_result, parse_page, parse_unverify_result
from lapsewatch.registry.contract import DEFAULT_LIMIT, MAX_LIMIT
from lapsewatch.registry.errors import (
    IdempotencyConflict,
    MalformedAnswer,
    NoticesUnsupported,
    PermanentRegistryError,
    TransientRegistryError,
)
from lapsewatch.registry.keys import check_idempotency_key
from lapsewatch.registry.models import (
    EmailDomain,
    NoticeRequest,
    NoticeResult,
    Page,
    UnverifyRequest,
    UnverifyResult,
)
from lapsewatch.registry.retry import RETRY_STATUSES, CappedRetry, RetryNote, log_retry

log = logging.getLogger(__name__)

# Ten million domains at 500 a page: a listing still handing out cursors after that is looping.
DEFAULT_MAX_PAGES = 20_000


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
        allow_loopback_http: bool = False,
        on_retry: Callable[[RetryNote], None] | None = log_retry,
    ) -> None:
        _check_url(base_url, allow_loopback_http)
        current = token if callable(token) else lambda: token
        if not current():
            raise ValueError("the registry token is empty")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.backoff_factor = backoff_factor
        self.on_retry = on_retry
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
            on_retry=on_retry,
            base_url=self.base_url,
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
        return parse_page(self._call("GET", "/v1/email-domains", params=params), limit)

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
        check_idempotency_key(idempotency_key)
        body = self._call(
            "POST",
            "/v1/email-domains/unverify",
            json=request.to_body(),
            headers={"Idempotency-Key": idempotency_key},
        )
        return parse_unverify_result(body)

    def notify(self, request: NoticeRequest, idempotency_key: str) -> NoticeResult:
        """Ask the registry to warn the owners of a domain's verified addresses (an optional
        endpoint): NoticesUnsupported when the registry answers 404."""
        check_idempotency_key(idempotency_key)
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
        return parse_notice_result(body)

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
                wait = self.backoff_factor * 2 ** (sent - 1)
                if self.on_retry is not None:
                    why = f"the answer was cut short ({type(exc).__name__})"
                    self.on_retry(RetryNote(what, why, retry=sent, retries=self.retries, wait=wait))
                time.sleep(wait)
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
                raise MalformedAnswer(what, "the body is not JSON") from None
            except RecursionError:
                raise MalformedAnswer(what, "the body is JSON nested too deeply to read") from None
        message = self._auth.redact(f"{what}: {status} {reason}: {error_message(content)}")
        if status == 401:
            raise PermanentRegistryError(f"{message} (is the registry token right?)", status=status)
        if status == 409:
            raise IdempotencyConflict(
                f"{message} (the registry holds another request under this Idempotency-Key)", status=status
            )
        if status == 429 or 500 <= status <= 599:
            raise TransientRegistryError(message, status=status)
        raise PermanentRegistryError(message, status=status)
