"""The registry client's retries: urllib3's Retry with Retry-After capped, each retry told as it
is decided (`RetryNote`), and the statuses that are retried."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from urllib3.connectionpool import ConnectionPool
from urllib3.exceptions import InvalidHeader, MaxRetryError
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from lapsewatch.net.failures import network_failure, unresolvable

# Every retry, as it is decided: a logger of its own, so that a listener (`lapsewatch run`'s
# progress) takes these lines alone.
retries_log = logging.getLogger("lapsewatch.registry.retries")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class RetryNote:
    """A call about to be tried again: which, why, which retry of how many, and after how long."""

    what: str
    why: str
    retry: int
    retries: int
    wait: float

    def __str__(self) -> str:
        return f"{self.what}: {self.why}; retry {self.retry} of {self.retries} in {self.wait:.1f} s"


def log_retry(note: RetryNote) -> None:
    """The default `on_retry`: a warning on `retries_log`."""
    retries_log.warning("the registry call is retried: %s", note)


class CappedRetry(Retry):
    """urllib3's Retry, with Retry-After honoured up to a cap, and each retry told to `on_retry`.

    A registry asking for an hour's pause must not hold a Lambda until it times out; and an
    unreadable Retry-After falls back to the backoff instead of failing the call.
    """

    def __init__(
        self,
        *args: Any,
        retry_after_cap: float = 60.0,
        on_retry: Callable[[RetryNote], None] | None = None,
        base_url: str = "",
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.retry_after_cap = retry_after_cap
        self.on_retry = on_retry
        # For a failure's words ("connection refused by 127.0.0.1:9").
        self.base_url = base_url

    def new(self, **kwargs: Any) -> CappedRetry:
        retry = super().new(**kwargs)
        retry.retry_after_cap, retry.on_retry, retry.base_url = (
            self.retry_after_cap,
            self.on_retry,
            self.base_url,
        )
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
        retry = super().increment(method, url, response, error, _pool, _stacktrace)
        if self.on_retry is not None:
            self.on_retry(
                RetryNote(
                    what=f"{method} {(url or '').split('?', 1)[0]}",
                    why=self._why(response, error),
                    retry=len(retry.history),
                    retries=len(retry.history) + int(retry.total or 0),
                    wait=retry._wait(response),
                )
            )
        return retry

    def _why(self, response: BaseHTTPResponse | None, error: Exception | None) -> str:
        if response is not None:
            return f"{response.status} {response.reason or ''}".strip()
        failure = network_failure(error, self.base_url) if error is not None else None
        return failure.message if failure is not None else repr(error)

    def _wait(self, response: BaseHTTPResponse | None) -> float:
        """How long urllib3 sleeps before the retry (`Retry.sleep`): Retry-After, else the backoff."""
        if response is not None and self.respect_retry_after_header:
            after = self.get_retry_after(response)
            if after:
                return after
        return self.get_backoff_time()

    def parse_retry_after(self, retry_after: str) -> float:
        try:
            seconds = super().parse_retry_after(retry_after)
        except InvalidHeader:
            return 0.0  # no wait from the header: the backoff applies
        return min(seconds, self.retry_after_cap)
