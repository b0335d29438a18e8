"""`lapsewatch check` end to end, against loopback registries, as the acceptance tests drive it:
``lapsewatch check --json --rdap-bootstrap FILE --rdap-rate 50 TARGET…``.
"""

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lapsewatch_tools.cli import main
from lapsewatch_tools.local.rdap_server import DomainAnswer, LoopbackRdap

pytestmark = pytest.mark.integration

FIELDS = {
    "input",
    "domain",
    "lifecycle",
    "unsafe",
    "reason",
    "provider",
    "statuses",
    "registered_at",
    "expires_at",
    "checked_at",
    "error",
}
NOW = datetime.now(UTC)


@pytest.fixture(scope="module")
def bootstrap(tmp_path_factory):
    with LoopbackRdap() as server:
        server.add_registry("verisign", tlds=["com", "net"])
        server.add_registry("pir", tlds=["org"])
        server.add_registry("denic", tlds=["de"])
        server.add_registry("google", tlds=["app"])
        server.add_registry("registrar")
        server.set_domain("lost-referral.com", DomainAnswer.not_found_empty(), registry="registrar")
        server.set_domain(
            "referred-redemption.com",
            DomainAnswer.for_lifecycle("redemption", shape="registrar"),
            registry="registrar",
        )
        answers = {
            "active.com": DomainAnswer.for_lifecycle("active"),
            "grace.com": DomainAnswer.for_lifecycle("grace"),
            "expired.net": DomainAnswer.for_lifecycle("active", expires_at=NOW - timedelta(days=3)),
            "hold.org": DomainAnswer.for_lifecycle("hold"),
            "redemption.com": DomainAnswer.for_lifecycle("redemption"),
            "pending-delete.org": DomainAnswer.for_lifecycle("pending_delete"),
            "new-owner.com": DomainAnswer.for_lifecycle(
                "reregistered", registered_at=datetime(2026, 3, 1, tzinfo=UTC)
            ),
            "example.de": DomainAnswer.for_lifecycle("active", shape="cctld"),
            "flapping.com": DomainAnswer.flaky(
                DomainAnswer.for_lifecycle("redemption"), 1, DomainAnswer.for_lifecycle("active")
            ),
            "broken.net": DomainAnswer.malformed(),
            "verisign-404.com": DomainAnswer.not_found_empty(),
            "balancer-404.com": DomainAnswer.error_page(404),
            "lost-referral.com": DomainAnswer.redirect("/registrar/domain/{domain}"),
            "referred-redemption.com": DomainAnswer.redirect("/registrar/domain/{domain}"),
            "moved.com": DomainAnswer.redirect("/verisign/domain/unregistered.com"),
            "from-the-future.com": DomainAnswer.for_lifecycle(
                "active", registered_at=NOW + timedelta(days=30)
            ),
            "renewed.app": DomainAnswer.for_lifecycle(
                "active", registered_at=datetime(2019, 5, 8, tzinfo=UTC), shape="nomulus"
            ),
        }
        for domain, answer in answers.items():
            server.set_domain(domain, answer)
        yield server.bootstrap_file(tmp_path_factory.mktemp("rdap") / "dns.json")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in (
        "LAPSEWATCH_PROVIDER",
        "LAPSEWATCH_PROVIDERS",
        "LAPSEWATCH_RDAP_BOOTSTRAP",
        "LAPSEWATCH_RDAP_EXTRA",
        "LAPSEWATCH_RDAP_RATE",
    ):
        monkeypatch.delenv(name, raising=False)


def check(capsys, bootstrap, *targets, options=("--json",)):
    status = main(["check", *options, "--rdap-bootstrap", str(bootstrap), "--rdap-rate", "50", *targets])
    out = capsys.readouterr().out
    if "--json" not in options:
        return status, out
    return status, {line["input"]: line for line in map(json.loads, out.splitlines())}


def test_all_safe_exits_0(capsys, bootstrap):
    status, results = check(
        capsys,
        bootstrap,
        "active.com",
        "Someone@Hold.ORG",
        "grace.com",
        "expired.net",
        "user@mail.example.de",
    )
    assert status == 0
    assert {k: r["lifecycle"] for k, r in results.items()} == {
        "active.com": "active",
        "Someone@Hold.ORG": "hold",
        "grace.com": "grace",
        "expired.net": "grace",
        "user@mail.example.de": "active",
    }
    assert not any(r["unsafe"] for r in results.values())
    assert results["Someone@Hold.ORG"]["domain"] == "hold.org"
    assert "expired on" in results["expired.net"]["reason"]
    assert results["user@mail.example.de"]["registered_at"] is None  # a ccTLD without events


def test_any_unsafe_exits_1_with_the_evidence(capsys, bootstrap):
    status, results = check(
        capsys, bootstrap, "redemption.com", "pending-delete.org", "nobody@unregistered.com", "active.com"
    )
    assert status == 1
    for line in results.values():
        assert set(line) >= FIELDS
        assert line["provider"] == "rdap"
        datetime.fromisoformat(line["checked_at"])
    redemption = results["redemption.com"]
    assert redemption["lifecycle"] == "redemption"
    assert redemption["unsafe"] is True
    assert redemption["statuses"] == ["redemption period", "pending delete"]
    assert redemption["registered_at"] == "2011-05-14T16:02:11Z"
    assert redemption["expires_at"].endswith("Z")
    assert redemption["error"] is None
    assert results["pending-delete.org"]["lifecycle"] == "pending_delete"
    unregistered = results["nobody@unregistered.com"]
    assert (unregistered["domain"], unregistered["lifecycle"], unregistered["unsafe"]) == (
        "unregistered.com",
        "unregistered",
        True,
    )
    assert unregistered["statuses"] == []
    assert unregistered["service"] == unregistered["source"].removesuffix("domain/unregistered.com")
    assert results["active.com"]["unsafe"] is False


def test_only_the_registrys_own_answer_to_the_name_is_unsafe(capsys, bootstrap):
    status, results = check(
        capsys,
        bootstrap,
        "verisign-404.com",
        "balancer-404.com",
        "lost-referral.com",
        "referred-redemption.com",
        "moved.com",
    )
    assert status == 1
    assert {k: (r["lifecycle"], r["unsafe"]) for k, r in results.items()} == {
        "verisign-404.com": ("unregistered", True),
        "balancer-404.com": ("unknown", False),
        "lost-referral.com": ("unknown", False),
        "referred-redemption.com": ("unknown", False),
        "moved.com": ("unknown", False),
    }
    assert "neither empty nor an RDAP error" in results["balancer-404.com"]["error"]
    assert "a 404 reached through a redirect" in results["moved.com"]["error"]
    referred = results["referred-redemption.com"]
    assert (
        "only the registry's own server may say referred-redemption.com is redemption" in referred["reason"]
    )
    assert "/registrar/domain/referred-redemption.com" in referred["source"]
    assert referred["service"].endswith("/verisign/")


def test_dates_that_cannot_be_true_are_unknown(capsys, bootstrap):
    status, results = check(
        capsys,
        bootstrap,
        "from-the-future.com",
        "renewed.app",
        options=("--json", "--verified-at", "2023-01-10T00:00:00Z"),
    )
    assert status == 3
    future = results["from-the-future.com"]
    assert (future["lifecycle"], future["unsafe"]) == ("unknown", False)
    assert "which is in the future" in future["reason"]
    # Nomulus reports the last renewal as a "reregistration": not a new holder.
    renewed = results["renewed.app"]
    assert (renewed["lifecycle"], renewed["unsafe"]) == ("active", False)
    assert renewed["registered_at"] == "2019-05-08T00:00:00Z"


def test_reregistered_after_the_verification(capsys, bootstrap):
    status, results = check(
        capsys, bootstrap, "new-owner.com", options=("--json", "--verified-at", "2025-06-01T00:00:00Z")
    )
    assert status == 1
    line = results["new-owner.com"]
    assert (line["lifecycle"], line["unsafe"]) == ("reregistered", True)
    assert line["registered_at"] == "2026-03-01T00:00:00Z"
    assert "registered again on 2026-03-01" in line["reason"]

    status, results = check(
        capsys, bootstrap, "new-owner.com", options=("--json", "--verified-at", "2026-03-01")
    )
    assert status == 0
    assert results["new-owner.com"]["lifecycle"] == "active"


def test_doubt_and_invalid_exit_3(capsys, bootstrap):
    status, results = check(
        capsys,
        bootstrap,
        "active.com",
        "somewhere.zzz",
        "not a domain",
        "co.uk",
        "broken.net",
        "flapping.com",
    )
    assert status == 3
    assert results["active.com"]["lifecycle"] == "active"
    unknown_tld = results["somewhere.zzz"]
    assert (unknown_tld["lifecycle"], unknown_tld["unsafe"]) == ("unknown", False)
    assert unknown_tld["error"] == "no provider in the chain (rdap,whois) serves .zzz: unprotected"
    for target in ("not a domain", "co.uk"):
        assert results[target]["lifecycle"] == "invalid"
        assert results[target]["domain"] is None
        assert results[target]["error"]
    assert results["broken.net"]["lifecycle"] == "unknown"
    assert "not JSON" in results["broken.net"]["error"]
    # Redemption, then active a second later: doubt, not a verdict.
    assert results["flapping.com"]["lifecycle"] == "unknown"
    assert "two lookups disagreed" in results["flapping.com"]["reason"]


def test_the_human_table(capsys, bootstrap):
    status, out = check(capsys, bootstrap, "active.com", "redemption.com", "x.zzz", options=())
    assert status == 1
    header, rule, *rows = out.splitlines()
    assert header.split() == ["input", "domain", "lifecycle", "unsafe", "expires", "reason"]
    assert set(rule.replace(" ", "")) == {"-"}
    assert rows[0].split()[:3] == ["active.com", "active.com", "active"]
    assert rows[1].split()[:4] == ["redemption.com", "redemption.com", "redemption", "UNSAFE"]
    assert "no provider in the chain (rdap,whois) serves .zzz" in rows[2]


def test_the_bootstrap_file_from_the_environment(capsys, bootstrap, monkeypatch):
    monkeypatch.setenv("LAPSEWATCH_RDAP_BOOTSTRAP", str(bootstrap))
    monkeypatch.setenv("LAPSEWATCH_RDAP_RATE", "50")
    assert main(["check", "--json", "active.com"]) == 0
    assert json.loads(capsys.readouterr().out)["lifecycle"] == "active"


@pytest.mark.parametrize(
    "arguments",
    [
        ["check"],
        ["check", "--rdap-rate", "0", "active.com"],
        ["check", "--rdap-rate", "fast", "active.com"],
        ["check", "--verified-at", "last tuesday", "active.com"],
    ],
)
def test_usage_errors_exit_2(arguments, capsys):
    with pytest.raises(SystemExit) as exited:
        main(arguments)
    assert exited.value.code == 2
    assert "usage:" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("chain", "why"),
    [("gopher", "unknown status provider 'gopher'"), ("rdap,rdap", "named twice"), (",", "empty")],
)
def test_a_bad_provider_chain_exits_2(chain, why, capsys):
    assert main(["check", "--provider", chain, "active.com"]) == 2
    assert why in capsys.readouterr().err


def test_a_missing_bootstrap_file_exits_2(tmp_path, capsys):
    assert main(["check", "--rdap-bootstrap", str(tmp_path / "absent.json"), "active.com"]) == 2
    assert "RDAP bootstrap file not found" in capsys.readouterr().err


def test_a_bad_bootstrap_file_exits_2(tmp_path, capsys):
    path = tmp_path / "dns.json"
    path.write_text('{"services": "com"}')
    assert main(["check", "--rdap-bootstrap", str(path), "active.com"]) == 2
    assert "not in RFC 9224 shape" in capsys.readouterr().err


def test_the_installed_command(bootstrap):
    command = Path(sys.executable).parent / "lapsewatch"
    arguments = ["check", "--json", "--rdap-bootstrap", str(bootstrap), "--rdap-rate", "50"]
    done = subprocess.run(
        [str(command), *arguments, "active.com", "nobody@unregistered.com", "bad..name"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["lifecycle"] for line in lines] == ["active", "unregistered", "invalid"]
    assert all(set(line) >= FIELDS for line in lines)
