"""`lapsewatch registry conformance` against loopback registries: the reference registry keeps
every check, a misbehaving one fails the checks it breaks, and usage errors exit 2."""

import itertools
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from lapsewatch_tools import conformance
from lapsewatch_tools.cli import main
from lapsewatch_tools.registry.app import RegistryApp
from lapsewatch_tools.registry.server import RegistryServer

pytestmark = pytest.mark.integration

TOKEN = "conformance-test-token"
WRITE_DOMAIN = "example.org"


def record(email, verified=True):
    return json.dumps(
        {
            "user": email.partition("@")[0],
            "email": email,
            "verified": verified,
            "verified_at": "2021-03-01T00:00:00Z" if verified else None,
        }
    )


SEED = [
    *(record(f"user{n}@company{n}.example.com") for n in range(7)),
    record("alice@example.org"),
    record("bob@mail.example.org"),
    record("carol@Example.COM"),
    record("dave@unverified.example.net", verified=False),
]


@pytest.fixture
def token(monkeypatch):
    monkeypatch.setenv("LAPSEWATCH_REGISTRY_TOKEN", TOKEN)
    return TOKEN


def reference_registry(notices_supported=True):
    server = RegistryServer(RegistryApp(token=TOKEN, notices_supported=notices_supported, address_reads=True))
    assert server.load_seed(SEED).errors == []
    return server


def conformance_lines(capsys, *args):
    status = main(["registry", "conformance", *args])
    out = capsys.readouterr().out
    return status, out.splitlines()


class MisbehavingRegistry:
    """A registry that answers the listing without asking for a token, and whose pages overlap:
    each page starts at the last item of the one before. With `endless`, the listing never ends
    (empty pages, each with a new cursor). Everything else it answers as the contract says."""

    DOMAINS = ["a.example", "b.example", "c.example", "d.example", "e.example"]

    def __init__(self, endless=False):
        domains, overlapping = self.DOMAINS, not endless

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                parts = urlsplit(self.path)
                query = {name: values[0] for name, values in parse_qs(parts.query).items()}
                if parts.path != "/v1/email-domains":
                    return self.answer(404, {"error": "no such endpoint"})
                try:
                    limit = int(query.get("limit", "500"))
                    start = int(query.get("cursor", "0"))
                except ValueError:
                    return self.answer(400, {"error": "limit and cursor must be numbers"})
                if not 1 <= limit <= 1000:
                    return self.answer(400, {"error": "limit must be from 1 to 1000"})
                items = [
                    {"domain": domain, "verified_emails": 1, "oldest_verified_at": "2020-01-01T00:00:00Z"}
                    for domain in domains[start : start + limit]
                ]
                step = max(1, limit - 1) if overlapping else limit
                more = endless or start + limit < len(domains)
                self.answer(200, {"items": items, "next_cursor": str(start + step) if more else None})

            def answer(self, status, payload):
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"

    def __enter__(self):
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def __exit__(self, *exc_info):
        self._server.shutdown()
        self._server.server_close()


# The reference registry keeps the contract


def test_the_reference_registry_passes_every_read_only_check(token, capsys):
    with reference_registry() as registry:
        status, lines = conformance_lines(capsys, "--url", registry.url)
    assert status == 0, "\n".join(lines)
    assert lines[-1] == f"{len(lines) - 1} checks, 0 failed"
    assert all(line.startswith("PASS  ") for line in lines[:-1])
    checks = "\n".join(lines)
    for expected in ("auth: 401 without a token", "auth: 401 with a wrong token", "limit: 0", "limit: 1001"):
        assert expected in checks
    assert "paging: limit=1 pages to the end (10 domains on 10 pages)" in checks
    assert "unverify" not in checks and "notify" not in checks  # read-only without --write-domain


def test_the_reference_registry_passes_the_write_checks_and_unverifies_nobody(token, capsys):
    with reference_registry() as registry:
        status, lines = conformance_lines(capsys, "--url", registry.url + "/", "--write-domain", WRITE_DOMAIN)
        addresses = requests.get(
            f"{registry.url}/v1/emails",
            params={"domain": WRITE_DOMAIN},
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=5,
        ).json()["items"]
        audit = registry.app.store.audit()
    assert status == 0, "\n".join(lines)
    checks = "\n".join(lines)
    assert "PASS  unverify: the same key and body again replay the first answer" in checks
    assert "PASS  unverify: the same key with another body gets 409" in checks
    assert "PASS  unverify: 400 on a body that is not JSON" in checks
    assert "PASS  notify: the first call succeeds (notified 2)" in checks
    # Its unverify calls are accepted (a first call and its replay) yet, sent with a
    # verified_before of 1970, leave every address verified.
    assert [entry["replayed"] for entry in audit] == [False, True]
    assert {entry["domain"] for entry in audit} == {WRITE_DOMAIN}
    assert [(address["email"], address["verified"]) for address in addresses] == [
        ("alice@example.org", True),
        ("bob@mail.example.org", True),
    ]


def test_a_registry_without_notices_passes_with_a_note(token, capsys):
    with reference_registry(notices_supported=False) as registry:
        status, lines = conformance_lines(capsys, "--url", registry.url, "--write-domain", WRITE_DOMAIN)
    assert status == 0, "\n".join(lines)
    notify_lines = [line for line in lines if "notify" in line]
    assert notify_lines == [
        "PASS  notify: the first call succeeds (404: not supported, which the contract allows)"
    ]


def test_json_output_is_one_object_per_check_then_the_totals(token, capsys):
    with reference_registry() as registry:
        status, lines = conformance_lines(capsys, "--url", registry.url, "--json")
    assert status == 0
    objects = [json.loads(line) for line in lines]
    *checks, totals = objects
    assert all(set(check) == {"check", "passed", "detail"} and check["passed"] for check in checks)
    assert totals == {"checks": len(checks), "failed": 0, "passed": len(checks)}


# A registry that breaks it


def test_a_registry_that_ignores_the_token_and_repeats_domains_fails_those_checks(token, capsys):
    with MisbehavingRegistry() as registry:
        status, lines = conformance_lines(capsys, "--url", registry.url)
    assert status == 1
    failures = [line for line in lines if line.startswith("FAIL  ")]
    assert [line.split(":", 2)[:2] for line in failures] == [
        ["FAIL  auth", " 401 without a token"],
        ["FAIL  auth", " 401 with a wrong token"],
        ["FAIL  paging", " no domain on two pages"],
    ]
    assert failures[0].endswith("200 instead of 401")
    assert failures[2].endswith("c.example on pages 1 and 2 at limit=3")
    assert lines[-1] == f"{len(lines) - 1} checks, 3 failed"


def test_a_registry_that_forgets_idempotency_keys_fails_the_replay_and_reuse_checks(token, capsys):
    calls = itertools.count()

    class ForgetfulRegistry(RegistryApp):
        def __call__(self, environ, start_response):
            # Each call gets a key of its own, as if the registry kept none.
            if "HTTP_IDEMPOTENCY_KEY" in environ:
                environ["HTTP_IDEMPOTENCY_KEY"] = f"forgotten-{next(calls)}"
            return super().__call__(environ, start_response)

    with RegistryServer(ForgetfulRegistry(token=TOKEN)) as server:
        server.load_seed(SEED)
        status, lines = conformance_lines(capsys, "--url", server.url, "--write-domain", WRITE_DOMAIN)
    assert status == 1
    failures = [line for line in lines if line.startswith("FAIL  ")]
    assert failures == [
        "FAIL  unverify: the same key and body again replay the first answer: replayed is false, not true",
        "FAIL  unverify: the same key with another body gets 409: 200 instead of 409",
        "FAIL  notify: the same key and body again replay the first answer: replayed is false, not true",
        "FAIL  notify: the same key with another body gets 409: 200 instead of 409",
    ]


def test_a_listing_that_never_ends_fails_instead_of_hanging(token, capsys, monkeypatch):
    monkeypatch.setattr(conformance, "MAX_LISTING_PAGES", 30)
    with MisbehavingRegistry(endless=True) as registry:
        status, lines = conformance_lines(capsys, "--url", registry.url, "--json")
    assert status == 1
    results = {result["check"]: result for result in map(json.loads, lines[:-1])}
    for limit in (1000, 1, 3):
        paging = results[f"paging: limit={limit} pages to the end"]
        assert not paging["passed"]
        assert "has not ended after" in paging["detail"]


# Usage errors and unreachable registries


def closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_registry_exits_2_with_a_plain_error(token, capsys):
    status = main(["registry", "conformance", "--url", f"http://127.0.0.1:{closed_port()}"])
    captured = capsys.readouterr()
    assert status == 2
    assert captured.out == ""
    assert "cannot reach the registry" in captured.err and "connection refused" in captured.err


def test_without_a_token_it_exits_2(monkeypatch, capsys):
    monkeypatch.delenv("LAPSEWATCH_REGISTRY_TOKEN", raising=False)
    assert main(["registry", "conformance", "--url", "http://127.0.0.1:1"]) == 2
    assert "LAPSEWATCH_REGISTRY_TOKEN" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args",
    [
        ["--url", "http://registry.example.com"],  # the token in clear over the network
        ["--url", "ftp://127.0.0.1"],
        ["--url", "http://127.0.0.1:1", "--write-domain", "co.uk"],
        ["--url", "http://127.0.0.1:1", "--write-domain", "mail.example.org"],
    ],
)
def test_bad_arguments_exit_2(token, capsys, args):
    assert main(["registry", "conformance", *args]) == 2
    assert "lapsewatch: error:" in capsys.readouterr().err


# The schema checks follow the contract


def test_the_validator_knows_every_keyword_the_contract_uses():
    contract = conformance.Contract.load()
    known = conformance.VALIDATED_KEYWORDS | conformance.ANNOTATION_KEYWORDS
    used, formats = set(), set()

    def walk(schema):
        if isinstance(schema, dict):
            used.update(schema)
            formats.add(schema.get("format", "date-time"))
            for keyword in ("items", "additionalProperties"):
                walk(schema.get(keyword))
            for nested in (*schema.get("properties", {}).values(), *schema.get("oneOf", [])):
                walk(nested)

    for schema in contract.spec["components"]["schemas"].values():
        walk(schema)
    assert used <= known
    assert formats == {"date-time"}


def test_the_validator_says_what_breaks_the_schema():
    contract = conformance.Contract.load()
    page = {"$ref": "#/components/schemas/EmailDomainPage"}
    good = {
        "items": [
            {"domain": "a.example", "verified_emails": 1, "oldest_verified_at": "2020-01-01T00:00:00Z"}
        ],
        "next_cursor": None,
    }
    assert list(contract.problems(good, page)) == []
    bad = {
        "items": [
            {"domain": "a.example", "verified_emails": 0, "oldest_verified_at": "2020-02-30T00:00:00Z"}
        ],
        "next_cursor": "",
    }
    assert list(contract.problems(bad, page)) == [
        "body.items[0].verified_emails: 0 is less than the minimum 1",
        'body.items[0].oldest_verified_at: "2020-02-30T00:00:00Z" is not an RFC 3339 date-time',
        'body.next_cursor: "" matches 0 of the allowed forms, not one',
    ]
