"""The WHOIS provider end to end, against a loopback WHOIS server playing registries' formats and
hostile servers: ``lapsewatch check --json --whois-server TLD=127.0.0.1:PORT TARGET…``."""

import json
from datetime import UTC, datetime

import pytest

from lapsewatch.lifecycle import Lifecycle
from lapsewatch.providers.whois import Backoff, WhoisProvider
from lapsewatch.providers.whois_rules import WhoisTable
from lapsewatch.ratelimit import RateLimiter
from lapsewatch_tools.cli import main
from lapsewatch_tools.local.whois_server import LoopbackWhois

pytestmark = pytest.mark.integration

VERIFIED = "2020-01-01T00:00:00Z"


@pytest.fixture
def whois():
    with LoopbackWhois() as server:
        yield server


def _check(capsys, server, *targets, tlds=("it", "jp", "nz", "se", "dk", "be", "eu", "ru"), extra=()):
    arguments = ["check", "--json", "--verified-at", VERIFIED, *extra]
    for tld in tlds:
        arguments += ["--whois-server", f"{tld}={server.endpoint()}"]
    status = main([*arguments, *targets])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    return status, {line["domain"]: line for line in lines}


@pytest.mark.parametrize(
    ("domain", "state", "lifecycle"),
    [
        ("fornaio.it", "registered", "active"),
        ("fornaio.it", "grace", "grace"),
        ("fornaio.it", "hold", "hold"),
        ("fornaio.it", "redemption", "redemption"),
        ("fornaio.it", "pending_delete", "pending_delete"),
        ("fornaio.it", "unregistered", "unregistered"),
        ("sakura.jp", "registered", "active"),
        ("sakura.jp", "redemption", "redemption"),
        ("sakura.jp", "unregistered", "unregistered"),
        ("kiwi.co.nz", "redemption", "redemption"),
        ("kiwi.co.nz", "pending_delete", "pending_delete"),
        ("kiwi.co.nz", "unregistered", "unregistered"),
        ("smorgas.se", "redemption", "redemption"),
        ("smorgas.se", "unregistered", "unregistered"),
        ("rugbrod.dk", "redemption", "redemption"),
        ("wafel.be", "redemption", "redemption"),
        ("brot.eu", "unregistered", "unregistered"),
        ("brot.eu", "registered", "active"),
        ("pirog.ru", "unregistered", "unregistered"),
    ],
)
def test_each_lapse_the_table_says_a_tld_shows_is_caught(capsys, whois, domain, state, lifecycle):
    whois.set_state(domain, state)
    status, results = _check(capsys, whois, domain)
    result = results[domain]
    assert result["lifecycle"] == lifecycle
    assert result["provider"] == "whois"
    assert result["source"] == whois.endpoint()
    assert result["unsafe"] is (lifecycle in {"redemption", "pending_delete", "unregistered"})
    assert status == (1 if result["unsafe"] else 0)


def test_an_unsafe_verdict_is_confirmed_by_a_second_lookup(capsys, whois):
    whois.set_state("fornaio.it", "redemption")
    _check(capsys, whois, "fornaio.it")
    assert whois.asked("fornaio.it") == [b"fornaio.it\r\n", b"fornaio.it\r\n"]


def test_a_registration_after_the_verification_is_reregistered(capsys, whois):
    whois.set_state("fornaio.it", "registered", created=datetime(2025, 8, 6, 16, tzinfo=UTC))
    status, results = _check(capsys, whois, "fornaio.it")
    assert results["fornaio.it"]["lifecycle"] == "reregistered"
    assert results["fornaio.it"]["registered_at"] == "2025-08-06T16:00:00Z"
    assert status == 1


def test_nz_reads_its_current_registration_not_the_original(capsys, whois):
    # The loopback's .nz answers say Original Created 2001, Creation Date as set.
    whois.set_state("kiwi.co.nz", "registered", created=datetime(2024, 11, 2, tzinfo=UTC))
    _, results = _check(capsys, whois, "kiwi.co.nz")
    assert results["kiwi.co.nz"]["lifecycle"] == "reregistered"


def test_queries_are_one_crlf_line_with_the_tables_affixes_one_per_connection(capsys, whois):
    _check(capsys, whois, "sakura.jp", "fornaio.it")
    assert sorted(whois.queries) == [b"fornaio.it\r\n", b"sakura.jp/e\r\n"]


def test_idn_names_are_asked_as_a_labels(capsys, whois):
    _, results = _check(capsys, whois, "smörgås.se")
    assert results["xn--smrgs-pra0j.se"]["lifecycle"] == "active"
    assert whois.queries == [b"xn--smrgs-pra0j.se\r\n"]


@pytest.mark.parametrize(
    ("fault", "why"),
    [
        ("rate_limit", "refused the query"),
        ("endless", "over 64 KiB"),
        ("wrong_encoding", "does not decode"),
        ("other_name", "is about 'someone-else.it'"),
        ("referral", "no record of"),
        ("close", "the answer is empty"),
    ],
)
def test_hostile_answers_are_doubt(capsys, whois, fault, why):
    whois.set_fault("fornaio.it", fault)
    status, results = _check(capsys, whois, "fornaio.it")
    assert results["fornaio.it"]["lifecycle"] == "unknown"
    assert why in results["fornaio.it"]["reason"]
    assert status == 3


def test_a_server_trickling_its_answer_is_cut_off(capsys, whois):
    whois.set_fault("fornaio.it", "trickle")
    _, results = _check(capsys, whois, "fornaio.it")
    assert results["fornaio.it"]["lifecycle"] == "unknown"
    assert "timed out" in results["fornaio.it"]["reason"]
    assert len(whois.asked("fornaio.it")) == 1  # a query that ran out of time is not asked again


def test_a_server_saying_no_match_for_every_name_is_caught_only_with_two_agreeing_lookups(capsys, whois):
    # WHOIS alone cannot tell this server from a registry: the DNS witness, in the checker, is
    # what stops it (tests/integration/test_dns_witness*.py and the check tests below).
    whois.fault_all = "no_match"
    provider = WhoisProvider(
        WhoisTable.load(), servers={"it": ("127.0.0.1", whois.port)}, allow_loopback=True
    )
    observation = provider.lookup("fornaio.it")
    assert observation.lifecycle is Lifecycle.UNREGISTERED


def test_after_a_refusal_the_server_is_left_alone(whois):
    whois.set_fault("fornaio.it", "rate_limit")
    provider = WhoisProvider(
        WhoisTable.load(), servers={"it": ("127.0.0.1", whois.port)}, allow_loopback=True, backoff=Backoff()
    )
    assert "refused the query" in (provider.lookup("fornaio.it").error or "")
    again = provider.lookup("pane.it")
    assert again.lifecycle is Lifecycle.UNKNOWN
    assert "refused a query lately" in (again.error or "")
    assert whois.asked("pane.it") == []


def test_every_query_waits_for_the_servers_rate_limit(whois):
    waits: list[float] = []
    limiter = RateLimiter(1.0, sleep=waits.append)
    provider = WhoisProvider(
        WhoisTable.load(),
        servers={"it": ("127.0.0.1", whois.port)},
        allow_loopback=True,
        limiter_for=lambda rules: limiter,
    )
    for name in ("uno.it", "due.it", "tre.it"):
        assert provider.lookup(name).lifecycle is Lifecycle.ACTIVE
    assert len(waits) == 2  # the first query goes at once, each other one waits for its slot


def test_the_functions_policy_refuses_loopback(whois):
    provider = WhoisProvider(WhoisTable.load(), servers={"it": ("127.0.0.1", whois.port)})
    observation = provider.lookup("fornaio.it")
    assert observation.lifecycle is Lifecycle.UNKNOWN
    assert "loopback" in (observation.error or "")
    assert whois.queries == []


def test_a_whois_server_for_a_tld_the_table_does_not_serve_is_a_usage_error(capsys):
    assert main(["check", "--whois-server", "fr=127.0.0.1:4343", "example.fr"]) == 2
    assert "does not serve .fr" in capsys.readouterr().err


def test_the_env_names_whois_servers_too(capsys, whois, monkeypatch):
    monkeypatch.setenv("LAPSEWATCH_WHOIS_SERVERS", f"it={whois.endpoint()}")
    whois.set_state("fornaio.it", "unregistered")
    assert main(["check", "--json", "fornaio.it"]) == 1
    assert json.loads(capsys.readouterr().out)["source"] == whois.endpoint()


def test_a_whois_table_file_replaces_the_bundled_one(capsys, whois, tmp_path):
    table = tmp_path / "whois.json"
    table.write_text(
        json.dumps(
            {"tlds": {"zz": {"server": "whois.zz.example", "domain": "Domain", "not_found": ["Gone"]}}}
        )
    )
    whois.set_answer("lapsed.zz", b"% zz registry\r\n\r\nGone\r\n")
    status, results = _check(capsys, whois, "lapsed.zz", tlds=("zz",), extra=["--whois-table", str(table)])
    assert results["lapsed.zz"]["lifecycle"] == "unregistered"
    assert status == 1


def test_a_whois_lapse_the_tlds_zone_still_delegates_is_never_unsafe(capsys, whois, tmp_path):
    """WHOIS is plain text: "no match", redemption or pending delete from the WHOIS server for a
    name the .it zone still delegates is doubt, naming both sources; the same answer for a name
    the zone denies is unsafe."""
    from lapsewatch_tools.local.dns_server import LoopbackDns

    whois.fault_all = "no_match"
    with LoopbackDns() as dns_server:
        dns_server.add_zone(".")
        dns_server.add_zone("it", nsec3=True, opt_out=True)
        dns_server.delegate("fornaio.it")
        anchor = dns_server.trust_anchor_file(tmp_path / "root.ds")
        extra = ("--dns-root", dns_server.root, "--dns-trust-anchor", str(anchor))
        status, results = _check(capsys, whois, "fornaio.it", "sparito.it", tlds=("it",), extra=extra)
    held, gone = results["fornaio.it"], results["sparito.it"]
    assert (held["lifecycle"], held["unsafe"]) == ("unknown", False)
    assert held["dns"]["delegated"] is True and "DNS" in held["reason"]
    assert (gone["lifecycle"], gone["unsafe"]) == ("unregistered", True)
    assert gone["dns"]["delegated"] is False
    assert status == 1


NEW_TLDS = ("xn--h2brj9c", "xn--45brj9c", "xn--mgbbh1a71e", "mk", "xn--d1alf", "ve")


@pytest.mark.parametrize(
    ("domain", "asked", "state", "lifecycle"),
    [
        # India's IDN ccTLDs: NIXI's EPP statuses; its "no match" is not read, so it is doubt.
        ("चायघर.भारत", "xn--41bd7df1e.xn--h2brj9c", "registered", "active"),
        ("चायघर.भारत", "xn--41bd7df1e.xn--h2brj9c", "redemption", "redemption"),
        ("चायघर.भारत", "xn--41bd7df1e.xn--h2brj9c", "pending_delete", "pending_delete"),
        ("चायघर.भारत", "xn--41bd7df1e.xn--h2brj9c", "hold", "hold"),
        ("चायघर.भारत", "xn--41bd7df1e.xn--h2brj9c", "unregistered", "unknown"),
        ("xn--41bd7df1e.xn--45brj9c", "xn--41bd7df1e.xn--45brj9c", "redemption", "redemption"),
        ("xn--mgbh0fb.xn--mgbbh1a71e", "xn--mgbh0fb.xn--mgbbh1a71e", "pending_delete", "pending_delete"),
        ("ajvar.mk", "ajvar.mk", "registered", "active"),
        ("ajvar.mk", "ajvar.mk", "unregistered", "unregistered"),
        ("ајвар.мкд", "xn--80aaf1d6f.xn--d1alf", "unregistered", "unregistered"),
        ("arepera.com.ve", "arepera.com.ve", "registered", "active"),
        ("arepera.com.ve", "arepera.com.ve", "hold", "hold"),
        ("arepera.com.ve", "arepera.com.ve", "unregistered", "unregistered"),
    ],
)
def test_the_new_tlds_lapses_are_caught_and_their_unread_answers_are_doubt(
    capsys, whois, domain, asked, state, lifecycle
):
    whois.set_state(asked, state)
    status, results = _check(capsys, whois, domain, tlds=NEW_TLDS)
    result = results[asked]
    assert result["lifecycle"] == lifecycle
    assert (result["provider"], result["source"]) == ("whois", whois.endpoint())
    assert result["unsafe"] is (lifecycle in {"redemption", "pending_delete", "unregistered"})
    assert whois.queries[0] == asked.encode() + b"\r\n"
    assert status == {"unknown": 3}.get(lifecycle, 1 if result["unsafe"] else 0)


def test_a_new_tlds_registration_after_the_verification_is_reregistered(capsys, whois):
    whois.set_state("xn--41bd7df1e.xn--h2brj9c", "registered", created=datetime(2025, 8, 6, 16, tzinfo=UTC))
    whois.set_state("ajvar.mk", "registered", created=datetime(2024, 2, 3, 4, 5, tzinfo=UTC))
    _, results = _check(capsys, whois, "xn--41bd7df1e.xn--h2brj9c", "ajvar.mk", tlds=NEW_TLDS)
    assert results["xn--41bd7df1e.xn--h2brj9c"]["lifecycle"] == "reregistered"
    assert results["ajvar.mk"]["lifecycle"] == "reregistered"
