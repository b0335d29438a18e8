"""The sweep's pure parts: scheduling, the breaker, messages, the dispatcher's reduction."""

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from lapsewatch.lifecycle import DEFAULT_UNSAFE, Lifecycle
from lapsewatch.registry import EmailDomain
from lapsewatch.sweep.dispatch import DomainCollector, plan_shards
from lapsewatch.sweep.finalize import BreakerLimits, Tally, hold_reason
from lapsewatch.sweep.handlers import run_id_for
from lapsewatch.sweep.messages import MessageError, PlannedDomain, Shard, finish_body, parse_finish_body
from lapsewatch.sweep.schedule import MAX_INTERVAL, RUN_SLACK, is_due, next_check_at

NOW = datetime(2026, 11, 21, 3, 0, tzinfo=UTC)


def due_in(lifecycle, expires_at=None, domain="example.com"):
    return next_check_at(domain, lifecycle, expires_at=expires_at, now=NOW, unsafe=DEFAULT_UNSAFE) - NOW


@pytest.mark.parametrize(
    "lifecycle",
    [Lifecycle.UNKNOWN, Lifecycle.GRACE, Lifecycle.HOLD, Lifecycle.REDEMPTION, Lifecycle.UNREGISTERED],
)
def test_watched_lifecycles_are_due_at_the_next_daily_run(lifecycle):
    assert due_in(lifecycle) == timedelta(days=1) - RUN_SLACK
    assert is_due(NOW + due_in(lifecycle), NOW + timedelta(days=1))


def test_active_domain_far_from_expiry_waits_at_most_the_longest_interval():
    for i in range(100):
        wait = due_in(Lifecycle.ACTIVE, expires_at=NOW + timedelta(days=300), domain=f"d{i}.com")
        assert timedelta(hours=20) <= wait <= MAX_INTERVAL


def test_the_longest_interval_stays_well_inside_redemption_and_pending_delete():
    assert timedelta(days=30 + 5) >= MAX_INTERVAL * 2


def test_an_active_domain_keeps_its_slot_in_the_cycle():
    first = NOW + due_in(Lifecycle.ACTIVE, NOW + timedelta(days=300), "steady.com")
    next_run = first + RUN_SLACK  # the daily run of the day it is due
    second = next_check_at(
        "steady.com",
        Lifecycle.ACTIVE,
        expires_at=NOW + timedelta(days=300),
        now=next_run,
        unsafe=DEFAULT_UNSAFE,
    )
    assert second - first == MAX_INTERVAL


def test_active_domain_near_expiry_is_checked_daily():
    assert due_in(Lifecycle.ACTIVE, expires_at=NOW + timedelta(days=1)) == timedelta(days=1) - RUN_SLACK


def test_active_domain_is_looked_at_before_it_expires():
    expires = NOW + timedelta(days=5)
    assert NOW + due_in(Lifecycle.ACTIVE, expires_at=expires) < expires


def test_active_domain_without_expiry_date_is_checked_every_few_days():
    assert timedelta(days=1) < due_in(Lifecycle.ACTIVE) <= timedelta(days=3)


def test_never_seen_domains_are_due():
    assert is_due(None, NOW)


def test_long_interval_checks_are_spread_over_the_cycle():
    days = Counter(due_in(Lifecycle.ACTIVE, NOW + timedelta(days=300), f"d{i}.com").days for i in range(1400))
    assert len(days) == MAX_INTERVAL.days
    assert max(days.values()) < 2 * min(days.values())


def test_breaker_holds_above_the_absolute_limit():
    tally = Tally(checked=1000)
    assert hold_reason(tally, 50, BreakerLimits(50, 0.01)) is None
    assert "51 unsafe domains" in hold_reason(tally, 51, BreakerLimits(50, 0.01))


def test_breaker_fraction_wins_for_large_runs():
    tally = Tally(checked=100_000)
    assert hold_reason(tally, 1000, BreakerLimits(50, 0.01)) is None
    assert hold_reason(tally, 1001, BreakerLimits(50, 0.01)) is not None


def test_breaker_holds_when_half_of_a_run_comes_back_unsafe():
    tally = Tally(checked=30)
    tally.by_tld.update({"com": 10, "org": 10, "net": 10})
    tally.unsafe_by_tld.update({"com": 5, "org": 5, "net": 5})
    reason = hold_reason(tally, 15, BreakerLimits(50, 0.01))
    assert reason is not None and "15 of the 30" in reason


def test_breaker_lets_a_small_run_with_a_few_lapses_through():
    tally = Tally(checked=9)
    assert hold_reason(tally, 8, BreakerLimits(50, 0.01)) is None
    tally = Tally(checked=20)
    assert hold_reason(tally, 9, BreakerLimits(50, 0.01)) is None


def test_breaker_holds_when_one_tld_comes_back_unsafe_at_once():
    tally = Tally(checked=40)
    tally.by_tld.update({"com": 30, "test": 10})
    tally.unsafe_by_tld.update({"test": 10})
    reason = hold_reason(tally, 10, BreakerLimits(50, 0.01))
    assert reason is not None and ".test" in reason


def test_breaker_lets_a_few_lapses_in_a_small_tld_through():
    tally = Tally(checked=24)
    tally.by_tld.update({"test": 12, "com": 12})
    tally.unsafe_by_tld.update({"test": 5})
    assert hold_reason(tally, 5, BreakerLimits(50, 0.01)) is None


def test_shard_round_trips_through_its_body():
    shard = Shard(
        "run-1", 3, (PlannedDomain("example.com", NOW, ("mail.example.com",)), PlannedDomain("a.de"))
    )
    assert Shard.from_body(shard.to_body()) == shard


@pytest.mark.parametrize("body", ["", "[]", '{"v": 2}', '{"v": 1, "run_id": 1, "shard": 0, "domains": []}'])
def test_malformed_shard_bodies_are_refused(body):
    with pytest.raises(MessageError):
        Shard.from_body(body)


def test_finish_body_round_trips():
    assert parse_finish_body(finish_body("run-9")) == "run-9"


def test_run_id_is_the_schedule_occurrence():
    assert run_id_for(NOW) == "run-20261121T030000Z"


def test_collector_reduces_dedupes_and_keeps_the_earliest_verification():
    collector = DomainCollector()
    early, late = NOW - timedelta(days=900), NOW - timedelta(days=10)
    collector.add_all(
        [
            EmailDomain("mail.Example.COM", 2, late),
            EmailDomain("example.com", 1, early),
            EmailDomain("Bücher.de", 1, late),
            EmailDomain("localhost", 1, late),
            EmailDomain("co.uk", 1, late),
            EmailDomain("[10.0.0.1]", 1, late),
        ]
    )
    planned = {p.domain: p for p in collector.planned()}
    assert set(planned) == {"example.com", "xn--bcher-kva.de"}
    assert planned["example.com"].oldest_verified_at == early
    assert set(planned["example.com"].email_domains) == {"mail.Example.COM", "example.com"}
    assert collector.listed == 6
    assert collector.invalid_count == 3
    assert collector.invalid == {"single-label": 1, "public-suffix": 1, "ip-literal": 1}


def test_only_due_domains_are_cut_into_shards():
    collector = DomainCollector()
    collector.add_all(EmailDomain(f"d{i:03d}.com", 1, None) for i in range(55))
    schedule = {"d000.com": NOW + timedelta(days=3), "d001.com": NOW - timedelta(hours=1)}
    assert collector.keep_due(schedule.items(), NOW) == 1
    shards = list(plan_shards("run-1", collector.planned(), shard_size=25))
    assert [len(s.domains) for s in shards] == [25, 25, 4]
    assert [s.number for s in shards] == [0, 1, 2]


def test_a_collector_survives_a_checkpoint():
    collector = DomainCollector()
    collector.add_all([EmailDomain("mail.example.com", 3, NOW), EmailDomain("[1.2.3.4]", 1, NOW)])
    restored = DomainCollector.from_bytes(collector.to_bytes())
    assert list(restored.planned()) == list(collector.planned())
    assert (restored.listed, restored.invalid) == (collector.listed, collector.invalid)
