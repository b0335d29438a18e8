"""`lapsewatch coverage`, offline: from an address list or a loopback reference registry; and the
`--rdap-extra` option `check` shares with it."""

import json
import subprocess
import sys

import pytest

from lapsewatch_tools.cli import main
from lapsewatch_tools.local.rdap_server import DomainAnswer, LoopbackRdap
from lapsewatch_tools.registry.server import RegistryServer

pytestmark = pytest.mark.integration

ADDRESSES = """\
alice@example.com
Bob@Example.COM
carol@mail.example.com
dave@other.com
erin@bücher.de

frank@beispiel.de
grace@startup.io
heidi@shop.xyz
ivan@lab.test
judy@site.example
root@localhost
not a domain
admin@[10.0.0.1]
"""
ROW_FIELDS = {"tld", "domains", "addresses", "provider", "sees"}
UNSAFE = ["redemption", "pending_delete", "unregistered", "reregistered"]
TOTAL_FIELDS = {
    "domains",
    "addresses",
    "invalid",
    "unprotected_domains",
    "unprotected_addresses",
    "unprotected_tlds",
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in (
        "LAPSEWATCH_PROVIDER",
        "LAPSEWATCH_PROVIDERS",
        "LAPSEWATCH_RDAP_BOOTSTRAP",
        "LAPSEWATCH_RDAP_EXTRA",
        "LAPSEWATCH_REGISTRY_TOKEN",
        "LAPSEWATCH_FASTLY_API_KEY",
        "LAPSEWATCH_DOMAINR_CLIENT_ID",
        "LAPSEWATCH_DOMAINR_API_KEY",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def addresses(tmp_path):
    path = tmp_path / "addresses.txt"
    path.write_text(ADDRESSES, encoding="utf-8")
    return path


def coverage(capsys, *arguments):
    status = main(["coverage", "--json", *map(str, arguments)])
    *rows, totals = map(json.loads, capsys.readouterr().out.splitlines())
    assert all(set(row) == ROW_FIELDS for row in rows)
    assert set(totals) == TOTAL_FIELDS
    # What each provider can see is its own test's (test_each_row_says_what_its_provider_sees).
    for row in rows:
        sees = row.pop("sees")
        assert sees == [name for name in UNSAFE if name in sees]
        assert bool(sees) is (row["provider"] is not None)
    return status, rows, totals


def test_an_address_list_with_the_bundled_files(capsys, addresses):
    status, rows, totals = coverage(capsys, addresses)
    assert status == 0
    assert rows == [
        {"tld": "com", "domains": 2, "addresses": 4, "provider": "rdap"},
        # .de and .io: not in IANA's file, served through the bundled extra file.
        {"tld": "de", "domains": 2, "addresses": 2, "provider": "rdap"},
        {"tld": "example", "domains": 1, "addresses": 1, "provider": None},
        {"tld": "io", "domains": 1, "addresses": 1, "provider": "rdap"},
        {"tld": "test", "domains": 1, "addresses": 1, "provider": None},
        {"tld": "xyz", "domains": 1, "addresses": 1, "provider": "rdap"},
    ]
    assert totals == {
        "domains": 8,
        "addresses": 10,
        "invalid": 3,
        "unprotected_domains": 2,
        "unprotected_addresses": 2,
        "unprotected_tlds": ["example", "test"],
    }


def test_an_empty_extra_file_leaves_de_and_io_unprotected(capsys, addresses, tmp_path):
    extra = tmp_path / "extra.json"
    extra.write_text('{"services": []}')
    status, rows, totals = coverage(capsys, addresses, "--rdap-extra", extra)
    assert status == 0
    assert {row["tld"]: row["provider"] for row in rows}["de"] is None
    assert totals["unprotected_tlds"] == ["de", "example", "io", "test"]
    assert (totals["unprotected_domains"], totals["unprotected_addresses"]) == (5, 5)


def test_bootstrap_and_extra_files_from_options_and_environment(capsys, addresses, tmp_path, monkeypatch):
    iana = tmp_path / "dns.json"
    iana.write_text(json.dumps({"services": [[["test", "com"], ["http://127.0.0.1:1/"]]]}))
    extra = tmp_path / "extra.json"
    extra.write_text(json.dumps({"services": [[["example", "test"], ["http://127.0.0.1:2/"]]]}))
    _, rows, totals = coverage(capsys, addresses, "--rdap-bootstrap", iana, "--rdap-extra", extra)
    assert {row["tld"] for row in rows if row["provider"]} == {"com", "test", "example"}
    assert totals["unprotected_tlds"] == ["de", "io", "xyz"]
    monkeypatch.setenv("LAPSEWATCH_RDAP_BOOTSTRAP", str(iana))
    monkeypatch.setenv("LAPSEWATCH_RDAP_EXTRA", str(extra))
    assert coverage(capsys, addresses)[2] == totals


def test_a_chain_ending_with_fastly_serves_everything_without_a_key(capsys, addresses):
    status, rows, totals = coverage(capsys, addresses, "--provider", "rdap,fastly")
    assert status == 0
    assert {row["tld"]: row["provider"] for row in rows} == {
        "com": "rdap",
        "de": "rdap",
        "example": "fastly",
        "io": "rdap",
        "test": "fastly",
        "xyz": "rdap",
    }
    assert totals == {
        "domains": 8,
        "addresses": 10,
        "invalid": 3,
        "unprotected_domains": 0,
        "unprotected_addresses": 0,
        "unprotected_tlds": [],
    }


def test_the_chain_from_the_environment(capsys, addresses, monkeypatch):
    monkeypatch.setenv("LAPSEWATCH_PROVIDERS", "domainr")
    _, rows, totals = coverage(capsys, addresses)
    assert {row["provider"] for row in rows} == {"domainr"}
    assert totals["unprotected_tlds"] == []


def test_the_table(capsys, addresses):
    assert main(["coverage", str(addresses)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["tld", "domains", "addresses", "provider", "sees"]
    assert lines[2].split() == [
        "com",
        "2",
        "4",
        "rdap",
        "redemption,pending_delete,unregistered,reregistered",
    ]
    assert lines[4].split() == ["example", "1", "1", "none", "-"]
    text = "\n".join(lines)
    assert "unprotected       2 of 8 domains (25.0%), 2 of 10 addresses (20.0%)" in text
    assert "unprotected TLDs  .example, .test" in text


def test_standard_input(capsys, monkeypatch):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("a@example.com\nb@example.com\n"))
    _, rows, _ = coverage(capsys, "-")
    assert rows == [{"tld": "com", "domains": 1, "addresses": 2, "provider": "rdap"}]


# The registry's listing.


def _record(email, verified=True):
    return json.dumps(
        {
            "user": email.partition("@")[0] or "someone",
            "email": email,
            "verified": verified,
            "verified_at": "2021-03-01T00:00:00Z" if verified else None,
        },
        ensure_ascii=False,
    )


@pytest.fixture
def registry():
    with RegistryServer() as server:
        report = server.load_seed(
            [
                _record("alice@example.com"),
                _record("bob@Example.COM"),
                _record("carol@mail.example.com"),
                _record("dave@example.com", verified=False),
                _record("erin@bücher.de"),
                _record("frank@BÜCHER.DE"),
                _record("grace@startup.io"),
                _record("heidi@lab.test"),
                _record("ivan@lab.test"),
                _record("root@localhost"),
                _record("x@co.uk"),
            ]
        )
        assert not report.errors, report.errors
        yield server


def test_the_registry_listing(capsys, registry, monkeypatch):
    monkeypatch.setenv("LAPSEWATCH_REGISTRY_TOKEN", registry.token)
    status, rows, totals = coverage(capsys, "--registry-url", registry.url)
    assert status == 0
    assert rows == [
        {"tld": "com", "domains": 1, "addresses": 3, "provider": "rdap"},
        {"tld": "de", "domains": 1, "addresses": 2, "provider": "rdap"},
        {"tld": "test", "domains": 1, "addresses": 2, "provider": None},
        {"tld": "io", "domains": 1, "addresses": 1, "provider": "rdap"},
    ]
    assert totals == {
        "domains": 4,
        "addresses": 8,
        "invalid": 2,
        "unprotected_domains": 1,
        "unprotected_addresses": 2,
        "unprotected_tlds": ["test"],
    }


def test_the_registry_needs_its_token(capsys, registry):
    assert main(["coverage", "--registry-url", registry.url]) == 2
    assert "LAPSEWATCH_REGISTRY_TOKEN" in capsys.readouterr().err


def test_a_wrong_registry_token_fails_with_exit_1(capsys, registry, monkeypatch):
    monkeypatch.setenv("LAPSEWATCH_REGISTRY_TOKEN", "wrong")
    assert main(["coverage", "--registry-url", registry.url]) == 1
    assert "is the registry token right?" in capsys.readouterr().err


# Usage errors.


@pytest.mark.parametrize(
    ("arguments", "why"),
    [
        (["--provider", "rdap,gopher"], "unknown status provider 'gopher'"),
        (["--provider", "rdap,rdap"], "named twice"),
        (["--rdap-bootstrap", "{tmp}/absent.json"], "RDAP bootstrap file not found"),
        (["--rdap-extra", "{tmp}/absent.json"], "extra RDAP bootstrap file not found"),
        (["--rdap-extra", "{tmp}/bad.json"], "the extra RDAP bootstrap file {tmp}/bad.json is not JSON"),
        (["{tmp}/absent.txt"], "cannot read the address list {tmp}/absent.txt"),
        (["{tmp}/binary.txt"], "cannot read the address list"),
        ([], "give FILE"),
        (["--registry-url", "http://192.0.2.1/"], "LAPSEWATCH_REGISTRY_TOKEN"),
        (["{tmp}/bad.json", "--registry-url", "http://127.0.0.1:1/"], "not both"),
    ],
)
def test_usage_errors_exit_2(capsys, tmp_path, arguments, why):
    (tmp_path / "bad.json").write_text("not json")
    (tmp_path / "binary.txt").write_bytes(b"\xff\xfe\x00bad")
    arguments = [argument.format(tmp=tmp_path) for argument in arguments]
    assert main(["coverage", *arguments]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lapsewatch: error: ")
    assert why.format(tmp=tmp_path) in err


def test_a_plain_http_registry_elsewhere_is_a_usage_error(capsys, monkeypatch):
    monkeypatch.setenv("LAPSEWATCH_REGISTRY_TOKEN", "token")
    assert main(["coverage", "--registry-url", "http://192.0.2.1/"]) == 2
    assert "plain http only reaches a loopback host" in capsys.readouterr().err


def test_the_module_command(addresses):
    done = subprocess.run(
        [sys.executable, "-m", "lapsewatch", "coverage", "--json", str(addresses)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHONIOENCODING": "utf-8"},
    )
    assert done.returncode == 0, done.stderr
    *rows, totals = map(json.loads, done.stdout.splitlines())
    assert [row["tld"] for row in rows] == ["com", "de", "example", "io", "test", "xyz"]
    assert totals["unprotected_tlds"] == ["example", "test"]
    assert (totals["addresses"], totals["invalid"]) == (10, 3)


# `check --rdap-extra`: the extra file is used where IANA's file has no server, and only there.


def test_check_uses_the_extra_file_only_for_the_gaps(capsys, tmp_path):
    with LoopbackRdap() as server:
        server.add_registry("iana", tlds=["com"])
        server.add_registry("extra", tlds=["zz"])
        server.set_domain("active.com", DomainAnswer.for_lifecycle("active"))
        server.set_domain("lapsed.zz", DomainAnswer.for_lifecycle("redemption"))
        iana = tmp_path / "dns.json"
        iana.write_text(json.dumps({"services": [[["com"], [server.base_url("iana")]]]}))
        extra = tmp_path / "extra.json"
        # The extra file names .com too, at a server that would answer otherwise: IANA's wins.
        extra.write_text(json.dumps({"services": [[["zz", "com"], [server.base_url("extra")]]]}))
        arguments = ["check", "--json", "--rdap-bootstrap", str(iana), "--rdap-extra", str(extra)]
        status = main([*arguments, "--rdap-rate", "50", "active.com", "x@lapsed.zz"])
        results = {line["input"]: line for line in map(json.loads, capsys.readouterr().out.splitlines())}
        assert status == 1
        assert results["active.com"]["lifecycle"] == "active"
        assert results["x@lapsed.zz"]["lifecycle"] == "redemption"
        assert server.asked("active.com", registry="iana") >= 1
        assert server.asked("active.com", registry="extra") == 0


def test_each_row_says_what_its_provider_sees(capsys, tmp_path):
    path = tmp_path / "addresses.txt"
    path.write_text("a@example.com\nb@example.it\nc@example.at\nd@example.es\n", encoding="utf-8")
    assert main(["coverage", "--json", str(path)]) == 0
    *rows, totals = map(json.loads, capsys.readouterr().out.splitlines())
    sees = {row["tld"]: (row["provider"], row["sees"]) for row in rows}
    assert sees == {
        "com": ("rdap", UNSAFE),
        "it": ("whois", UNSAFE),
        "at": ("whois", ["unregistered"]),
        "es": (None, []),
    }
    assert totals["unprotected_tlds"] == ["es"]


def test_psl_counts_the_tlds_no_provider_of_the_chain_serves(capsys):
    assert main(["coverage", "--psl", "--json", "--provider", "rdap"]) == 0
    rdap_alone = json.loads(capsys.readouterr().out.splitlines()[-1])["unprotected_tlds"]
    assert main(["coverage", "--psl", "--json"]) == 0
    *rows, totals = map(json.loads, capsys.readouterr().out.splitlines())
    assert len(rdap_alone) == 236
    # The target: at most 120 of the Public Suffix List's TLDs left without a provider.
    assert len(totals["unprotected_tlds"]) <= 120
    assert totals["unprotected_tlds"] == sorted(totals["unprotected_tlds"])
    assert set(totals["unprotected_tlds"]) < set(rdap_alone)
    assert {"es", "gr"} <= set(totals["unprotected_tlds"])
    assert {"it", "jp", "nz", "eu", "edu", "xn--p1ai"}.isdisjoint(totals["unprotected_tlds"])
    assert {"xn--h2brj9c", "mk", "xn--d1alf", "xn--kprw13d", "ve"}.isdisjoint(totals["unprotected_tlds"])
    assert len(rows) == 1454


def test_psl_takes_no_file(capsys, tmp_path):
    assert main(["coverage", "--psl", str(tmp_path / "a.txt")]) == 2
    assert "only one" in capsys.readouterr().err
