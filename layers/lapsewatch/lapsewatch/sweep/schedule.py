"""When each domain is next due for a lookup (docs/sweep.md, "When each domain is checked").

Checking every domain every day wastes lookups and strains the RDAP servers' rate limits, yet a
lapse must be caught while the domain is still in redemption. MAX_INTERVAL must stay well inside
the shortest window in which a lapsed domain can still be caught before anyone can register it
(a deletion at any time, then 30 days of redemption and 5 of pending delete in the gTLDs);
`lapsewatch simulate` measures the trade.

Each domain has a fixed slot in the MAX_INTERVAL-day cycle (from a hash of its name), so the
long-interval checks are spread evenly over the days instead of all coming back on one day.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from lapsewatch.lifecycle import Lifecycle

DAY = timedelta(days=1)
LEAD_TIME = timedelta(days=2)
MAX_INTERVAL = timedelta(days=14)
UNDATED_INTERVAL = timedelta(days=3)
# A daily run at the same hour must find "due tomorrow" due: schedule a little early.
RUN_SLACK = timedelta(hours=2)

_WATCHED_DAILY = {Lifecycle.UNKNOWN, Lifecycle.GRACE, Lifecycle.HOLD}


def next_check_at(
    domain: str,
    lifecycle: Lifecycle,
    *,
    expires_at: datetime | None,
    now: datetime,
    unsafe: frozenset[Lifecycle],
) -> datetime:
    if lifecycle is not Lifecycle.ACTIVE or lifecycle in _WATCHED_DAILY or lifecycle in unsafe:
        return now + DAY - RUN_SLACK
    if expires_at is None:
        return now + UNDATED_INTERVAL - RUN_SLACK
    wait = min(_until_slot(domain, now), expires_at - LEAD_TIME - now)
    return now + max(DAY, wait) - RUN_SLACK


def is_due(next_check: datetime | None, run_at: datetime) -> bool:
    return next_check is None or next_check <= run_at


def _until_slot(domain: str, now: datetime) -> timedelta:
    """Whole days (1 to MAX_INTERVAL) until the domain's next slot in the cycle."""
    cycle = MAX_INTERVAL.days
    slot = int.from_bytes(hashlib.blake2b(domain.encode(), digest_size=4).digest()) % cycle
    days = (slot - now.toordinal()) % cycle
    return timedelta(days=days or cycle)
