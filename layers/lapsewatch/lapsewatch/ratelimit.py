"""A per-server request rate, shared by every thread in the process.

RDAP servers throttle by client address, so the limit belongs to the process, not to a thread or
a lookup: all threads asking the same host:port draw from one bucket. The bucket is kept as the
time its next token frees (GCRA, the "virtual scheduling" form of a token bucket), which lets a
caller reserve a slot in the future and sleep outside the lock, and lets it see at once whether
the slot would come too late for its deadline.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import cache


class RateLimiter:
    """A token bucket for each key, refilled at `rate` tokens a second and holding at most `burst`."""

    def __init__(
        self,
        rate: float,
        *,
        burst: int = 1,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not rate > 0:
            raise ValueError(f"the rate must be greater than 0, not {rate!r}")
        if burst < 1:
            raise ValueError(f"the burst must be at least 1, not {burst!r}")
        self.rate = rate
        self.burst = burst
        self._interval = 1.0 / rate
        self._monotonic = monotonic
        self._sleep = sleep
        self._lock = threading.Lock()
        # Per key, the theoretical arrival time of the next request that keeps to the rate.
        self._next_due: dict[str, float] = {}

    def acquire(self, key: str, deadline: float | None = None) -> bool:
        """Wait for a token for `key`; False, at once and without taking one, if none frees by `deadline`."""
        now = self._monotonic()
        with self._lock:
            due = max(self._next_due.get(key, now), now)
            start = max(now, due - (self.burst - 1) * self._interval)
            if deadline is not None and start > deadline:
                return False
            self._next_due[key] = due + self._interval
        if start > now:
            self._sleep(start - now)
        return True


@cache
def shared_limiter(rate: float) -> RateLimiter:
    """The process-wide limiter for `rate`: every provider built with the same rate shares its buckets."""
    return RateLimiter(rate)
