"""The DNS witness's settings: bundled root hints and trust anchor, the local-only replacements,
the switch."""

import pytest

from lapsewatch.dns import roots as dns_witness
from lapsewatch.providers.factory import ProviderSettings
from lapsewatch.sweep.settings import SettingsError, SweepSettings

ANCHOR = ". 86400 IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D\n"
BASE = {"LAPSEWATCH_DOMAINS_TABLE": "d", "LAPSEWATCH_RUNS_TABLE": "r"}


def test_the_bundled_root_hints_parse():
    roots = dns_witness.bundled_roots()
    assert "198.41.0.4" in roots  # a.root-servers.net
    assert len(roots) == 26  # 13 servers, IPv4 and IPv6


def test_the_bundled_trust_anchor_parses():
    anchor = dns_witness.bundled_trust_anchor()
    assert {ds.key_tag for ds in anchor} >= {20326}
    assert all(ds.algorithm == 8 and ds.digest_type == 2 for ds in anchor)


@pytest.mark.parametrize(
    "text",
    [
        ANCHOR,
        ". IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D",
        ". DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D ; KSK-2017",
        "; a comment line\n\n" + ANCHOR,
    ],
)
def test_a_trust_anchor_is_ds_lines_as_dig_prints_them(text):
    assert [ds.key_tag for ds in dns_witness.parse_trust_anchor(text)] == [20326]


@pytest.mark.parametrize(
    "text", ["", "; nothing\n", "com. DS 1 8 2 AB", ". IN DNSKEY 257 3 8 AwEAAa==", ". DS 20326 8 2 XYZ"]
)
def test_a_bad_trust_anchor_is_refused(text):
    with pytest.raises(ValueError):
        dns_witness.parse_trust_anchor(text)


def test_roots_are_addresses_with_an_optional_port():
    assert dns_witness.parse_roots("127.0.0.2:5353, 127.0.0.3") == (("127.0.0.2", 5353), ("127.0.0.3", None))
    assert dns_witness.parse_roots("[::1]:5353,::1") == (("::1", 5353), ("::1", None))
    for bad in ("", "a.root-servers.net", "127.0.0.2:0", "127.0.0.2:x"):
        with pytest.raises(ValueError):
            dns_witness.parse_roots(bad)


def test_the_witness_is_on_by_default_with_the_bundled_data():
    settings = ProviderSettings.from_env({})
    assert settings.dns_witness and settings.dns_roots is None and settings.dns_trust_anchor is None
    witness = settings.build_witness()
    assert witness is not None
    assert ("198.41.0.4", 53) in witness.roots
    assert witness.policy.refusal("127.0.0.1", 53) is not None  # loopback only locally


def test_the_local_roots_port_applies_to_every_server(tmp_path):
    anchor = tmp_path / "root.ds"
    anchor.write_text(ANCHOR)
    settings = ProviderSettings.from_env(
        {"LAPSEWATCH_DNS_ROOT": "127.53.0.1:5353", "LAPSEWATCH_DNS_TRUST_ANCHOR": str(anchor)},
        allow_loopback_http=True,
    )
    witness = settings.build_witness()
    assert witness.roots == [("127.53.0.1", 5353)] and witness.port == 5353
    assert witness.policy.refusal("127.53.0.9", 5353) is None
    assert witness.policy.refusal("10.0.0.1", 53) is not None


def test_arguments_win_over_the_environment(tmp_path):
    settings = ProviderSettings.from_env(
        {"LAPSEWATCH_DNS_WITNESS": "on", "LAPSEWATCH_DNS_ROOT": "127.0.0.9"},
        dns_witness=False,
        dns_roots=["127.0.0.2:5353"],
    )
    assert not settings.dns_witness and settings.build_witness() is None
    assert settings.dns_roots == (("127.0.0.2", 5353),)


@pytest.mark.parametrize(
    "env",
    [
        {"LAPSEWATCH_DNS_WITNESS": "maybe"},
        {"LAPSEWATCH_DNS_ROOT": "not-an-address"},
        {"LAPSEWATCH_DNS_TRUST_ANCHOR": "/no/such/file"},
    ],
)
def test_bad_dns_settings_are_refused(env):
    with pytest.raises(ValueError):
        ProviderSettings.from_env(env)


@pytest.mark.parametrize("name", ["LAPSEWATCH_DNS_ROOT", "LAPSEWATCH_DNS_TRUST_ANCHOR"])
def test_a_lambda_function_refuses_the_local_dns_settings(name, tmp_path):
    anchor = tmp_path / "root.ds"
    anchor.write_text(ANCHOR)
    value = "127.0.0.2:5353" if name == "LAPSEWATCH_DNS_ROOT" else str(anchor)
    with pytest.raises(SettingsError, match=name):
        SweepSettings.from_env({**BASE, "AWS_LAMBDA_FUNCTION_NAME": "f", name: value})


def test_every_run_summary_says_whether_the_witness_is_on():
    assert SweepSettings.from_env(BASE).in_summary()["dns_witness"] is True
    off = SweepSettings.from_env({**BASE, "LAPSEWATCH_DNS_WITNESS": "false"})
    assert off.in_summary()["dns_witness"] is False
