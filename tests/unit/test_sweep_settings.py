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


def test_the_environment_written_reads_back_as_the_same_settings():
    defaults = settings()
    assert SweepSettings.from_env(defaults.to_env()) == defaults
    chosen = settings(
        LAPSEWATCH_DRY_RUN="yes",
        LAPSEWATCH_MAX_UNVERIFY="7",
        LAPSEWATCH_MAX_UNVERIFY_FRACTION="0.125",
        LAPSEWATCH_UNSAFE_LIFECYCLES="unregistered,redemption",
        LAPSEWATCH_PROTECTED_DOMAINS="corp.example",
        LAPSEWATCH_NOTICE_STAGES="",
        LAPSEWATCH_REGISTRY_TOKEN="t0ken",
        LAPSEWATCH_ALLOW_LOOPBACK_HTTP="true",
        LAPSEWATCH_LOCAL_NOW="2026-11-22T03:00:00Z",
        LAPSEWATCH_PROVIDERS="rdap,whois,domainr",
        LAPSEWATCH_DOMAINR_API_KEY="k3y",
        LAPSEWATCH_RDAP_RATE="2.5",
        LAPSEWATCH_EGRESS_PORTS="8443,443",
        LAPSEWATCH_WHOIS_SERVERS="it=127.0.0.1:4343,jp=[::1]:43",
        LAPSEWATCH_DNS_WITNESS="off",
        LAPSEWATCH_DNS_ROOT="127.0.0.2:5353,::1",
    )
    env = chosen.to_env()
    assert SweepSettings.from_env(env) == chosen
    assert env["LAPSEWATCH_NOTICE_STAGES"] == "" and env["LAPSEWATCH_PROTECTED_DOMAINS"] == "corp.example"
    assert env["LAPSEWATCH_WHOIS_SERVERS"] == "it=127.0.0.1:4343,jp=[::1]:43"
    assert (env["LAPSEWATCH_MAX_UNVERIFY_FRACTION"], env["LAPSEWATCH_RDAP_RATE"]) == ("0.125", "2.5")


def test_the_environment_written_names_every_setting_but_those_unset():
    from lapsewatch.providers.factory import ProviderSettings
    from lapsewatch.setting import declared

    env = settings().to_env()
    names = {s.env for cls in (SweepSettings, ProviderSettings) for _, s in declared(cls)}
    unset = {"LAPSEWATCH_LOCAL_NOW", "LAPSEWATCH_RDAP_BOOTSTRAP", "LAPSEWATCH_RDAP_EXTRA"}
    unset |= {"LAPSEWATCH_WHOIS_TABLE", "LAPSEWATCH_DNS_ROOT", "LAPSEWATCH_DNS_TRUST_ANCHOR"}
    unset |= {name for name in names if "DOMAINR" in name or "FASTLY" in name} - {
        "LAPSEWATCH_DOMAINR_SECRET_ARN",
        "LAPSEWATCH_FASTLY_SECRET_ARN",
        "LAPSEWATCH_FASTLY_RATE",
    }
    assert set(env) == names - unset
    assert env["LAPSEWATCH_MAX_UNVERIFY"] == "50" and env["LAPSEWATCH_PROVIDERS"] == "rdap,whois"


def test_each_setting_is_read_from_the_variable_it_declares():
    from lapsewatch.setting import declaration, default_of

    assert declaration(SweepSettings, "shard_size").env == "LAPSEWATCH_SHARD_SIZE"
    assert settings().shard_size == default_of(SweepSettings, "shard_size")
    assert settings(LAPSEWATCH_SHARD_SIZE="40").shard_size == 40
    with pytest.raises(SettingsError, match="LAPSEWATCH_SHARD_SIZE must be between 1 and 400, not 401"):
        settings(LAPSEWATCH_SHARD_SIZE="401")
    with pytest.raises(SettingsError, match="LAPSEWATCH_RUNS_TABLE is not set"):
        SweepSettings.from_env({"LAPSEWATCH_DOMAINS_TABLE": "domains"})


def test_notices_are_off_only_when_the_stages_are_set_blank():
    assert settings().notice_stages == {"grace", "hold"}
    assert settings(LAPSEWATCH_NOTICE_STAGES=" ").notice_stages == frozenset()
    assert settings(LAPSEWATCH_NOTICE_STAGES="hold").notice_stages == {"hold"}
