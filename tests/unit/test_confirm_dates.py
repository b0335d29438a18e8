"""A re-registration is confirmed only by the same registration date on both lookups."""

from datetime import UTC, datetime

from lapsewatch.check import DomainChecker
from lapsewatch.lifecycle import Lifecycle
from lapsewatch.providers import Observation

VERIFIED = datetime(2024, 1, 1, tzinfo=UTC)


class Answers:
    name = "whois"

    def __init__(self, *dates: datetime) -> None:
        self.dates = list(dates)

    def serves(self, domain: str) -> bool:
        return True

    def why_unserved(self, domain: str) -> str | None:
        return None

    def lookup(self, domain: str, *, deadline: float | None = None) -> Observation:
        return Observation(provider=self.name, lifecycle=Lifecycle.ACTIVE, registered_at=self.dates.pop(0))


def _check(*dates: datetime):
    return DomainChecker(Answers(*dates), sleep=lambda seconds: None).check_domain("fornaio.it", VERIFIED)


def test_the_same_later_date_twice_is_reregistered():
    result = _check(datetime(2025, 8, 6, tzinfo=UTC), datetime(2025, 8, 6, tzinfo=UTC))
    assert result.lifecycle is Lifecycle.REREGISTERED
    assert result.unsafe


def test_two_different_later_dates_are_doubt():
    result = _check(datetime(2025, 8, 6, tzinfo=UTC), datetime(2025, 9, 1, tzinfo=UTC))
    assert result.lifecycle is Lifecycle.UNKNOWN
    assert "registered on 2025-08-06T00:00:00Z then on 2025-09-01T00:00:00Z" in result.reason
    assert not result.unsafe
