"""Early warning: tell the owners of a domain's verified addresses before they lose anything.

A domain first seen in grace (expired, renewable) or on hold is usually weeks from a lapse. The
checker records a notice for it, one per domain, stage and expiry date (the Idempotency-Key
derives from those, and the domain's state remembers the last one the registry took); the final
step sends them through the registry's optional `notify` endpoint. A registry without it
answers 404: the run notes "notices not supported" once and carries on, its outcome unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass

from lapsewatch.check import CheckResult
from lapsewatch.registry import NoticeRequest, NoticesUnsupported, RegistryClient, RegistryError, notice_key
from lapsewatch.sweep.store import NoticeRecord, RunStore
from lapsewatch.timefmt import rfc3339

log = logging.getLogger(__name__)


@dataclass(slots=True)
class NoticeCounts:
    """A run summary's `notices`."""

    sent: int = 0
    failed: int = 0
    unsupported: int = 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def notice_for(result: CheckResult, last_key: str | None, stages: frozenset) -> NoticeRecord | None:
    """The notice a check's result owes, or None: never for a healthy domain or one already
    unsafe, and never twice for the same stage and expiry date (`last_key` is the key of the
    last notice the registry took for the domain)."""
    if result.domain is None or result.unsafe or result.lifecycle not in stages:
        return None
    key = notice_key(result.domain, str(result.lifecycle), result.expires_at)
    if key == last_key:
        return None
    return NoticeRecord(
        domain=result.domain,
        stage=str(result.lifecycle),
        expires_at=result.expires_at,
        idempotency_key=key,
        evidence={
            "lifecycle": str(result.lifecycle),
            "reason": result.reason,
            "statuses": list(result.statuses),
            "expires_at": rfc3339(result.expires_at),
            "provider": result.provider,
            "source": result.source,
            "checked_at": rfc3339(result.checked_at),
        },
    )


class Notifier:
    def __init__(self, *, store: RunStore, registry: Callable[[], RegistryClient]) -> None:
        self.store = store
        self._registry = registry

    def send(self, run_id: str) -> NoticeCounts:
        """Send the run's pending notices; a notice that fails is owed again by the next run."""
        counts = NoticeCounts()
        supported = True
        for notice in self.store.notices(run_id):
            if notice.state != "pending":
                continue
            if not supported:
                notice.state = "unsupported"
                counts.unsupported += 1
                self.store.save_notice(notice)
                continue
            try:
                request = NoticeRequest(notice.domain, notice.stage, notice.expires_at, dict(notice.evidence))
                self._registry().notify(request, notice.idempotency_key)
            except NoticesUnsupported:
                log.info(
                    "notices not supported: the registry has no notify endpoint", extra={"run_id": run_id}
                )
                supported = False
                notice.state = "unsupported"
                counts.unsupported += 1
            except (RegistryError, ValueError) as exc:
                notice.state, notice.error = "failed", str(exc)
                counts.failed += 1
            else:
                notice.state = "sent"
                counts.sent += 1
                self.store.mark_noticed(notice.domain, notice.idempotency_key)
            self.store.save_notice(notice)
        return counts
