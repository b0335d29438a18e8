"""The domain lifecycle: its names, their severity, and how evidence maps onto them.

The names are a contract (the lifecycle table of docs/checking.md): reports, the registry API's `reason` and
the operators' dashboards all use them as written here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import StrEnum
from functools import lru_cache


class Lifecycle(StrEnum):
    ACTIVE = "active"
    GRACE = "grace"
    HOLD = "hold"
    REDEMPTION = "redemption"
    PENDING_DELETE = "pending_delete"
    UNREGISTERED = "unregistered"
    REREGISTERED = "reregistered"
    UNKNOWN = "unknown"
    INVALID = "invalid"


# Least to most severe; when several lifecycles apply, the most severe wins.
_SEVERITY = (
    Lifecycle.ACTIVE,
    Lifecycle.GRACE,
    Lifecycle.HOLD,
    Lifecycle.REDEMPTION,
    Lifecycle.PENDING_DELETE,
    Lifecycle.UNREGISTERED,
    Lifecycle.REREGISTERED,
)
SEVERITY = {lifecycle: rank for rank, lifecycle in enumerate(_SEVERITY)}

DEFAULT_UNSAFE = frozenset(
    {Lifecycle.REDEMPTION, Lifecycle.PENDING_DELETE, Lifecycle.UNREGISTERED, Lifecycle.REREGISTERED}
)
SAFE = frozenset({Lifecycle.ACTIVE, Lifecycle.GRACE, Lifecycle.HOLD})
# Lifecycles that may ever be unverified: a verdict of doubt never can.
UNVERIFIABLE = frozenset(_SEVERITY) - {Lifecycle.ACTIVE}

# A registration date this much later than the verification counts as a new registration; the
# slack absorbs clock skew and registries that stamp the date of the day.
REREGISTRATION_SLACK = timedelta(days=1)


def most_severe(*lifecycles: Lifecycle) -> Lifecycle:
    return max(lifecycles, key=SEVERITY.__getitem__)


def parse_unsafe(text: str | Iterable[str]) -> frozenset[Lifecycle]:
    """Parse an operator's list of unsafe lifecycles ("redemption,unregistered")."""
    names = [n.strip() for n in text.split(",")] if isinstance(text, str) else [n.strip() for n in text]
    chosen = set()
    for name in filter(None, names):
        try:
            lifecycle = Lifecycle(name)
        except ValueError:
            raise ValueError(f"unknown lifecycle {name!r}; choose from {', '.join(_SEVERITY)}") from None
        if lifecycle not in UNVERIFIABLE:
            raise ValueError(f"{name!r} cannot be unsafe: only {', '.join(sorted(UNVERIFIABLE))} can")
        chosen.add(lifecycle)
    if not chosen:
        raise ValueError("the list of unsafe lifecycles is empty")
    return frozenset(chosen)


_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
_SEPARATORS = re.compile(r"[\s_\-]+")


# Registries use a few dozen spellings between them: normalise each once.
@lru_cache(maxsize=1024)
def normalize_status(status: str) -> str:
    """One spelling for RDAP (RFC 8056) and EPP status values: "redemptionPeriod",
    "Redemption Period" and "redemption_period" all become "redemption period"."""
    spaced = _CAMEL.sub(" ", status.strip())
    return _SEPARATORS.sub(" ", spaced).lower().strip()


_ACTIVE = {"active", "ok"}
_REDEMPTION = {"redemption period", "pending restore"}
_PENDING_DELETE = {"pending delete"}
_HOLD = {"client hold", "server hold"}
_GRACE = {"auto renew period"}


def contradiction(statuses: Iterable[str]) -> str | None:
    """Why the status values cannot all be true, or None when they can.

    A domain in good standing is not also on its way out: "active" (or EPP's "ok") beside a
    deletion state means the server's data is broken, so neither half can be believed. Locks
    such as "client transfer prohibited" beside "active" are normal.
    """
    written = {normalize_status(s): s for s in statuses if isinstance(s, str)}
    active = sorted(written.keys() & _ACTIVE)
    leaving = sorted(written.keys() & (_REDEMPTION | _PENDING_DELETE))
    if active and leaving:
        return f"the statuses contradict each other: {written[active[0]]!r} beside {written[leaving[0]]!r}"
    return None


def lifecycle_from_statuses(statuses: Iterable[str]) -> Lifecycle:
    """The lifecycle a registered domain's status values show; unknown when they contradict
    each other (see `contradiction`).

    A domain in redemption also carries "pending delete" (EPP puts the RGP state beside it), so
    "pending delete" means the final pre-release stage only when no redemption or restore
    state is present.
    """
    statuses = list(statuses)
    if contradiction(statuses):
        return Lifecycle.UNKNOWN
    found = {normalize_status(s) for s in statuses if isinstance(s, str)}
    if found & _REDEMPTION:
        return Lifecycle.REDEMPTION
    if found & _PENDING_DELETE:
        return Lifecycle.PENDING_DELETE
    if found & _HOLD:
        return Lifecycle.HOLD
    if found & _GRACE:
        return Lifecycle.GRACE
    return Lifecycle.ACTIVE


def apply_dates(
    lifecycle: Lifecycle,
    *,
    registered_at: datetime | None,
    expires_at: datetime | None,
    verified_at: datetime | None,
    now: datetime,
) -> tuple[Lifecycle, str | None]:
    """Add what the dates show to a registered domain's lifecycle.

    Returns the lifecycle and, when a date changed it, the sentence that says why.
    """
    if lifecycle in (Lifecycle.UNKNOWN, Lifecycle.INVALID, Lifecycle.UNREGISTERED):
        return lifecycle, None
    # A name is not registered in the future, nor after it expires: such a date is broken data,
    # and read as it stands it would say "registered again" of a name nobody else holds.
    if registered_at and registered_at > now:
        return Lifecycle.UNKNOWN, (
            f"the answer says it was registered on {registered_at:%Y-%m-%d}, which is in the future"
        )
    if registered_at and expires_at and registered_at > expires_at:
        return Lifecycle.UNKNOWN, (
            f"the answer says it was registered on {registered_at:%Y-%m-%d}, after it expires on "
            f"{expires_at:%Y-%m-%d}"
        )
    if verified_at and registered_at and registered_at > verified_at + REREGISTRATION_SLACK:
        return Lifecycle.REREGISTERED, (
            f"registered again on {registered_at:%Y-%m-%d}, after the address was verified on "
            f"{verified_at:%Y-%m-%d}: someone else may hold it now"
        )
    if expires_at and expires_at < now and SEVERITY[lifecycle] < SEVERITY[Lifecycle.GRACE]:
        return Lifecycle.GRACE, f"expired on {expires_at:%Y-%m-%d} and not yet renewed"
    return lifecycle, None
