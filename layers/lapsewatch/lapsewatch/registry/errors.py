"""How a registry call fails: for good, or for now."""

from __future__ import annotations


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


class NoticesUnsupported(PermanentRegistryError):
    """404 from the notify endpoint: this registry does not implement early warnings."""


class MalformedAnswer(PermanentRegistryError):
    """An answer outside the contract: never a guess at what the registry meant."""

    def __init__(self, what: str, problem: str) -> None:
        super().__init__(f"{what}: the answer breaks the contract: {problem}", status=200)
