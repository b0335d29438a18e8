"""The extra RDAP bootstrap file: servers missing from IANA's file, which only fill its gaps."""

import json
from importlib import resources

import pytest

from lapsewatch.lifecycle import Lifecycle
from lapsewatch.providers.factory import ProviderSettings
from lapsewatch.providers.rdap import RdapProvider
from lapsewatch.providers.rdap_bootstrap import Bootstrap
from lapsewatch.ratelimit import RateLimiter

IDENTITY = "https://rdap.identitydigital.services/rdap/"
EXTRA = {
    "de": "https://rdap.denic.de/",
    "ch": "https://rdap.nic.ch/",
    "li": "https://rdap.nic.li/",
    **dict.fromkeys(["io", "me", "ac", "sh", "ag", "bz", "lc", "mn", "pr", "sc", "vc"], IDENTITY),
    "co": "https://rdap.registry.co/co/",
    "us": "https://rdap.nic.us/",
    "gl": "https://rdap.centralnic.com/gl/",
    "bh": "https://rdap.centralnic.com/bh/",
    "my": "https://rdap.mynic.my/rdap/",
}


def _write(path, services, **fields):
    path.write_text(json.dumps({**fields, "services": services}))
    return path


@pytest.fixture
def empty_extra(tmp_path):
    return _write(tmp_path / "extra-empty.json", [])


# The bundled file.


def test_the_bundled_extra_file_names_exactly_the_listed_servers():
    document = json.loads((resources.files("lapsewatch") / "data" / "rdap_extra.json").read_text())
    assert document["publication"] == "2026-01-15T00:00:00Z"
    assert document["description"]
    assert "override list" in document["source"]
    named = {label: urls for labels, urls in document["services"] for label in labels}
    assert named == {tld: [url] for tld, url in EXTRA.items()}
    assert Bootstrap.load().extra == {tld: [url] for tld, url in EXTRA.items()}


def test_each_bundled_extra_entry_fills_a_gap_in_the_bundled_iana_snapshot():
    # When this fails, IANA's file has caught up: drop the TLD from data/rdap_extra.json.
    iana = Bootstrap.load().services
    assert not set(EXTRA) & set(iana)


def test_the_bundled_extra_file_names_no_tld_the_tests_and_the_demo_make_up():
    assert not {"test", "example", "invalid", "localhost", "zzz", "zzzz"} & set(Bootstrap.load().extra)


def test_the_bundled_files_together():
    bootstrap = Bootstrap.load()
    assert bootstrap.servers_for("example.com") == ["https://rdap.verisign.com/com/v1/"]
    assert bootstrap.servers_for("XN--BCHER-KVA.DE.") == ["https://rdap.denic.de/"]
    assert bootstrap.servers_for("mail.startup.io") == [IDENTITY]
    assert bootstrap.servers_for("example.co") == ["https://rdap.registry.co/co/"]
    assert bootstrap.servers_for("example.invalid-tld") == []
    assert bootstrap.source == "bundled lapsewatch/data/rdap_dns.json"
    assert bootstrap.extra_source == "bundled lapsewatch/data/rdap_extra.json"


# The merge: IANA's file wins, the extra file fills gaps.


def test_iana_wins_where_both_name_a_tld(tmp_path):
    iana = _write(tmp_path / "dns.json", [[["de", "com"], ["http://127.0.0.1:1/iana/"]]])
    bootstrap = Bootstrap.load(iana)  # with the bundled extra file, which names .de too
    assert bootstrap.servers_for("example.de") == ["http://127.0.0.1:1/iana/"]
    assert bootstrap.servers_for("example.com") == ["http://127.0.0.1:1/iana/"]
    assert bootstrap.servers_for("example.io") == [IDENTITY]  # a gap: the extra file's
    assert bootstrap.servers_for("example.org") == []  # neither: a custom IANA file replaces the snapshot


def test_iana_wins_at_any_suffix(tmp_path):
    iana = _write(tmp_path / "dns.json", [[["uk"], ["https://iana-uk.example/"]], [["jp"], ["https://jp/"]]])
    extra = _write(
        tmp_path / "extra.json",
        [[["co.uk", "io"], ["https://extra-co-uk.example/"]], [["ne.jp"], ["https://extra-ne-jp/"]]],
    )
    bootstrap = Bootstrap.load(iana, extra=extra)
    # IANA serves every .uk name, so a longer suffix in the extra file does not take co.uk over.
    assert bootstrap.servers_for("shop.example.co.uk") == ["https://iana-uk.example/"]
    assert bootstrap.servers_for("example.ne.jp") == ["https://jp/"]
    assert bootstrap.servers_for("example.io") == ["https://extra-co-uk.example/"]


def test_the_extra_file_fills_a_suffix_iana_leaves_open(tmp_path):
    iana = _write(tmp_path / "dns.json", [[["co.uk"], ["https://iana-co-uk.example/"]]])
    extra = _write(tmp_path / "extra.json", [[["uk"], ["https://extra-uk.example/"]]])
    bootstrap = Bootstrap.load(iana, extra=extra)
    assert bootstrap.servers_for("example.co.uk") == ["https://iana-co-uk.example/"]
    assert bootstrap.servers_for("example.org.uk") == ["https://extra-uk.example/"]
    assert bootstrap.servers_for("example.uk") == ["https://extra-uk.example/"]


def test_an_extra_file_replaces_the_bundled_one(tmp_path):
    extra = _write(tmp_path / "extra.json", [[["zz"], ["https://rdap.zz.example/"]]])
    bootstrap = Bootstrap.load(None, extra=extra)
    assert bootstrap.servers_for("example.zz") == ["https://rdap.zz.example/"]
    assert bootstrap.servers_for("example.de") == []  # the bundled extra file is not read
    assert bootstrap.servers_for("example.com") == ["https://rdap.verisign.com/com/v1/"]
    assert bootstrap.extra_source == str(extra)


def test_an_empty_extra_file_leaves_iana_alone(empty_extra):
    bootstrap = Bootstrap.load(extra=empty_extra)
    assert bootstrap.extra == {}
    assert bootstrap.servers_for("example.de") == []
    assert bootstrap.servers_for("example.com") == ["https://rdap.verisign.com/com/v1/"]


def test_from_json_and_with_extra():
    iana = Bootstrap.from_json({"services": [[["com"], ["https://iana/"]]]})
    assert iana.extra == {} and iana.servers_for("a.de") == []
    extra = Bootstrap.from_json({"services": [[["com", "de"], ["https://extra/"]]]}, source="mine")
    both = iana.with_extra(extra)
    assert both.servers_for("a.com") == ["https://iana/"]
    assert both.servers_for("a.de") == ["https://extra/"]
    assert both.extra_source == "mine"
    assert iana.servers_for("a.de") == []  # with_extra makes a new Bootstrap


def test_a_domain_served_only_by_the_extra_file_is_looked_up_there(tmp_path):
    # No request: the server is plain http to somewhere else, which is refused before sending.
    iana = _write(tmp_path / "dns.json", [])
    extra = _write(tmp_path / "extra.json", [[["zz"], ["http://rdap.zz.example/"]]])
    provider = RdapProvider(Bootstrap.load(iana, extra=extra), limiter=RateLimiter(1000))
    assert provider.serves("example.zz")
    observation = provider.lookup("example.zz")
    assert observation.lifecycle is Lifecycle.UNKNOWN
    assert "plain http, which is refused: http://rdap.zz.example/" in observation.error


def test_with_an_empty_extra_file_an_extra_tld_is_not_served(tmp_path, empty_extra):
    iana = _write(tmp_path / "dns.json", [[["com"], ["http://127.0.0.1:1/"]]])
    provider = RdapProvider(Bootstrap.load(iana, extra=empty_extra), limiter=RateLimiter(1000))
    assert not provider.serves("example.de")
    assert provider.lookup("example.de").error == "no RDAP server for .de in the bootstrap file"


# Bad extra files: refused, naming the file.


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ("not json", "is not JSON"),
        ("[]", "the top level is not a JSON object"),
        ("{}", 'no "services" list'),
        ('{"services": [[["de"], []]]}', r"services\[0\]\[1\] is not a list of URLs"),
        ('{"services": [[["de"], ["ftp://rdap.example/"]]]}', "not an http"),
    ],
)
def test_a_bad_extra_file_is_refused_naming_it(tmp_path, content, why):
    path = tmp_path / "extra.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=why) as raised:
        Bootstrap.load(extra=path)
    assert f"the extra RDAP bootstrap file {path}" in str(raised.value)


def test_a_missing_extra_file_is_refused_naming_it(tmp_path):
    path = tmp_path / "absent.json"
    with pytest.raises(ValueError, match=f"cannot read the extra RDAP bootstrap file {path}"):
        Bootstrap.load(extra=path)


def test_a_bad_iana_file_is_still_named_as_such(tmp_path, empty_extra):
    path = tmp_path / "dns.json"
    path.write_text("[]")
    with pytest.raises(ValueError, match=f"^the RDAP bootstrap file {path} is not in RFC 9224 shape"):
        Bootstrap.load(path, extra=empty_extra)


# Through the settings.


def test_the_settings_pass_the_extra_file_on(tmp_path):
    extra = _write(tmp_path / "extra.json", [[["zz"], ["https://rdap.zz.example/"]]])
    chain = ProviderSettings.from_env({}, rdap_extra=extra).build()
    assert chain.provider_for("example.zz").name == "rdap"
    assert chain.provider_for("example.de") is None
    chain = ProviderSettings.from_env({"LAPSEWATCH_RDAP_EXTRA": str(extra)}).build()
    assert chain.provider_for("example.zz").name == "rdap"
    assert ProviderSettings.from_env({}).build().provider_for("example.de").name == "rdap"


def test_the_settings_refuse_a_missing_extra_file(tmp_path):
    with pytest.raises(ValueError, match="extra RDAP bootstrap file not found"):
        ProviderSettings.from_env({}, rdap_extra=tmp_path / "absent.json")
