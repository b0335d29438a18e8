"""Reading an RDAP server's domain object (RFC 9083) strictly, since an attacker-controlled or
broken server must never be able to get an address unverified: a 200 counts only as a JSON object
with objectClassName "domain" and the ldhName asked for (and a unicodeName, if any, naming the
same domain), no member named twice in any object, statuses that do not contradict each other and
at most one registration date.
"""

from __future__ import annotations

from datetime import datetime

from lapsewatch.domains import InvalidDomain, to_ascii
from lapsewatch.lifecycle import contradiction, lifecycle_from_statuses
from lapsewatch.net.doubt import Doubt
from lapsewatch.net.strict_json import read_json
from lapsewatch.providers import Observation
from lapsewatch.timefmt import parse_time_or_none

# The provider's name, in every Observation read here.
PROVIDER = "rdap"


def read_answer(body: bytes, domain: str, *, source: str | None = None) -> Observation:
    """Read a 200 answer for `domain` (an A-label); doubt unless it is that domain's object."""

    def doubt(why: str) -> Observation:
        return Observation.doubt(PROVIDER, why, source=source)

    try:
        document = read_json(body)
    except Doubt as exc:
        return doubt(str(exc))
    if not isinstance(document, dict):
        return doubt(f"the answer is a JSON {type(document).__name__}, not an object")
    object_class = document.get("objectClassName")
    if object_class != "domain":
        return doubt(f"the answer's objectClassName is {object_class!r}, not 'domain'")
    ldh_name = document.get("ldhName")
    if not isinstance(ldh_name, str) or ldh_name.lower().removesuffix(".") != domain.lower():
        return doubt(f"the answer is for {_shown(ldh_name)}, not {domain!r}")
    if "unicodeName" in document and (why := _unicode_name_mismatch(document["unicodeName"], domain)):
        return doubt(why)

    status = document.get("status")
    # Tolerant: a status list with odd entries keeps its strings; anything else is no status.
    statuses = tuple(s for s in status if isinstance(s, str)) if isinstance(status, list) else ()
    if why := contradiction(statuses):
        return doubt(why)
    events = document.get("events")
    registrations = set(_event_dates(events, "registration"))
    if len(registrations) > 1:
        dates = ", ".join(f"{moment:%Y-%m-%d}" for moment in sorted(registrations))
        return doubt(f"the answer has registration events with different dates: {dates}")
    return Observation(
        provider=PROVIDER,
        lifecycle=lifecycle_from_statuses(statuses),
        statuses=statuses,
        registered_at=next(iter(registrations), None),
        expires_at=max(_event_dates(events, "expiration"), default=None),
        source=source,
    )


def _shown(value: object) -> str:
    """A value from the answer in a reason: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= 260 else text[:260] + "…"


def _unicode_name_mismatch(unicode_name: object, domain: str) -> str | None:
    """Why a unicodeName does not name `domain` (an A-label) after IDNA processing, or None."""
    if not isinstance(unicode_name, str):
        return "the answer's unicodeName is not text"
    try:
        named = to_ascii(unicode_name.strip().removesuffix("."))
    except InvalidDomain:
        return f"the answer's unicodeName {_shown(unicode_name)} is not a domain name"
    if named != domain.lower():
        return f"the answer's unicodeName {_shown(unicode_name)} names {named}, not {domain}"
    return None


# RFC 9083 event actions. Only "registration" says when the current holder registered the name:
# Nomulus (behind .app, .dev and others) reports every renewal as a "reregistration", so reading
# that as a registration would call each renewed domain re-registered by someone else.
def _event_dates(events: object, action: str) -> list[datetime]:
    """The dates of the events with this eventAction (case-blind); unreadable events are skipped."""
    dates = []
    for event in events if isinstance(events, list) else ():
        if not isinstance(event, dict) or not isinstance(event.get("eventAction"), str):
            continue
        if event["eventAction"].strip().lower() == action:
            moment = parse_time_or_none(event.get("eventDate"))
            if moment is not None:
                dates.append(moment)
    return dates
