"""The bundled WHOIS table: which TLDs it serves, what each can show, and its shape."""

import json
from importlib import resources

import pytest

from lapsewatch.providers.factory import ProviderSettings
from lapsewatch.providers.rdap_bootstrap import Bootstrap
from lapsewatch.providers.whois_rules import WhoisTable

DOCUMENT = json.loads((resources.files("lapsewatch") / "data" / "whois.json").read_text(encoding="utf-8"))
TABLE = WhoisTable.load()
# The issue's list of TLDs without RDAP, less .es (registration required) and .gr (no WHOIS).
NAMED = [
    "at",
    "be",
    "bg",
    "dk",
    "ee",
    "eu",
    "hr",
    "hu",
    "ie",
    "it",
    "lt",
    "lu",
    "lv",
    "pt",
    "ro",
    "rs",
    "se",
    "sk",
    "ru",
    "by",
    "jp",
    "cn",
    "kr",
    "hk",
    "il",
    "ae",
    "sa",
    "tr",
    "mx",
    "pe",
    "cl",
    "nz",
    "edu",
]
IDN_TWINS = {
    "xn--p1ai": "ru",
    "xn--fiqs8s": "cn",
    "xn--j6w193g": "hk",
    "xn--3e0b707e": "kr",
    "xn--90ais": "by",
    "xn--d1alf": "mk",
    "xn--q7ce6a": "la",
}


# The rest of the issue's list, each left out for a reason the README gives: no public port-43
# service at the TLD (.es needs registration; IANA names none for .gr, .bd, .ph, .vn, .za), one
# that answers for part of the TLD only (.uy: not for com.uy), or no public answer sample to
# write strict rules from (.pk).
ISSUE_UNSERVED = {"es", "gr", "bd", "ph", "pk", "vn", "za", "uy"}


def test_the_table_serves_the_tlds_the_issue_names():
    assert set(NAMED) <= set(TABLE.rules)
    assert not ISSUE_UNSERVED & set(TABLE.rules)


@pytest.mark.parametrize(("idn", "twin"), sorted(IDN_TWINS.items()))
def test_idn_cctlds_share_their_ascii_twins_server_and_rules(idn, twin):
    assert TABLE.rules[idn].server == TABLE.rules[twin].server
    assert TABLE.rules[idn].sees == TABLE.rules[twin].sees


def test_each_tld_fills_a_gap_in_the_rdap_files():
    # When this fails, the registry runs RDAP now: RDAP answers first in the default chain, and
    # the TLD can leave the table.
    bootstrap = Bootstrap.load()
    assert not set(TABLE.rules) & (set(bootstrap.services) | set(bootstrap.extra))


def test_each_entry_names_its_server_its_policy_and_something_unsafe_it_can_show():
    for tld, rules in TABLE.rules.items():
        assert rules.server and "." in rules.server, tld
        assert rules.policy and rules.policy.startswith("https://"), tld
        assert set(rules.sees) & {"redemption", "pending_delete", "unregistered", "reregistered"}, tld
        assert 0 < rules.rate <= 1, tld  # conservative: registries ban clients that ask too fast


def test_the_nz_creation_date_is_the_current_registration():
    assert TABLE.rules["nz"].created_field == frozenset({"creation date"})


def test_what_some_registries_can_show():
    assert TABLE.rules["it"].sees == ("redemption", "pending_delete", "unregistered", "reregistered")
    assert TABLE.rules["at"].sees == ("unregistered",)
    assert TABLE.rules["eu"].sees == ("unregistered",)
    assert TABLE.rules["ru"].sees == ("unregistered", "reregistered")
    assert "redemption" in TABLE.rules["se"].sees and "redemption" in TABLE.rules["dk"].sees


def test_the_default_chain_is_rdap_then_whois():
    chain = ProviderSettings.from_env({}).build()
    assert chain.name == "rdap,whois"
    assert chain.provider_for("example.it").name == "whois"
    assert chain.provider_for("example.com").name == "rdap"
    assert chain.provider_for("example.es") is None


def test_the_document_says_where_its_servers_come_from():
    assert DOCUMENT["servers_from"] == "https://www.iana.org/domains/root/db"
    assert DOCUMENT["publication"]


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        ({"server": "whois.example"}, "no unsafe lifecycle"),
        ({"server": "who is", "not_found": ["No match"]}, "not a host name"),
        ({"server": "whois.example", "not_found": ["No match"], "query": "ask"}, "holding {domain}"),
        (
            {"server": "whois.example", "not_found": ["No match"], "encodings": ["klingon"]},
            "unknown encoding",
        ),
        ({"server": "whois.example", "status": "Status", "statuses": {"x": "sideways"}}, "not a lifecycle"),
        ({"server": "whois.example", "statuses": {"x": "active"}}, 'without a "status" field'),
        ({"server": "whois.example", "created": "Created"}, "go together"),
        ({"server": "whois.example", "not_found": [" padded "]}, "trimmed"),
        ({"server": "whois.example", "not_found": ["No match"], "rate": 0}, "rate"),
        ({"server": "whois.example", "not_found": ["No match"], "colour": "red"}, "unknown keys"),
    ],
)
def test_a_bad_entry_is_refused_naming_the_tld_and_why(entry, why):
    with pytest.raises(ValueError, match=f"\\.zz: .*{why}"):
        WhoisTable.from_json({"tlds": {"zz": entry}})


def test_a_table_file_replaces_the_bundled_one(tmp_path):
    path = tmp_path / "whois.json"
    path.write_text(json.dumps({"tlds": {"zz": {"server": "whois.zz.example", "not_found": ["No match"]}}}))
    settings = ProviderSettings.from_env({"LAPSEWATCH_WHOIS_TABLE": str(path)})
    chain = settings.build()
    assert chain.provider_for("example.zz").name == "whois"
    assert chain.provider_for("example.it") is None


def test_a_server_override_for_a_tld_the_table_does_not_serve_is_refused():
    with pytest.raises(ValueError, match=r"does not serve \.fr"):
        ProviderSettings.from_env({"LAPSEWATCH_WHOIS_SERVERS": "fr=127.0.0.1:4343"})


@pytest.mark.parametrize(
    "text", ["it", "it=", "=127.0.0.1", "IT=127.0.0.1", "co.nz=127.0.0.1", "it=host:port"]
)
def test_a_malformed_server_override_is_refused(text):
    with pytest.raises(ValueError):
        ProviderSettings.from_env({"LAPSEWATCH_WHOIS_SERVERS": text})


def test_server_overrides_are_for_local_runs_only():
    env = {"LAPSEWATCH_WHOIS_SERVERS": "it=127.0.0.1:4343", "AWS_LAMBDA_FUNCTION_NAME": "CheckerFunction"}
    with pytest.raises(ValueError, match="Lambda function refuses it"):
        ProviderSettings.from_env(env)
    servers = ProviderSettings.from_env({"LAPSEWATCH_WHOIS_SERVERS": "it=127.0.0.1:4343, jp=[::1]:43"})
    assert dict(servers.whois_servers) == {"it": ("127.0.0.1", 4343), "jp": ("::1", 43)}
