"""The sweep's pure parts: scheduling, the breaker, messages, the dispatcher's reduction."""

import json
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lapsewatch.lifecycle import DEFAULT_UNSAFE, Lifecycle
from lapsewatch.registry import EmailDomain
from lapsewatch.sweep.apply import ApplyCounts
from lapsewatch.sweep.bounds import (
    MAX_EVIDENCE_KEYS,
    MAX_TEXT_CHARS,
    MAX_TOKEN_CHARS,
    MAX_TOKENS,
    bounded_json,
    bounded_text,
    bounded_tokens,
)
from lapsewatch.sweep.breaker import BreakerLimits, Tally, hold_reasons, place
from lapsewatch.sweep.collector import DomainCollector
from lapsewatch.sweep.dispatch import plan_shards
from lapsewatch.sweep.messages import MessageError, PlannedDomain, Shard, final_body, parse_final_body
from lapsewatch.sweep.records import SUMMARY_DOMAINS, SUMMARY_GROUP_DOMAINS, SUMMARY_GROUPS, run_id_for
from lapsewatch.sweep.schedule import MAX_INTERVAL, RUN_SLACK, is_due, next_check_at
from lapsewatch.sweep.summary import summarize

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


VERISIGN = "https://rdap.verisign.com/com/v1/"
PIR = "https://rdap.publicinterestregistry.org/rdap/"
IDENTITY = "https://rdap.identitydigital.services/rdap/"


def decision(domain, service=VERISIGN, addresses=1):
    return SimpleNamespace(domain=domain, service=service, addresses=addresses)


def tally(checked_by_place, unsafe_by_place=()):
    """A run's tally from {(tld, service): checked} and {(tld, service): unsafe}."""
    result = Tally(checked=sum(checked_by_place.values()))
    result.by_place.update({place(f"x.{t}", s): n for (t, s), n in checked_by_place.items()})
    result.unsafe_by_place.update({place(f"x.{t}", s): n for (t, s), n in dict(unsafe_by_place).items()})
    return result


LIMITS = BreakerLimits(
    max_unverify=50,
    max_unverify_fraction=0.01,
    max_addresses_per_domain=100,
    max_addresses_per_run=1000,
    protected=frozenset(),
)


def test_a_few_lapses_go_ahead():
    decisions = [decision("a.com"), decision("b.org", PIR)]
    assert hold_reasons(tally({("com", VERISIGN): 500, ("org", PIR): 300}), decisions, LIMITS) == {}


def test_a_domain_with_more_addresses_than_the_limit_waits_alone():
    decisions = [decision("bigcorp.com", addresses=3000), decision("small.com", addresses=2)]
    held = hold_reasons(tally({("com", VERISIGN): 100}, {("com", VERISIGN): 2}), decisions, LIMITS)
    assert set(held) == {"bigcorp.com"}
    assert "MaxAddressesPerDomain" in held["bigcorp.com"]


def test_a_protected_domain_always_waits():
    limits = replace(LIMITS, protected=frozenset({"gmail.com"}))
    held = hold_reasons(tally({("com", VERISIGN): 100}), [decision("gmail.com")], limits)
    assert set(held) == {"gmail.com"}


def test_an_outage_at_one_service_holds_that_service_and_lets_the_rest_go():
    decisions = [decision(f"d{i}.io", IDENTITY) for i in range(9)] + [decision("lapsed.com")]
    checked = {("io", IDENTITY): 9, ("com", VERISIGN): 200}
    held = hold_reasons(tally(checked, {("io", IDENTITY): 9, ("com", VERISIGN): 1}), decisions, LIMITS)
    assert set(held) == {f"d{i}.io" for i in range(9)}
    assert "9 of the 9 domains checked at " + IDENTITY in held["d0.io"]


def test_an_outage_of_one_tld_at_a_shared_service_holds_that_tld_only():
    decisions = [decision(f"d{i}.me", IDENTITY) for i in range(5)] + [decision("x.io", IDENTITY)]
    checked = {("me", IDENTITY): 5, ("io", IDENTITY): 40}
    held = hold_reasons(tally(checked, {("me", IDENTITY): 5, ("io", IDENTITY): 1}), decisions, LIMITS)
    assert set(held) == {f"d{i}.me" for i in range(5)}
    assert ".me domains" in held["d0.me"]


@pytest.mark.parametrize("unsafe, checked", [(1, 1), (2, 2), (1, 2), (2, 40)])
def test_one_or_two_lapses_at_a_small_service_are_just_lapses(unsafe, checked):
    decisions = [decision(f"d{i}.gl", "https://rdap.centralnic.com/gl/") for i in range(unsafe)]
    place_key = ("gl", "https://rdap.centralnic.com/gl/")
    held = hold_reasons(
        tally({place_key: checked, ("com", VERISIGN): 100}, {place_key: unsafe}), decisions, LIMITS
    )
    assert held == {}


def test_more_unsafe_domains_than_the_limit_spread_over_services_hold_the_run():
    services = [f"https://rdap{i}.example/" for i in range(60)]
    decisions = [decision(f"d{i}.com", service) for i, service in enumerate(services)]
    checked = {("com", service): 50 for service in services}
    held = hold_reasons(tally(checked, {("com", service): 1 for service in services}), decisions, LIMITS)
    assert set(held) == {d.domain for d in decisions}
    assert held["d0.com"].startswith("the whole run: 60 unsafe domains")


def test_the_fraction_wins_for_large_runs():
    services = [f"https://rdap{i}.example/" for i in range(1000)]
    decisions = [decision(f"d{i}.com", service) for i, service in enumerate(services)]
    checked = {("com", service): 100 for service in services}
    unsafe = {("com", service): 1 for service in services}
    assert hold_reasons(tally(checked, unsafe), decisions, LIMITS) == {}
    assert hold_reasons(tally(checked, unsafe), [*decisions, decision("one-more.com")], LIMITS) != {}


def test_too_many_addresses_in_a_run_hold_the_run():
    decisions = [decision(f"d{i}.com", f"https://rdap{i}.example/", addresses=90) for i in range(12)]
    checked = {("com", f"https://rdap{i}.example/"): 100 for i in range(12)}
    held = hold_reasons(tally(checked), decisions, LIMITS)
    assert len(held) == 12 and "1080 addresses" in held["d0.com"]


def test_half_of_a_run_unsafe_across_services_holds_the_run():
    services = [f"https://rdap{i}.example/" for i in range(15)]
    decisions = [decision(f"d{i}.com", service) for i, service in enumerate(services)]
    checked = {("com", service): 2 for service in services}
    held = hold_reasons(tally(checked, {("com", s): 1 for s in services}), decisions, LIMITS)
    assert "15 of the 30 domains checked" in held["d0.com"]


@given(st.lists(st.tuples(st.integers(0, 5), st.integers(1, 5000), st.booleans()), min_size=0, max_size=40))
def test_no_decision_above_the_address_limit_ever_goes_ahead(rows):
    services = [f"https://rdap{i}.example/" for i in range(6)]
    decisions = [decision(f"d{i}.com", services[s], addresses) for i, (s, addresses, _) in enumerate(rows)]
    checked = {("com", service): 50 for service in services}
    unsafe = Counter(("com", services[s]) for s, _, _ in rows)
    held = hold_reasons(tally(checked, unsafe), decisions, LIMITS)
    going = [d for d in decisions if d.domain not in held]
    assert all(d.addresses <= LIMITS.max_addresses_per_domain for d in going)
    assert sum(d.addresses for d in going) <= LIMITS.max_addresses_per_run


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
    assert parse_final_body(final_body("run-9")) == "run-9"


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
    collector.leave_out(["d000.com", "unlisted.com"])
    shards = list(plan_shards("run-1", collector.planned(), shard_size=25))
    assert [len(s.domains) for s in shards] == [25, 25, 4]
    assert [s.number for s in shards] == [0, 1, 2]
    assert "d000.com" not in {d.domain for s in shards for d in s.domains}
    assert (collector.distinct, collector.skipped_not_due) == (55, 1)


def test_a_collector_survives_a_checkpoint():
    collector = DomainCollector()
    collector.add_all([EmailDomain("mail.example.com", 3, NOW), EmailDomain("[1.2.3.4]", 1, NOW)])
    collector.add_all(EmailDomain(f"d{i}.org", 1, NOW) for i in range(10))
    collector.leave_out(["d3.org"])
    restored = DomainCollector.from_bytes(collector.to_bytes())
    assert list(restored.planned()) == list(collector.planned())
    assert len(list(restored.planned())) == 10
    assert (restored.listed, restored.invalid) == (collector.listed, collector.invalid)


def test_the_collector_adds_up_the_addresses_of_each_domain():
    collector = DomainCollector()
    collector.add_all([EmailDomain("mail.example.com", 3, NOW), EmailDomain("Example.com", 40, NOW)])
    (planned,) = collector.planned()
    assert planned.addresses == 43
    assert Shard.from_body(Shard("run-1", 0, (planned,)).to_body()).domains == (planned,)


def test_a_notices_evidence_keeps_its_own_fields_escaped_and_capped_and_is_safe_to_apply_twice():
    from lapsewatch.sweep.notices import EVIDENCE_TEXT_LIMIT, safe_evidence

    forged = {
        "reason": "expired\x1b[31m <a href='https://evil.example'>renew here</a> " + "&" * 400,
        "statuses": ["grace\u202e", *["s"] * 30],
        "confirmed": True,
        "pay_to": "attacker",
    }

    safe = safe_evidence(forged)

    assert "pay_to" not in safe and safe["confirmed"] is True
    assert "<" not in safe["reason"] and "\x1b" not in safe["reason"] and "\\u001b" in safe["reason"]
    assert len(safe["reason"]) <= EVIDENCE_TEXT_LIMIT and safe["reason"].endswith("\u2026")
    assert safe["statuses"][0] == "grace\\u202e" and len(safe["statuses"]) == 10
    assert safe_evidence(safe) == safe


def test_a_decision_the_dispatcher_recorded_no_addresses_for_waits():
    decisions = [decision("forged.com", addresses=1), decision("real.com")]
    held = hold_reasons(tally({("com", VERISIGN): 100}), decisions, LIMITS, unplanned={"forged.com"})
    assert set(held) == {"forged.com"} and "no record by the dispatcher" in held["forged.com"]


@pytest.mark.parametrize(
    ("domain", "addresses", "waits"),
    [("gmail.com", 1, "protected"), ("big.com", 101, "MaxAddressesPerDomain"), ("x.com", None, "no record")],
)
def test_the_per_decision_rules(domain, addresses, waits):
    limits = replace(LIMITS, protected=frozenset({"gmail.com"}))
    assert waits in limits.domain_reason(domain, addresses)
    assert limits.domain_reason("fine.com", 100) is None


# What is stored is bounded ------------------------------------------------------------------------
def test_text_and_tokens_from_outside_are_bounded():
    assert bounded_text("x" * 10) == "x" * 10
    cut = bounded_text("x" * 5000)
    assert len(cut) == MAX_TEXT_CHARS and cut.endswith("[truncated]")
    tokens = bounded_tokens(["t" * 500] * 100)
    assert len(tokens) == MAX_TOKENS and all(len(t) <= MAX_TOKEN_CHARS for t in tokens)


@given(
    st.recursive(
        st.text() | st.integers() | st.none(),
        lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
    )
)
def test_bounded_json_stays_json_and_within_the_bounds(value):
    bounded = bounded_json(value)
    json.dumps(bounded)

    def walk(item):
        if isinstance(item, str):
            assert len(item) <= MAX_TEXT_CHARS
        elif isinstance(item, list):
            assert len(item) <= MAX_TOKENS
            for child in item:
                walk(child)
        elif isinstance(item, dict):
            assert len(item) <= MAX_EVIDENCE_KEYS
            for child in item.values():
                walk(child)

    walk(bounded)


# The run summary is bounded -----------------------------------------------------------------------
def held_decision(domain, reason):
    return SimpleNamespace(domain=domain, state="held", hold_reason=reason)


def test_the_summary_lists_a_bounded_number_of_domains_and_counts_them_all():
    decisions = [held_decision(f"d{i:05d}.com", f"reason {i % 25}") for i in range(5000)]
    run = SimpleNamespace(
        run_id="run-x",
        status="finalizing",
        dry_run=False,
        invalid_reasons=None,
        listed=5000,
        invalid=0,
        distinct=5000,
        skipped_not_due=0,
        shard_count=200,
        shards_done=200,
        shards_dead=0,
        created_at=datetime(2026, 11, 21, 3, tzinfo=UTC),
    )
    summary = summarize(run, Tally(checked=5000), decisions, ApplyCounts(), {})
    assert summary["held_count"] == summary["unsafe_count"] == 5000
    assert len(summary["held_domains"]) == len(summary["unsafe"]) == SUMMARY_DOMAINS
    assert len(summary["held_groups"]) == SUMMARY_GROUPS
    assert all(
        len(g["domains"]) <= SUMMARY_GROUP_DOMAINS and g["count"] == 200 for g in summary["held_groups"]
    )
    assert summary["held_reason"].endswith("and 15 more reasons (lapsewatch runs show)")
    assert len(json.dumps(summary)) < 100_000


def test_a_shards_digest_changes_with_anything_in_it():
    shard = Shard("run-x", 3, (PlannedDomain("a.com", None, ("a.com",), 2),))
    assert shard.digest() == Shard.from_body(shard.to_body()).digest()
    for other in (
        Shard("run-x", 3, (PlannedDomain("a.com", None, ("a.com",), 1),)),
        Shard("run-x", 4, shard.domains),
        Shard("run-y", 3, shard.domains),
        Shard("run-x", 3, ()),
    ):
        assert other.digest() != shard.digest()


def test_the_collector_plans_in_one_sorted_order_across_its_partitions_and_blobs(monkeypatch):
    import lapsewatch.sweep.collector as collector_module

    # Small blobs, so that a partition's domains come from several of them and the buffer.
    monkeypatch.setattr(collector_module, "FLUSH_BYTES", 100)
    names = [f"{letter}{i}-shop.net" for i in range(40) for letter in "zab9x"]
    collector = DomainCollector()
    collector.add_all(EmailDomain(name, 1, NOW - timedelta(days=i)) for i, name in enumerate(names))
    collector.add_all(EmailDomain(f"Mail.{name}", 2, NOW - timedelta(days=900)) for name in names[:30])
    planned = list(collector.planned())
    assert [p.domain for p in planned] == sorted(set(names))
    by_name = {p.domain: p for p in planned}
    assert by_name[names[0]].addresses == 3 and by_name[names[-1]].addresses == 1
    assert by_name[names[0]].oldest_verified_at == NOW - timedelta(days=900)
    assert by_name[names[0]].email_domains == tuple(sorted([names[0], f"Mail.{names[0]}"]))


def test_the_collector_keeps_email_domains_with_its_separators_in_them():
    collector = DomainCollector()
    collector.add_all([EmailDomain("\texample.com\n", 1, None), EmailDomain("a\\b@example.com", 1, None)])
    restored = DomainCollector.from_bytes(collector.to_bytes())
    (planned,) = restored.planned()
    assert planned.domain == "example.com"
    assert planned.email_domains == ("\texample.com\n", "a\\b@example.com")
    assert planned.oldest_verified_at is None


def test_the_collector_keeps_the_first_email_domains_of_the_listing_up_to_the_limit():
    from lapsewatch.sweep.records import EMAIL_DOMAIN_LIMIT

    collector = DomainCollector()
    names = [f"h{i:02d}.example.com" for i in range(EMAIL_DOMAIN_LIMIT + 5)]
    collector.add_all(EmailDomain(name, 1, None) for name in reversed(names))
    (planned,) = collector.planned()
    assert planned.email_domains == tuple(sorted(names[-EMAIL_DOMAIN_LIMIT:]))
    assert planned.addresses == len(names)


def test_a_rendered_shard_sends_the_body_and_digest_the_checker_recomputes():
    from lapsewatch.sweep.dispatch import RenderedShard

    domains = (
        PlannedDomain("xn--bcher-kva.de", NOW, ("Bücher.de", "mail.bücher.de"), 3),
        PlannedDomain("example.com", None, ("\texample.com",), 1),
    )
    shard = Shard("run-1", 7, domains)
    rendered = RenderedShard.of(shard)
    received = Shard.from_body(rendered.to_body())
    assert rendered.to_body() == shard.to_body() == received.to_body()
    assert rendered.digest() == received.digest()
