"""`lapsewatch run` with the DNS witness: a whole sweep, in a process of its own, against a
loopback RDAP server and a loopback authoritative DNS named by --dns-root and --dns-trust-anchor."""

import json
from datetime import UTC, datetime

import pytest
from cli_process import lapsewatch

from lapsewatch_tools.local.dns_server import LoopbackDns
from lapsewatch_tools.local.rdap_server import DomainAnswer, LoopbackRdap
from lapsewatch_tools.registry.server import RegistryServer

pytestmark = pytest.mark.e2e

OLD = datetime(2012, 5, 1, tzinfo=UTC)


def test_a_sweep_unverifies_only_the_lapses_the_dns_agrees_with(tmp_path):
    with RegistryServer() as registry, LoopbackRdap() as rdap, LoopbackDns() as dns_server:
        registry.load_seed(
            json.dumps(
                {
                    "user": user,
                    "email": f"{user}@{domain}",
                    "verified": True,
                    "verified_at": "2019-01-01T00:00:00Z",
                }
            )
            for user, domain in (
                ("a", "safe.test"),
                ("b", "lapsed.test"),
                ("c", "held.test"),
                ("d", "gone.test"),
            )
        )
        rdap.add_registry("reg", tlds=["test"])
        rdap.set_domain("safe.test", DomainAnswer.for_lifecycle("active", registered_at=OLD))
        for domain in ("lapsed.test", "held.test"):
            rdap.set_domain(domain, DomainAnswer.for_lifecycle("redemption", registered_at=OLD))
        dns_server.add_zone(".")
        dns_server.add_zone("test", nsec3=True, opt_out=True)
        for domain in ("safe.test", "held.test"):
            dns_server.delegate(domain)
        process = lapsewatch(
            "run",
            "--json",
            "--registry-url",
            registry.url,
            "--rdap-bootstrap",
            str(rdap.bootstrap_file(tmp_path / "dns.json")),
            "--rdap-rate",
            "50",
            "--dns-root",
            dns_server.root,
            "--dns-trust-anchor",
            str(dns_server.trust_anchor_file(tmp_path / "root.ds")),
            token=registry.token,
        )
        assert process.returncode == 0, process.stderr
        summary = json.loads(process.stdout.strip().splitlines()[-1])
        unverified = {entry["domain"] for entry in registry.app.store.audit()}
    assert summary["unsafe"] == ["gone.test", "lapsed.test"]
    assert summary["by_lifecycle"]["unknown"] == 1
    assert summary["settings"]["dns_witness"] is True
    assert sum(summary["dns_contradictions"].values()) == 1
    assert unverified == {"gone.test", "lapsed.test"}  # held.test's address stays verified


def test_a_sweep_with_the_witness_off_says_so(tmp_path):
    with RegistryServer() as registry, LoopbackRdap() as rdap:
        registry.load_seed(
            [
                json.dumps(
                    {
                        "user": "a",
                        "email": "a@safe.test",
                        "verified": True,
                        "verified_at": "2019-01-01T00:00:00Z",
                    }
                )
            ]
        )
        rdap.add_registry("reg", tlds=["test"])
        rdap.set_domain("safe.test", DomainAnswer.for_lifecycle("active", registered_at=OLD))
        process = lapsewatch(
            "run",
            "--json",
            "--registry-url",
            registry.url,
            "--rdap-bootstrap",
            str(rdap.bootstrap_file(tmp_path / "dns.json")),
            "--dns-witness",
            "off",
            token=registry.token,
        )
    assert process.returncode == 0, process.stderr
    summary = json.loads(process.stdout.strip().splitlines()[-1])
    assert summary["settings"]["dns_witness"] is False
    assert any("DNS witness is off" in warning for warning in summary["warnings"])
