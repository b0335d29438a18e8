"""The second round of hostile answers (issue 16), driven as the acceptance tests drive them:
``lapsewatch check --json`` against loopback RDAP, Fastly and Domainr servers. Every one of these
answers once read as unsafe, or sent a key where it must not go; each must now be doubt.
"""

import gzip
import json
import threading
import zlib

import pytest

from lapsewatch.lifecycle import Lifecycle
from lapsewatch.providers.domainr import DomainrProvider
from lapsewatch.providers.fastly import FastlyProvider
from lapsewatch.providers.rdap import RdapProvider
from lapsewatch.providers.rdap_bootstrap import Bootstrap
from lapsewatch.ratelimit import RateLimiter
from lapsewatch_tools.cli import main
from lapsewatch_tools.local.fastly_server import LoopbackFastly
from lapsewatch_tools.local.loopback import LoopbackHandler, LoopbackServer
from lapsewatch_tools.local.rdap_documents import rdap_domain_json
from lapsewatch_tools.local.rdap_server import DomainAnswer, LoopbackRdap

pytestmark = pytest.mark.integration


def _document(domain, **changes):
    document = json.loads(json.dumps(rdap_domain_json(domain, ["active"])))
    document.update(changes)
    return document


def _json_bytes(domain, encoding="utf-8", **changes):
    return json.dumps(_document(domain, **changes), ensure_ascii=False).encode(encoding)


NOT_FOUND_BODIES = {
    "gateway-message": {"message": "no Route matched with those values"},
    "error-500": {"errorCode": 500, "title": "Internal Server Error"},
    "error-code-as-text": {"errorCode": "404", "title": "Not Found"},
    "error-code-true": {"errorCode": True, "title": "Not Found"},
    "search-result": {
        "rdapConformance": ["rdap_level_0"],
        "domainSearchResults": [{"objectClassName": "domain", "ldhName": "x.com", "status": ["active"]}],
    },
    "domain-object": {"objectClassName": "domain", "ldhName": "x.com", "status": ["active"]},
    "empty-object": {},
    "title-only": {"title": "Not Found"},
    "bad-conformance": {"rdapConformance": "rdap_level_0", "title": "Not Found"},
    "other-class": {"objectClassName": "entity", "errorCode": 404},
}

_HEAD = '{"objectClassName": "domain", "ldhName": "%s", '
ODD_BODIES = {
    "nan": (_HEAD + '"status": ["active"], "x": NaN}').encode(),
    "infinity": (_HEAD + '"status": ["redemption period"], "port43": -Infinity}').encode(),
    "bom": b"\xef\xbb\xbf" + (_HEAD + '"status": ["redemption period"]}').encode(),
    "lone-surrogate": (_HEAD + '"status": ["pending delete"], "x": "\\ud800"}').encode(),
    "latin-1": (_HEAD + '"status": ["redemption period"], "x": "é"}').encode("latin-1"),
}


@pytest.fixture(scope="module")
def rdap(tmp_path_factory):
    with LoopbackRdap() as server:
        server.add_registry("verisign", tlds=["com"])
        server.add_registry("pir", tlds=["org"])
        for name, body in NOT_FOUND_BODIES.items():
            server.set_domain(
                f"{name}.com", DomainAnswer.raw(404, body, {"Content-Type": "application/rdap+json"})
            )
        server.set_domain(
            "real-404.org",
            DomainAnswer.raw(
                404,
                {
                    "rdapConformance": ["rdap_level_0", "icann_rdap_response_profile_1"],
                    "notices": [{"title": "Terms of Service", "description": ["..."]}],
                    "errorCode": 404,
                    "title": "Object not found",
                    "description": ["Object not found"],
                    "lang": "en",
                },
            ),
        )
        for name, template in ODD_BODIES.items():
            domain = f"{name}.com"
            server.set_domain(domain, DomainAnswer.raw(200, template.replace(b"%s", domain.encode())))
        server.set_domain(
            "utf16.com",
            DomainAnswer.raw(200, _json_bytes("utf16.com", "utf-16", status=["redemption period"])),
        )
        server.set_domain(
            "utf32.com",
            DomainAnswer.raw(200, _json_bytes("utf32.com", "utf-32", status=["redemption period"])),
        )
        for encoding in ("br", "compress", "zstd", "x-lapse", "gzip, br"):
            domain = f"enc-{encoding.replace(', ', '-')}.com"
            body = _json_bytes(domain, status=["redemption period"])
            server.set_domain(domain, DomainAnswer.raw(200, body, {"Content-Encoding": encoding}))
        server.set_domain(
            "gzipped.com",
            DomainAnswer.raw(200, gzip.compress(_json_bytes("gzipped.com")), {"Content-Encoding": "gzip"}),
        )
        server.set_domain(
            "deflated.com",
            DomainAnswer.raw(
                200, zlib.compress(_json_bytes("deflated.com")), {"Content-Encoding": "deflate"}
            ),
        )
        server.set_domain(
            "xn--bcher-kva.com",
            DomainAnswer.raw(200, _json_bytes("xn--bcher-kva.com", unicodeName="bücher.com")),
        )
        server.set_domain(
            "other-unicode.com",
            DomainAnswer.raw(
                200, _json_bytes("other-unicode.com", unicodeName="bücher.com", status=["redemption period"])
            ),
        )
        server.set_domain(
            "unicode-not-text.com",
            DomainAnswer.raw(
                200, _json_bytes("unicode-not-text.com", unicodeName=["x"], status=["pending delete"])
            ),
        )
        server.set_domain(
            "unicode-junk.com",
            DomainAnswer.raw(
                200, _json_bytes("unicode-junk.com", unicodeName="not a domain!", status=["pending delete"])
            ),
        )
        yield server, server.bootstrap_file(tmp_path_factory.mktemp("rdap") / "dns.json")


def check(capsys, *arguments):
    status = main(["check", "--json", "--rdap-rate", "200", *arguments])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    return status, {line["input"]: line for line in lines}


@pytest.mark.parametrize("name", sorted(NOT_FOUND_BODIES))
def test_a_404_whose_body_is_some_other_json_is_doubt(capsys, rdap, name):
    _, bootstrap = rdap
    status, results = check(capsys, "--rdap-bootstrap", str(bootstrap), f"{name}.com")
    result = results[f"{name}.com"]
    assert result["lifecycle"] == "unknown", result
    assert not result["unsafe"]
    assert "neither empty nor an RDAP error response" in result["reason"]
    assert status == 3


def test_a_real_registrys_404_error_response_is_still_unregistered(capsys, rdap):
    _, bootstrap = rdap
    _, results = check(capsys, "--rdap-bootstrap", str(bootstrap), "real-404.org")
    assert results["real-404.org"]["lifecycle"] == "unregistered"


@pytest.mark.parametrize(
    ("domain", "why"),
    [
        ("nan.com", "NaN is not a JSON value"),
        ("infinity.com", "-Infinity is not a JSON value"),
        ("bom.com", "byte order mark"),
        ("lone-surrogate.com", "surrogate"),
        ("latin-1.com", "not UTF-8"),
        ("utf16.com", "not UTF-8"),
        ("utf32.com", "not UTF-8"),
        ("enc-br.com", "Content-Encoding"),
        ("enc-compress.com", "Content-Encoding"),
        ("enc-zstd.com", "Content-Encoding"),
        ("enc-x-lapse.com", "Content-Encoding"),
        ("enc-gzip-br.com", "Content-Encoding"),
        ("other-unicode.com", "names xn--bcher-kva.com, not other-unicode.com"),
        ("unicode-not-text.com", "unicodeName is not text"),
        ("unicode-junk.com", "is not a domain name"),
    ],
)
def test_bodies_a_strict_reader_refuses_are_doubt(capsys, rdap, domain, why):
    _, bootstrap = rdap
    _, results = check(capsys, "--rdap-bootstrap", str(bootstrap), domain)
    assert results[domain]["lifecycle"] == "unknown"
    assert why in results[domain]["reason"]


@pytest.mark.parametrize("domain", ["gzipped.com", "deflated.com", "bücher.com"])
def test_encodings_lapsewatch_reads_and_matching_unicode_names_still_read(capsys, rdap, domain):
    _, bootstrap = rdap
    _, results = check(capsys, "--rdap-bootstrap", str(bootstrap), domain)
    assert results[domain]["lifecycle"] == "active", results[domain]


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("{base}?token=x", "has a query"),
        ("{base}#frag", "fragment"),
        ("http://user:secret@{host}/verisign/", "userinfo"),
        ("http://{host}\\@127.0.0.1:1/verisign/", "backslash"),
    ],
)
def test_bootstrap_base_urls_that_would_not_build_the_request_leave_the_tld_unserved(
    capsys, rdap, tmp_path, url, why
):
    server, _ = rdap
    base = server.base_url("verisign")
    host = base.split("//", 1)[1].split("/", 1)[0]
    bootstrap = tmp_path / "dns.json"
    bootstrap.write_text(json.dumps({"services": [[["com"], [url.format(base=base, host=host)]]]}))
    asked = server.asked("gateway-message.com")
    _status, results = check(
        capsys, "--rdap-bootstrap", str(bootstrap), "gateway-message.com", "unknown-x.com"
    )
    for result in results.values():
        assert result["lifecycle"] == "unknown"
        assert "no usable RDAP base URL for .com" in result["reason"]
        assert why in result["reason"]
    assert server.asked("gateway-message.com") == asked  # nothing was asked
    assert Bootstrap.load(bootstrap).refused.keys() == {"com"}


def test_a_usable_base_url_beside_a_refused_one_still_serves(rdap, tmp_path):
    server, _ = rdap
    bootstrap = tmp_path / "dns.json"
    base = server.base_url("pir")
    bootstrap.write_text(json.dumps({"services": [[["org"], [base + "?token=x", base]]]}))
    loaded = Bootstrap.load(bootstrap)
    assert loaded.servers_for("x.org") == [base]
    assert loaded.refused == {}


# Status APIs: contradictions and disagreeing entries.


@pytest.fixture(scope="module")
def fastly():
    with LoopbackFastly() as server:
        yield server


@pytest.fixture(scope="module")
def elsewhere():
    with LoopbackFastly(require_key=False) as server:
        yield server


@pytest.mark.parametrize(
    "status",
    ["active inactive", "inactive active", "parked inactive", "active deleting", "expiring inactive"],
)
def test_status_tokens_that_contradict_each_other_are_doubt(capsys, fastly, monkeypatch, status):
    domain = f"contra-{status.replace(' ', '-')}.com"
    fastly.set_status(domain, status)
    monkeypatch.setenv("LAPSEWATCH_FASTLY_API_KEY", fastly.api_key)
    monkeypatch.setenv("LAPSEWATCH_FASTLY_URL", fastly.url)
    _, results = check(capsys, "--provider", "fastly", domain)
    assert results[domain]["lifecycle"] == "unknown"
    assert "contradict each other" in results[domain]["reason"]


@pytest.mark.parametrize(
    ("status", "lifecycle"),
    [
        ("undelegated inactive", "unregistered"),
        ("undelegated inactive premium", "unregistered"),
        ("deleting", "redemption"),
    ],
)
def test_tokens_that_agree_still_read(fastly, status, lifecycle):
    domain = f"agree-{status.replace(' ', '-')}.com"
    fastly.set_status(domain, status)
    provider = FastlyProvider(fastly.api_key, fastly.url, limiter=RateLimiter(1000), allow_loopback_http=True)
    assert provider.lookup(domain).lifecycle == lifecycle


class DomainrStub:
    def __init__(self, body: object) -> None:
        data = json.dumps(body).encode()

        class Handler(LoopbackHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = LoopbackServer(Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def __enter__(self) -> "DomainrStub":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def _domainr(server):
    provider = DomainrProvider(client_id="id", base_url=server.url, allow_loopback_http=True, max_tries=1)
    return provider


@pytest.mark.parametrize(
    ("entries", "lifecycle"),
    [
        ([("d.com", "inactive"), ("d.com", "active")], Lifecycle.UNKNOWN),
        ([("d.com", "active"), ("D.com.", "undelegated inactive")], Lifecycle.UNKNOWN),
        ([("d.com", "undelegated inactive"), ("d.com", "inactive undelegated")], Lifecycle.UNREGISTERED),
        ([("other.com", "active"), ("d.com", "inactive")], Lifecycle.UNREGISTERED),
    ],
)
def test_domainr_entries_for_the_asked_domain_that_disagree_are_doubt(entries, lifecycle):
    with DomainrStub(
        {"status": [{"domain": name, "zone": "com", "status": s} for name, s in entries]}
    ) as stub:
        observation = _domainr(stub).lookup("d.com")
    assert observation.lifecycle is lifecycle, observation.error
    if lifecycle is Lifecycle.UNKNOWN:
        assert "entries for d.com that disagree" in observation.error


# One reading of a URL, and no request to an internal address.


def test_a_redirect_two_parsers_read_differently_gets_no_key(fastly, elsewhere):
    """urlsplit reads origin C (fastly, the key's origin); urllib3 would connect to B (elsewhere)."""
    b = elsewhere.url.split("//", 1)[1].split("/", 1)[0]
    c = fastly.url.split("//", 1)[1].split("/", 1)[0]
    domain = "backslash.com"
    fastly.set_answer(domain, 302, headers={"Location": f"http://{b}\\@{c}/x?domain={domain}"})
    elsewhere.reset()
    provider = FastlyProvider(fastly.api_key, fastly.url, limiter=RateLimiter(1000), allow_loopback_http=True)
    observation = provider.lookup(domain)
    assert observation.lifecycle is Lifecycle.UNKNOWN
    assert "backslash" in observation.error
    assert elsewhere.requests == []
    assert fastly.api_key not in (observation.error or "") + (observation.source or "")


@pytest.mark.parametrize(
    "location",
    [
        "https://10.0.0.1/domain/internal.com",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::ffff:a9fe:a9fe]/latest/meta-data/",
        "https://[64:ff9b::a9fe:a9fe]/",
        "https://100.64.1.1/",
        "https://[fd00::1]/",
        "https://0.0.0.0/",
        "https://224.0.0.1/",
    ],
)
def test_redirects_to_internal_addresses_are_never_followed(fastly, location):
    domain = "internal.com"
    fastly.set_answer(domain, 302, headers={"Location": location})
    provider = FastlyProvider(fastly.api_key, fastly.url, limiter=RateLimiter(1000), allow_loopback_http=True)
    observation = provider.lookup(domain)
    assert observation.lifecycle is Lifecycle.UNKNOWN
    assert "refused to connect to" in observation.error
    # The socket guard (conftest) fails this test had a connection been tried.


def test_the_functions_never_reach_loopback(rdap, tmp_path):
    """Without the local tools' loopback exception, https to this machine is refused at connect."""
    server, _ = rdap
    port = server.url.rsplit(":", 1)[1]
    bootstrap = tmp_path / "dns.json"
    bootstrap.write_text(json.dumps({"services": [[["com"], [f"https://127.0.0.1:{port}/verisign/"]]]}))
    provider = RdapProvider(Bootstrap.load(bootstrap), limiter=RateLimiter(1000), max_tries=1)
    observation = provider.lookup("gateway-message.com")
    assert observation.lifecycle is Lifecycle.UNKNOWN
    assert "127.0.0.1 is a loopback address" in observation.error


def test_other_ports_are_refused_unless_allowed(fastly):
    provider = FastlyProvider(fastly.api_key, "https://localhost.invalid:8443/status", max_tries=1)
    assert provider.http.egress.refusal("8.8.8.8", 8443) is not None
    allowing = FastlyProvider(fastly.api_key, egress_ports=frozenset({443, 8443}))
    assert allowing.http.egress.refusal("8.8.8.8", 8443) is None


def test_coverage_names_the_tlds_whose_bootstrap_entry_was_refused(capsys, rdap, tmp_path):
    server, _ = rdap
    bootstrap = tmp_path / "dns.json"
    bootstrap.write_text(
        json.dumps(
            {
                "services": [
                    [["com"], [server.base_url("verisign") + "?token=x"]],
                    [["org"], [server.base_url("pir")]],
                ]
            }
        )
    )
    addresses = tmp_path / "addresses.txt"
    addresses.write_text("a@x.com\nb@y.org\n")
    main(
        [
            "coverage",
            str(addresses),
            "--json",
            "--rdap-bootstrap",
            str(bootstrap),
            "--rdap-extra",
            str(_no_extra(tmp_path)),
        ]
    )
    totals = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert totals["unprotected_tlds"] == ["com"]
    assert "has a query" in totals["refused_tlds"]["com"]
    main(
        [
            "coverage",
            str(addresses),
            "--rdap-bootstrap",
            str(bootstrap),
            "--rdap-extra",
            str(_no_extra(tmp_path)),
        ]
    )
    assert "refused .com" in capsys.readouterr().out


def _no_extra(tmp_path):
    path = tmp_path / "extra.json"
    path.write_text('{"services": []}')
    return path
