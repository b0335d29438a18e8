"""Idempotency-Keys: derived from a decision or a notice alone, so that the same one, sent again
on any later day, replays at the registry instead of acting twice."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from lapsewatch.lifecycle import Lifecycle
from lapsewatch.registry.contract import MAX_IDEMPOTENCY_KEY
from lapsewatch.timefmt import as_utc, rfc3339

_DECISION_KEY_PREFIX = "lapsewatch-v1-"
_NOTICE_KEY_PREFIX = "lapsewatch-notice-v1-"


def notice_key(domain: str, stage: str, expires_at: datetime | None) -> str:
    """The Idempotency-Key of a notice: one per domain, stage and expiry date, whatever runs follow."""
    canonical = json.dumps(["v1", domain, stage, rfc3339(as_utc(expires_at))], separators=(",", ":"))
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
        rfc3339(as_utc(registered_at)),
        rfc3339(as_utc(oldest_verified_at)),
    ]
    canonical = json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
    return _DECISION_KEY_PREFIX + hashlib.sha256(canonical.encode()).hexdigest()


def check_idempotency_key(idempotency_key: str) -> None:
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
