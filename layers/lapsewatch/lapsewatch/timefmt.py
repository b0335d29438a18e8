"""RFC 3339 timestamps, always in UTC."""

from __future__ import annotations

from datetime import UTC, datetime


def rfc3339(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    # Formatted by hand: strftime's %Y does not pad years before 1000 to four digits.
    m = moment.astimezone(UTC)
    return f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}Z"


def as_utc(moment: datetime | None) -> datetime | None:
    """A naive time taken as UTC; an aware one as it is."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


def parse_time(text: str) -> datetime:
    """Parse an RFC 3339 / ISO 8601 timestamp; a naive one is taken as UTC. Raises ValueError."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"not a timestamp: {text!r}")
    value = text.strip()
    if value[-1] in "zZ":
        value = value[:-1] + "+00:00"
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def parse_time_or_none(text: object) -> datetime | None:
    """Lenient parsing for evidence from outside: anything unreadable is None."""
    try:
        return parse_time(text)  # type: ignore[arg-type]
    except (ValueError, TypeError, OverflowError):
        return None
