"""The DNS witness against a loopback root and TLD servers: referrals, denials, signed and
unsigned zones, NSEC and NSEC3 (opt-out too), and servers that fail or lie."""

import dns.flags
import pytest

from lapsewatch.dns.roots import build_witness, parse_roots
from lapsewatch.dns.walker import DnsWitness, send_query
from lapsewatch.net.egress import EgressPolicy
from lapsewatch_tools.local.dns_server import LoopbackDns

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server():
    with LoopbackDns() as dns_server:
        dns_server.add_zone(".")
        dns_server.add_zone("test", nsec3=True, opt_out=True)  # like .com
        dns_server.add_zone("example")  # NSEC
        dns_server.add_zone("org", nsec3=True)  # NSEC3 without opt-out
        dns_server.add_zone("uk")
        dns_server.add_zone("co.uk", signed=False)  # a public suffix zone of its own, unsigned
        dns_server.add_zone("plain", signed=False)
        # Zones the uk servers hold too: they answer from them, with no referral.
        dns_server.add_zone("org.uk", served_with="uk")
        dns_server.add_zone("me.uk", served_with="uk", signed=False)
        dns_server.add_zone("faulty")
        # Served by a name in another zone: the root's referral has no glue, and the witness
        # finds the server's address from the root.
        dns_server.add_zone("glueless", name_server="ns.hoster.example")
        for domain in (
            "held.test",
            "held.example",
            "held.org",
            "corp.co.uk",
            "held.plain",
            "held.faulty",
            "held.glueless",
            "held.org.uk",
            "held.me.uk",
        ):
            dns_server.delegate(domain)
        yield dns_server


@pytest.fixture
def faulty(server):
    yield server
    server.set_fault("faulty", None)
    server.set_fault(".", None)


@pytest.fixture(scope="module")
def witness(server, tmp_path_factory):
    anchor = server.trust_anchor_file(tmp_path_factory.mktemp("dns") / "root.ds")
    return build_witness(parse_roots(server.root), anchor, allow_loopback=True)


@pytest.mark.parametrize(
    ("domain", "zone", "signed"),
    [
        ("held.test", "test", True),
        ("held.example", "example", True),
        ("held.org", "org", True),
        ("corp.co.uk", "co.uk", False),
        ("held.plain", "plain", False),
        ("held.glueless", "glueless", True),
        ("held.org.uk", "uk", True),  # the referral comes from org.uk, on the uk servers
        ("held.me.uk", "uk", True),
    ],
)
def test_a_delegated_name_is_delegated(witness, domain, zone, signed):
    evidence = witness.delegation(domain)
    assert evidence.delegated is True and not evidence.confirms_lapse
    assert evidence.zone == zone and evidence.signed is signed
    assert evidence.name_servers == ("ns1.dns-host.example", "ns2.dns-host.example")
    assert "still delegates" in evidence.reason


@pytest.mark.parametrize(
    ("domain", "zone", "validated", "opt_out"),
    [
        ("gone.test", "test", True, True),
        ("gone.example", "example", True, False),
        ("gone.org", "org", True, False),
        ("gone.co.uk", "co.uk", False, False),
        ("gone.plain", "plain", False, False),
        ("gone.nosuchtld", ".", True, False),
        ("gone.glueless", "glueless", True, False),
        ("gone.org.uk", "org.uk", True, False),
        ("gone.me.uk", "me.uk", False, False),
    ],
)
def test_a_denied_name_confirms_the_lapse(witness, domain, zone, validated, opt_out):
    evidence = witness.delegation(domain)
    assert evidence.delegated is False and evidence.confirms_lapse
    assert evidence.zone == zone and evidence.validated is validated
    assert ("opt-out" in evidence.reason) is opt_out
    assert ("unsigned" in evidence.reason) is (not validated)
    assert all(where.endswith(f":{witness.port}") for where in evidence.servers_asked)


def test_the_zone_cut_is_found_by_referrals_not_assumed(witness, server):
    evidence = witness.delegation("gone.co.uk")
    addresses = {where.rsplit(":", 1)[0] for where in evidence.servers_asked}
    assert addresses == {
        server.zones[name].address for name in server.zones if str(name) in (".", "uk.", "co.uk.")
    }


def test_queries_ask_for_no_recursion(server, witness):
    sent = []

    def transport(query, address, port, timeout):
        sent.append(query)
        return send_query(query, address, port, timeout)

    spy = DnsWitness(
        witness.roots, witness.trust_anchor, policy=witness.policy, port=witness.port, transport=transport
    )
    assert spy.delegation("gone.test").confirms_lapse
    assert sent and all(not query.flags & dns.flags.RD and query.ednsflags & dns.flags.DO for query in sent)


def test_a_forged_unsigned_denial_from_a_signed_zone_is_not_believed(faulty, witness):
    faulty.set_fault("faulty", "forged_denial")
    evidence = witness.delegation("held.faulty")
    assert evidence.delegated is False and evidence.signed is True and evidence.validated is False
    assert not evidence.confirms_lapse
    assert "did not prove it" in evidence.reason


@pytest.mark.parametrize(("fault", "words"), [("servfail", "SERVFAIL"), ("refused", "REFUSED")])
def test_a_failing_zone_is_no_answer(faulty, witness, fault, words):
    faulty.set_fault("faulty", fault)
    evidence = witness.delegation("gone.faulty")
    assert evidence.delegated is None and evidence.validated is None and not evidence.confirms_lapse
    assert words in evidence.reason


def test_a_silent_zone_is_no_answer_within_the_budget(faulty, witness):
    faulty.set_fault("faulty", "timeout")
    quick = DnsWitness(
        witness.roots,
        witness.trust_anchor,
        policy=witness.policy,
        port=witness.port,
        budget=1.0,
        try_timeout=0.2,
    )
    evidence = quick.delegation("gone.faulty")
    assert evidence.delegated is None and not evidence.confirms_lapse
    assert "timed out" in evidence.reason or "ran out of time" in evidence.reason


def test_a_referral_to_an_internal_address_is_never_followed(faulty, witness):
    faulty.set_fault(".", "lie_referral")
    evidence = witness.delegation("gone.faulty")
    assert evidence.delegated is None
    assert "169.254.169.254" in evidence.reason and "link-local" in evidence.reason
    assert not any(where.startswith("169.254.") for where in evidence.servers_asked)


def test_loopback_servers_are_refused_outside_local_runs(witness):
    strict = DnsWitness(
        witness.roots, witness.trust_anchor, policy=EgressPolicy(ports=frozenset({53})), port=witness.port
    )
    evidence = strict.delegation("gone.test")
    assert evidence.delegated is None and evidence.servers_asked == ()
    assert "loopback" in evidence.reason


def test_a_root_that_does_not_match_the_trust_anchor_proves_nothing(server, tmp_path):
    other = LoopbackDns(prefix="127.54.0.")
    other.add_zone(".")
    anchor = other.trust_anchor_file(tmp_path / "other.ds")
    witness = build_witness(parse_roots(server.root), anchor, allow_loopback=True)
    evidence = witness.delegation("gone.test")
    assert evidence.delegated is False and not evidence.confirms_lapse
    assert "keys did not validate" in evidence.reason
