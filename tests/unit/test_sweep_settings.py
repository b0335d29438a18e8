"""The sweep's settings: parsed once, from one mapping, each new one checked."""

from datetime import UTC, datetime

import pytest

from lapsewatch.sweep.settings import SettingsError, SweepSettings

TABLES = {"LAPSEWATCH_DOMAINS_TABLE": "domains", "LAPSEWATCH_RUNS_TABLE": "runs"}


def settings(**env):
    return SweepSettings.from_env(TABLES | env)


def test_the_defaults_are_the_documented_ones():
    chosen = settings()
    assert (chosen.max_addresses_per_domain, chosen.max_addresses_per_run) == (100, 1000)
    assert chosen.pending_recheck_days == 3
    assert chosen.max_listing_pages == 20_000
    assert {"gmail.com", "outlook.com", "qq.com"} <= chosen.protected_domains
    assert chosen.allow_loopback_http is False and chosen.provider.allow_loopback_http is False
    assert chosen.local_now is None


def test_operators_add_protected_domains_in_any_spelling():
    chosen = settings(LAPSEWATCH_PROTECTED_DOMAINS=" Corp.Example , bücher.de,")
    assert {"corp.example", "xn--bcher-kva.de", "gmail.com"} <= chosen.protected_domains


@pytest.mark.parametrize("value", ["co.uk", "mail.corp.example", "not a domain"])
def test_a_protected_domain_must_be_a_registrable_domain(value):
    with pytest.raises(SettingsError, match="LAPSEWATCH_PROTECTED_DOMAINS"):
        settings(LAPSEWATCH_PROTECTED_DOMAINS=value)


@pytest.mark.parametrize(
    "name, value",
    [
        ("LAPSEWATCH_MAX_ADDRESSES_PER_DOMAIN", "0"),
        ("LAPSEWATCH_MAX_ADDRESSES_PER_RUN", "-1"),
        ("LAPSEWATCH_PENDING_RECHECK_DAYS", "three"),
        ("LAPSEWATCH_MAX_LISTING_PAGES", "0"),
        ("LAPSEWATCH_LOCAL_NOW", "yesterday"),
        ("LAPSEWATCH_ALLOW_LOOPBACK_HTTP", "maybe"),
    ],
)
def test_bad_values_are_refused_with_their_name(name, value):
    with pytest.raises(SettingsError, match=name):
        settings(**{name: value})


def test_local_runs_may_allow_loopback_http_and_set_the_clock():
    chosen = settings(LAPSEWATCH_ALLOW_LOOPBACK_HTTP="true", LAPSEWATCH_LOCAL_NOW="2026-11-22T03:00:00Z")
    assert chosen.provider.allow_loopback_http is True
    assert chosen.local_now == datetime(2026, 11, 22, 3, tzinfo=UTC)


@pytest.mark.parametrize(
    "local_only",
    [{"LAPSEWATCH_ALLOW_LOOPBACK_HTTP": "true"}, {"LAPSEWATCH_LOCAL_NOW": "2026-11-22T03:00:00Z"}],
)
def test_a_lambda_function_refuses_the_local_only_settings(local_only):
    with pytest.raises(SettingsError, match="local runs"):
        settings(AWS_LAMBDA_FUNCTION_NAME="lapsewatch-checker", **local_only)


def test_the_summary_reports_the_settings_that_decide_what_is_unverified():
    reported = settings(LAPSEWATCH_MAX_ADDRESSES_PER_DOMAIN="7").in_summary()
    assert reported["max_addresses_per_domain"] == 7
    assert set(reported) >= {"max_addresses_per_run", "protected_domains", "pending_recheck_days"}


def test_the_summary_reports_the_notices_and_secrets_limits():
    reported = settings().in_summary()
    assert reported["notice_interval_days"] == 7
    assert (reported["notice_evidence_max_chars"], reported["notice_evidence_max_items"]) == (300, 10)
    assert reported["secret_max_age_seconds"] == 300


def test_the_provider_is_read_from_the_same_mapping(monkeypatch):
    monkeypatch.setenv("LAPSEWATCH_PROVIDER", "rdap")
    chosen = settings(
        LAPSEWATCH_PROVIDER="domainr", LAPSEWATCH_DOMAINR_API_KEY="k3y", LAPSEWATCH_RDAP_RATE="7"
    )
    assert chosen.provider.providers == ("domainr",)
    assert chosen.provider.domainr_api_key == "k3y"
    assert chosen.provider.rdap_rate == 7.0
