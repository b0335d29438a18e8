"""When each domain is next due for a lookup.

Checking every domain every day wastes lookups and strains the RDAP servers' rate limits, yet
a lapse must be caught while the domain is still in redemption. The policy:

| domain                                             | next check                           |
|----------------------------------------------------|--------------------------------------|
| unknown (an error), grace, hold, or any unsafe one | next run (daily)                     |
| active, expiry date within the next LEAD_TIME      | next run (daily)                     |
| active, expiry further away                        | expiry - LEAD_TIME, at most MAX_INTERVAL |
| active, no expiry date known (some ccTLDs)         | UNDATED_INTERVAL                     |
| never seen before                                  | now (new domains are sent at once)   |

MAX_INTERVAL (7 days) must stay well inside the shortest window in which a lapsed domain can
still be caught before anyone can register it: a registrant can delete a domain at any time,
and gTLDs then give 30 days of redemption and 5 of pending delete (35 days). Seven days catches
such a deletion with four weekly looks to spare, and a daily look starts before each expiry.
A per-domain offset of up to 12 hours spreads the weekly checks over the days of the week.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from lapsewatch.lifecycle import Lifecycle

DAY = timedelta(days=1)
LEAD_TIME = timedelta(days=2)
MAX_INTERVAL = timedelta(days=7)
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
    if lifecycle in _WATCHED_DAILY or lifecycle in unsafe or lifecycle is not Lifecycle.ACTIVE:
        return now + DAY - RUN_SLACK
    if expires_at is None:
        interval = UNDATED_INTERVAL
    else:
        interval = min(MAX_INTERVAL, max(DAY, expires_at - LEAD_TIME - now))
    if interval <= DAY:
        return now + DAY - RUN_SLACK
    return now + interval - RUN_SLACK - _spread(domain)


def is_due(next_check: datetime | None, run_at: datetime) -> bool:
    return next_check is None or next_check <= run_at


def _spread(domain: str) -> timedelta:
    digest = hashlib.blake2b(domain.encode(), digest_size=2).digest()
    return timedelta(minutes=int.from_bytes(digest) % 720)
