"""Early warning: tell the owners of a domain's verified addresses before they lose anything.

A domain first seen in grace (expired, renewable) or on hold is usually weeks from a lapse. The
checker records a notice for it, one per domain, stage and expiry date (the Idempotency-Key
derives from those, and the domain's state remembers the last one the registry took); the final
step sends them through the registry's optional `notify` endpoint. A registry without it
answers 404: the run notes "notices not supported" once and carries on, its outcome unchanged.

A notice reaches every owner of a domain's addresses, so it needs the trust an unverify needs:
an answer from the registry's own server that a second lookup confirmed, a domain that is not
protected, and no other notice for the domain in the past week whatever the expiry dates say
(a forged expiry date a day would otherwise notify every day). Its evidence is capped and
escaped: it is text from a server, read by people. The final step weighs each notice again
before it goes out, against the domain's latest state, so that a forged notice item cannot
reach anyone either.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from lapsewatch.check import CheckResult
from lapsewatch.domains import InvalidDomain, registrable_domain
from lapsewatch.lifecycle import Lifecycle
from lapsewatch.registry import NoticeRequest, NoticesUnsupported, RegistryClient, RegistryError, notice_key
from lapsewatch.sweep.store import DomainState, NoticeRecord, RunStore
from lapsewatch.timefmt import rfc3339

log = logging.getLogger(__name__)

# At most one notice per domain in this long, whatever the stages and expiry dates say.
NOTICE_INTERVAL = timedelta(days=7)
# Each text of a notice's evidence, escaped, is cut to this many characters; lists to this many items.
EVIDENCE_TEXT_LIMIT = 300
EVIDENCE_LIST_LIMIT = 10
# The evidence a notice carries, and nothing else a forged item might add.
EVIDENCE_FIELDS = (
    "lifecycle",
    "reason",
    "statuses",
    "expires_at",
    "provider",
    "source",
    "checked_at",
    "confirmed",
)
_PARTIAL_ENTITY = re.compile(r"&[#0-9a-zA-Z]*$")


@dataclass(slots=True)
class NoticeCounts:
    """A run summary's `notices`."""

    sent: int = 0
    failed: int = 0
    unsupported: int = 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def notice_for(
    result: CheckResult,
    state: DomainState | None,
    stages: frozenset,
    *,
    protected: frozenset[str],
    now: datetime,
) -> NoticeRecord | None:
    """The notice a check's result owes, or None: never for a healthy domain or one already
    unsafe, never on an answer that is not the registry's own and confirmed, never for a
    protected domain, never twice for the same stage and expiry date (`state` keeps the key of
    the last notice the registry took), and never twice in NOTICE_INTERVAL."""
    if result.domain is None or result.unsafe or result.lifecycle not in stages:
        return None
    if not (result.authoritative and result.confirmed) or result.domain in protected:
        return None
    key = notice_key(result.domain, str(result.lifecycle), result.expires_at)
    if state is not None and (key == state.notice_key or noticed_recently(state, now)):
        return None
    return NoticeRecord(
        domain=result.domain,
        stage=str(result.lifecycle),
        expires_at=result.expires_at,
        idempotency_key=key,
        evidence=safe_evidence(
            {
                "lifecycle": str(result.lifecycle),
                "reason": result.reason,
                "statuses": list(result.statuses),
                "expires_at": rfc3339(result.expires_at),
                "provider": result.provider,
                "source": result.source,
                "checked_at": rfc3339(result.checked_at),
                "confirmed": True,
            }
        ),
    )


def noticed_recently(state: DomainState, now: datetime) -> bool:
    return state.noticed_at is not None and now - state.noticed_at < NOTICE_INTERVAL


def safe_evidence(evidence: dict) -> dict:
    """The evidence fields a notice carries, each text escaped (markup and control characters)
    and capped: the registry quotes them to people. Safe to apply again."""
    safe: dict = {}
    for name in EVIDENCE_FIELDS:
        value = evidence.get(name)
        if isinstance(value, bool) or value is None:
            safe[name] = value
        elif isinstance(value, list):
            safe[name] = [_safe_text(str(item)) for item in value[:EVIDENCE_LIST_LIMIT]]
        else:
            safe[name] = _safe_text(str(value))
    return safe


def _safe_text(text: str) -> str:
    # Unescaped first, so that evidence escaped once already is not escaped twice.
    text = html.unescape(text)
    printable = "".join(ch if ch.isprintable() else f"\\u{ord(ch):04x}" for ch in text)
    escaped = html.escape(printable, quote=True)
    if len(escaped) <= EVIDENCE_TEXT_LIMIT:
        return escaped
    return _PARTIAL_ENTITY.sub("", escaped[: EVIDENCE_TEXT_LIMIT - 1]) + "\u2026"


class Notifier:
    def __init__(
        self,
        *,
        store: RunStore,
        registry: Callable[[], RegistryClient],
        stages: frozenset[Lifecycle],
        protected: frozenset[str],
        clock: Callable[[], datetime],
    ) -> None:
        self.store = store
        self._registry = registry
        self.stages = stages
        self.protected = protected
        self.clock = clock

    def send(self, run_id: str) -> NoticeCounts:
        """Send the run's pending notices; a notice that fails is owed again by the next run. A
        notice the domain's latest state does not bear out is withheld, never sent."""
        counts = NoticeCounts()
        supported = True
        for notice in self.store.notices(run_id):
            if notice.state != "pending":
                continue
            if withheld := self._withheld_reason(notice):
                log.warning(
                    "notice withheld", extra={"run_id": run_id, "domain": notice.domain, "why": withheld}
                )
                notice.state, notice.error = "withheld", withheld
                self.store.save_notice(notice)
                continue
            if not supported:
                notice.state = "unsupported"
                counts.unsupported += 1
                self.store.save_notice(notice)
                continue
            try:
                evidence = safe_evidence(dict(notice.evidence or {}))
                request = NoticeRequest(notice.domain, notice.stage, notice.expires_at, evidence)
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
                self.store.mark_noticed(notice.domain, notice.idempotency_key, self.clock())
            self.store.save_notice(notice)
        return counts

    def _withheld_reason(self, notice: NoticeRecord) -> str | None:
        """Why a recorded notice must not go out now, or None: the checks of `notice_for`, made
        again on the domain's latest state."""
        try:
            registrable = registrable_domain(notice.domain) == notice.domain
        except InvalidDomain:
            registrable = False
        if not registrable:
            return "not a registrable domain"
        if notice.stage not in self.stages:
            return f"{notice.stage} is not a notice stage"
        if notice.domain in self.protected:
            return "a protected domain: no notice goes to its owners"
        state = self.store.domain_state(notice.domain)
        if state is None or state.lifecycle != notice.stage:
            return f"the domain's latest state is not {notice.stage}"
        if noticed_recently(state, self.clock()):
            return f"the domain's owners had a notice less than {NOTICE_INTERVAL.days} days ago"
        if notice.idempotency_key != notice_key(notice.domain, notice.stage, notice.expires_at):
            return "its Idempotency-Key is not the notice's own"
        return None
