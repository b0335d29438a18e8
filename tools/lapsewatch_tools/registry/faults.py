"""Failures the reference registry answers with on purpose: for tests and the demo only.

Kept apart from the app because they are no part of the contract: tests and the demo build a
FaultPlan and hand it to RegistryApp, which takes an endpoint's next fault before answering it.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass


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
