"""`lapsewatch check` with the DNS witness, against a loopback RDAP server and a loopback
authoritative DNS (a signed root and TLDs), as the acceptance tests drive it:
``lapsewatch check --json --rdap-bootstrap FILE --dns-root ADDR:PORT --dns-trust-anchor FILE TARGET…``.
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from cli_process import lapsewatch

from lapsewatch.check import DomainChecker
from lapsewatch.lifecycle import Lifecycle
from lapsewatch.providers.domainr import DomainrProvider
from lapsewatch.providers.factory import ProviderSettings
from lapsewatch_tools.cli import main
from lapsewatch_tools.local.dns_server import LoopbackDns
from lapsewatch_tools.local.fastly_server import LoopbackFastly
from lapsewatch_tools.local.rdap_server import DomainAnswer, LoopbackRdap

pytestmark = pytest.mark.integration

# Each lapse, and how its test domains are named.
LAPSES = {"redemption": "redemption", "pending_delete": "pending-delete", "unregistered": "unregistered"}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dns-cli")
    with LoopbackRdap() as rdap, LoopbackDns() as dns_server:
        rdap.add_registry("reg", tlds=["test", "faulty", "com"])
        dns_server.add_zone(".")
        dns_server.add_zone("test", nsec3=True, opt_out=True)
        dns_server.add_zone("com", nsec3=True, opt_out=True)
        dns_server.add_zone("faulty")
        for lifecycle in ("redemption", "pending_delete"):
            for prefix in ("held", "gone"):
                rdap.set_domain(f"{prefix}-{LAPSES[lifecycle]}.test", DomainAnswer.for_lifecycle(lifecycle))
            rdap.set_domain(f"x-{LAPSES[lifecycle]}.faulty", DomainAnswer.for_lifecycle(lifecycle))
        for label in LAPSES.values():
            dns_server.delegate(f"held-{label}.test")  # the RDAP server's lapse, still in the zone
        dns_server.delegate("x-redemption.faulty")
        yield {
            "rdap": rdap,
            "dns": dns_server,
            "bootstrap": rdap.bootstrap_file(folder / "dns.json"),
            "anchor": dns_server.trust_anchor_file(folder / "root.ds"),
        }


@pytest.fixture
def faults(world):
    yield world["dns"]
    world["dns"].set_fault("faulty", None)


def options(world, *extra):
    return [
        "--json",
        "--rdap-bootstrap",
        str(world["bootstrap"]),
        "--rdap-rate",
        "50",
        "--dns-root",
        world["dns"].root,
        "--dns-trust-anchor",
        str(world["anchor"]),
        *extra,
    ]


def check(capsys, world, *targets, extra=()):
    status = main(["check", *options(world, *extra), *targets])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    return status, {line["input"]: line for line in lines}


@pytest.mark.parametrize("lifecycle", LAPSES)
def test_a_lapse_the_tld_still_delegates_is_never_unsafe(capsys, world, lifecycle):
    status, results = check(capsys, world, f"held-{LAPSES[lifecycle]}.test")
    result = results[f"held-{LAPSES[lifecycle]}.test"]
    assert status == 3
    assert result["lifecycle"] == "unknown" and not result["unsafe"]
    assert "RDAP server" in result["reason"] and "DNS contradicts" in result["reason"]
    assert result["dns"]["delegated"] is True and result["dns"]["validated"] is True
    assert result["dns"]["servers_asked"]


@pytest.mark.parametrize("lifecycle", LAPSES)
def test_a_lapse_the_tld_denies_is_unsafe(capsys, world, lifecycle):
    status, results = check(capsys, world, f"gone-{LAPSES[lifecycle]}.test")
    result = results[f"gone-{LAPSES[lifecycle]}.test"]
    assert status == 1
    assert result["lifecycle"] == lifecycle and result["unsafe"]
    assert result["dns"]["delegated"] is False and result["dns"]["validated"] is True
    assert "opt-out" in result["dns"]["reason"]


def test_a_healthy_domain_asks_no_dns(capsys, world):
    world["rdap"].set_domain("healthy.test", DomainAnswer.for_lifecycle("active"))
    before = sum(world["dns"].queries.values())
    status, results = check(capsys, world, "healthy.test")
    assert status == 0 and results["healthy.test"]["dns"] is None
    assert sum(world["dns"].queries.values()) == before


@pytest.mark.parametrize("fault", ["timeout", "servfail", "forged_denial"])
def test_a_silent_failing_or_forging_tld_makes_doubt(capsys, faults, world, fault):
    faults.set_fault("faulty", fault)
    status, results = check(capsys, world, "x-pending-delete.faulty")
    result = results["x-pending-delete.faulty"]
    assert status == 3
    assert result["lifecycle"] == "unknown" and not result["unsafe"]
    assert "the DNS" in result["reason"]
    if fault == "forged_denial":
        assert result["dns"]["delegated"] is False and result["dns"]["validated"] is False
    else:
        assert result["dns"]["delegated"] is None


def test_the_witness_turned_off_believes_the_provider(capsys, world):
    status, results = check(capsys, world, "held-redemption.test", extra=("--dns-witness", "off"))
    assert status == 1 and results["held-redemption.test"]["dns"] is None


def test_a_process_of_its_own_takes_the_environment(world):
    done = lapsewatch(
        "check",
        "--json",
        "--rdap-bootstrap",
        str(world["bootstrap"]),
        "held-redemption.test",
        "gone-redemption.test",
        extra_env={
            "LAPSEWATCH_DNS_ROOT": world["dns"].root,
            "LAPSEWATCH_DNS_TRUST_ANCHOR": str(world["anchor"]),
        },
    )
    results = {line["input"]: line for line in map(json.loads, done.stdout.splitlines())}
    assert done.returncode == 1, done.stderr
    assert results["held-redemption.test"]["lifecycle"] == "unknown"
    assert results["gone-redemption.test"]["unsafe"]


def test_a_bad_trust_anchor_is_a_usage_error(capsys, world, tmp_path):
    anchor = tmp_path / "bad.ds"
    anchor.write_text("com. DS 1 8 2 AB\n")
    try:
        status = main(["check", "--dns-trust-anchor", str(anchor), "gone.test"])
    except SystemExit as exit_:  # argparse's own exit, for a value its type refuses
        status = exit_.code
    assert status == 2
    assert "not a trust anchor" in capsys.readouterr().err


# Fastly's and Domainr's lapses pass through the same witness.


def witness_for(world):
    settings = ProviderSettings.from_env(
        {}, dns_roots=[world["dns"].root], dns_trust_anchor=world["anchor"], allow_loopback_http=True
    )
    return settings.build_witness()


@pytest.mark.parametrize(
    ("status", "lifecycle"), [("undelegated inactive", "unregistered"), ("deleting", "redemption")]
)
def test_fastly_lapses_need_the_dns(world, status, lifecycle):
    from lapsewatch.providers.fastly import FastlyProvider

    world["dns"].delegate(f"fastly-held-{lifecycle}.com")
    with LoopbackFastly() as fastly:
        provider = FastlyProvider(api_key=fastly.api_key, base_url=fastly.url, allow_loopback_http=True)
        checker = DomainChecker(provider, witness=witness_for(world), confirm_delay=0)
        for prefix in ("held", "gone"):
            fastly.set_status(f"fastly-{prefix}-{lifecycle}.com", status)
        held = checker.check(f"fastly-held-{lifecycle}.com")
        gone = checker.check(f"fastly-gone-{lifecycle}.com")
    assert held.lifecycle is Lifecycle.UNKNOWN and not held.unsafe and held.contradicted_by_dns
    assert "Fastly" in held.reason
    assert gone.lifecycle == lifecycle and gone.unsafe


class _Domainr(BaseHTTPRequestHandler):
    statuses: dict = {}

    def do_GET(self):
        domain = parse_qs(urlsplit(self.path).query).get("domain", [""])[0]
        status = self.statuses.get(domain, "active")
        body = json.dumps(
            {"status": [{"domain": domain, "zone": "com", "status": status, "summary": status.split()[-1]}]}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.mark.parametrize(
    ("status", "lifecycle"), [("undelegated inactive", "unregistered"), ("deleting", "redemption")]
)
def test_domainr_lapses_need_the_dns(world, status, lifecycle):
    world["dns"].delegate(f"domainr-held-{lifecycle}.com")
    stub = ThreadingHTTPServer(("127.0.0.1", 0), _Domainr)
    threading.Thread(target=stub.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        for prefix in ("held", "gone"):
            _Domainr.statuses[f"domainr-{prefix}-{lifecycle}.com"] = status
        provider = DomainrProvider(
            base_url=f"http://127.0.0.1:{stub.server_address[1]}", allow_loopback_http=True, client_id="id"
        )
        checker = DomainChecker(provider, witness=witness_for(world), confirm_delay=0)
        held = checker.check(f"domainr-held-{lifecycle}.com")
        gone = checker.check(f"domainr-gone-{lifecycle}.com")
    finally:
        stub.shutdown()
        stub.server_close()
    assert held.lifecycle is Lifecycle.UNKNOWN and not held.unsafe and "Domainr" in held.reason
    assert gone.lifecycle == lifecycle and gone.unsafe
