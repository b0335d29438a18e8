"""The reference registry over HTTP: the contract, the operator endpoints, seeds, faults, the CLI,
and the demo data set it serves."""

import base64
import json
import socket
import subprocess
import sys
import threading
from collections import Counter
from datetime import UTC, datetime

import pytest
import requests

from lapsewatch.domains import parse_target
from lapsewatch.lifecycle import Lifecycle
from lapsewatch_tools.cli import main
from lapsewatch_tools.registry.app import MAX_BODY, UNVERIFY, RegistryApp
from lapsewatch_tools.registry.demo import DemoDomain, demo_population
from lapsewatch_tools.registry.faults import Fault, FaultPlan
from lapsewatch_tools.registry.server import RegistryServer
from lapsewatch_tools.registry.store import reversed_domain

pytestmark = pytest.mark.integration

TOKEN = "registry-test-token"


def record(email, verified=True, verified_at="2021-03-01T00:00:00Z", user=None):
    return json.dumps(
        {
            "user": user or email.partition("@")[0] or "someone",
            "email": email,
            "verified": verified,
            "verified_at": verified_at if verified else None,
        },
        ensure_ascii=False,
    )


SEED = [
    record("alice@example.com", verified_at="2019-05-01T12:00:00Z"),
    record("bob@example.com", verified_at="2018-01-01T00:00:00Z"),
    record("carol@Example.COM"),
    record("dev@mail.example.com"),
    record("eve@example.com", verified=False),
    record("frank@notexample.com"),
    record("grace@example-com.net"),
    record("heidi@bücher.de"),
    record("ivan@BÜCHER.DE"),
    record("judy@mail.xn--bcher-kva.de"),
    record("kim@example.org."),
    record("root@localhost"),
    record("admin@[10.0.0.1]"),
    record("hello@not a domain"),
    record("nobody@"),
    record("x@co.uk"),
    record("wide@\uff27\uff2d\uff21\uff29\uff2c\u3002\uff23\uff2f\uff2d"),
]


@pytest.fixture
def faults():
    return FaultPlan()


@pytest.fixture
def registry(faults):
    with RegistryServer(RegistryApp(token=TOKEN, faults=faults, address_reads=True)) as server:
        report = server.load_seed(SEED)
        assert report.errors == []
        yield server


def get(registry, path, token=TOKEN, **params):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(registry.url + path, params=params, headers=headers, timeout=5)


def unverify(registry, key="key-1", token=TOKEN, **fields):
    body = {
        "domain": "example.com",
        "include_subdomains": True,
        "verified_before": None,
        "reason": "redemption",
        "evidence": {"lifecycle": "redemption", "provider": "rdap"},
        **fields,
    }
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key}
    return requests.post(f"{registry.url}/v1/email-domains/unverify", json=body, headers=headers, timeout=5)


def emails(registry, domain, **params):
    answer = get(registry, "/v1/emails", domain=domain, **params)
    assert answer.status_code == 200, answer.text
    return {e["email"]: e for e in answer.json()["items"]}


def verified_emails(registry, domain):
    return {address for address, e in emails(registry, domain).items() if e["verified"]}


def all_domains(registry, limit):
    items, cursor, pages = [], None, 0
    while True:
        params = {"limit": limit} if cursor is None else {"limit": limit, "cursor": cursor}
        answer = get(registry, "/v1/email-domains", **params)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        assert len(page["items"]) <= limit
        items += page["items"]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            return items, pages


# The listing


@pytest.mark.parametrize("limit", [1, 2, 3, 7, 1000])
def test_pages_cover_every_domain_with_a_verified_address_exactly_once(registry, limit):
    items, pages = all_domains(registry, limit)
    domains = [item["domain"] for item in items]
    verified = Counter(
        json.loads(line)["email"].rpartition("@")[2] for line in SEED if json.loads(line)["verified"]
    )
    assert Counter(domains) == Counter(set(verified))
    assert {item["domain"]: item["verified_emails"] for item in items} == dict(verified)
    # One row more is read than returned, so the last page is never an empty one.
    assert pages == -(-len(verified) // limit)


def test_the_listing_gives_stored_domains_as_they_are_with_the_oldest_verification(registry):
    items = {item["domain"]: item for item in all_domains(registry, 500)[0]}
    assert items["example.com"] == {
        "domain": "example.com",
        "verified_emails": 2,
        "oldest_verified_at": "2018-01-01T00:00:00Z",
    }
    assert {"Example.COM", "BÜCHER.DE", "bücher.de", "", "[10.0.0.1]", "not a domain"} <= set(items)


def test_the_default_page_size_is_500(registry):
    registry.load_seed(record(f"user@domain{n:04}.com") for n in range(600))
    page = get(registry, "/v1/email-domains").json()
    assert len(page["items"]) == 500
    assert page["next_cursor"]


@pytest.mark.parametrize("limit", ["0", "1001", "-1", "abc", "1.5", "", "\u0665", " 5"])
def test_a_limit_out_of_range_or_not_a_whole_number_is_400(registry, limit):
    answer = get(registry, "/v1/email-domains", limit=limit)
    assert answer.status_code == 400
    assert "limit" in answer.json()["error"]


@pytest.mark.parametrize("cursor", ["garbage", "%%%", "", "W10", "WyJ2MiIsICJ4Il0"])
def test_a_cursor_the_registry_did_not_give_out_is_400(registry, cursor):
    answer = get(registry, "/v1/email-domains", cursor=cursor)
    assert answer.status_code == 400
    assert "cursor" in answer.json()["error"]


def test_unknown_or_repeated_parameters_are_400(registry):
    assert get(registry, "/v1/email-domains", limt=5).status_code == 400
    answer = requests.get(
        f"{registry.url}/v1/email-domains?limit=1&limit=2", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert answer.status_code == 400


# Authentication and routing


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong", f"Basic {TOKEN}", "Bearer", f"Bearer {TOKEN}x", TOKEN]
)
@pytest.mark.parametrize("path", ["/v1/email-domains", "/v1/emails?domain=example.com", "/v1/audit"])
def test_a_wrong_or_missing_token_is_401(registry, path, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    answer = requests.get(registry.url + path, headers=headers, timeout=5)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == "Bearer"
    assert TOKEN not in answer.text


def test_unverify_without_the_token_is_401_and_changes_nothing(registry):
    assert unverify(registry, token="wrong").status_code == 401
    assert "alice@example.com" in verified_emails(registry, "example.com")


def test_the_bearer_scheme_is_case_insensitive(registry):
    answer = requests.get(f"{registry.url}/v1/audit", headers={"Authorization": f"bearer {TOKEN}"})
    assert answer.status_code == 200


def test_unknown_paths_are_404_and_wrong_methods_405(registry):
    assert get(registry, "/v2/email-domains").status_code == 404
    answer = requests.delete(f"{registry.url}/v1/email-domains", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 405
    assert answer.headers["Allow"] == "GET"
    assert requests.get(f"{registry.url}/v1/email-domains/unverify").headers["Allow"] == "POST"


# Unverify


def test_unverify_matches_the_domain_and_its_subdomains_in_any_spelling(registry):
    answer = unverify(registry)
    assert answer.status_code == 200
    assert answer.json() == {"unverified": 4, "replayed": False}
    assert verified_emails(registry, "example.com") == set()
    unverified = emails(registry, "example.com")
    assert unverified["dev@mail.example.com"]["unverified_reason"] == "redemption"
    assert unverified["dev@mail.example.com"]["unverified_at"]
    # Look-alikes are other domains.
    assert verified_emails(registry, "notexample.com") == {"frank@notexample.com"}
    assert verified_emails(registry, "example-com.net") == {"grace@example-com.net"}


def test_without_include_subdomains_only_the_domain_itself_matches(registry):
    answer = unverify(registry, include_subdomains=False)
    assert answer.json() == {"unverified": 3, "replayed": False}
    assert verified_emails(registry, "example.com") == {"dev@mail.example.com"}


def test_verified_before_spares_addresses_verified_since(registry):
    answer = unverify(registry, verified_before="2019-05-01T12:00:00Z", reason="reregistered")
    # bob (2018) goes; alice, verified at that very second, and the 2021 addresses stay.
    assert answer.json() == {"unverified": 1, "replayed": False}
    assert "bob@example.com" not in verified_emails(registry, "example.com")
    assert "alice@example.com" in verified_emails(registry, "example.com")


def test_verified_before_may_have_any_offset(registry):
    answer = unverify(registry, verified_before="2019-05-01T14:00:01+02:00")
    assert answer.json()["unverified"] == 2


def test_unicode_domains_are_matched_through_their_a_label(registry):
    answer = unverify(registry, domain="xn--bcher-kva.de")
    assert answer.json() == {"unverified": 3, "replayed": False}
    assert emails(registry, "bücher.de").keys() == {
        "heidi@bücher.de",
        "ivan@BÜCHER.DE",
        "judy@mail.xn--bcher-kva.de",
    }


def test_addresses_spelt_with_a_trailing_dot_or_fullwidth_characters_are_matched(registry):
    assert unverify(registry, "k1", domain="example.org").json()["unverified"] == 1
    assert unverify(registry, "k2", domain="gmail.com").json()["unverified"] == 1


def test_junk_domains_are_stored_and_listed_but_never_matched(registry):
    for junk in ("localhost", "[10.0.0.1]", "not a domain", "", "-bad-.com"):
        assert reversed_domain(junk) is None
    for n, domain in enumerate(
        ["example.com", "bücher.de", "gmail.com", "notexample.com", "example-com.net"]
    ):
        unverify(registry, f"key-{n}", domain=parse_target(domain).domain)
    listed = {item["domain"] for item in all_domains(registry, 100)[0]}
    assert {"localhost", "[10.0.0.1]", "not a domain", "", "co.uk"} <= listed


def test_the_same_key_and_body_replays_the_first_answer_without_a_new_effect(registry):
    first = unverify(registry)
    registry.load_seed([record("late@example.com", verified_at="2025-01-01T00:00:00Z")])
    again = unverify(registry)
    assert again.status_code == 200
    assert again.json() == {"unverified": first.json()["unverified"], "replayed": True}
    assert verified_emails(registry, "example.com") == {"late@example.com"}


def test_the_same_body_in_another_spelling_is_the_same_body(registry):
    unverify(registry, verified_before="2026-11-01T00:00:00Z", evidence={"a": 1, "b": 2})
    again = unverify(registry, verified_before="2026-11-01T01:00:00+01:00", evidence={"b": 2, "a": 1})
    assert again.json()["replayed"] is True


def test_the_same_key_with_another_body_is_409(registry):
    unverify(registry)
    answer = unverify(registry, evidence={"lifecycle": "redemption", "checked_at": "later"})
    assert answer.status_code == 409
    assert "Idempotency-Key" in answer.json()["error"]
    assert unverify(registry, domain="notexample.com").status_code == 409


def test_concurrent_duplicates_apply_once(registry):
    answers = []
    threads = [threading.Thread(target=lambda: answers.append(unverify(registry).json())) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(a["replayed"] for a in answers) == [False] + [True] * 15
    assert {a["unverified"] for a in answers} == {4}


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"domain": "Example.com"}, "domain"),
        ({"domain": "bücher.de"}, "domain"),
        ({"domain": "com"}, "domain"),
        ({"domain": "example.com."}, "domain"),
        ({"domain": ".example.com"}, "domain"),
        ({"domain": "exa mple.com"}, "domain"),
        ({"domain": "xn--zz.com"}, "domain"),
        ({"domain": "10.0.0.1"}, "domain"),
        ({"domain": 42}, "domain"),
        ({"domain": None}, "domain"),
        ({"domain": "co.uk"}, "'co.uk' is a public suffix"),
        ({"domain": "mail.example.com"}, "'mail.example.com' is a name under 'example.com'"),
        ({"domain": "dev.localhost"}, "localhost names are not registrable"),
        ({"reason": "active"}, "reason"),
        ({"reason": "unknown"}, "reason"),
        ({"reason": "Redemption"}, "reason"),
        ({"include_subdomains": "true"}, "include_subdomains"),
        ({"include_subdomains": 1}, "include_subdomains"),
        ({"verified_before": "yesterday"}, "verified_before"),
        ({"verified_before": "2026-11-01"}, "verified_before"),
        ({"verified_before": "2026-11-01T00:00:00"}, "verified_before"),
        ({"verified_before": "2026-13-01T00:00:00Z"}, "verified_before"),
        ({"verified_before": 1767225600}, "verified_before"),
        ({"evidence": []}, "evidence"),
        ({"evidence": "rdap said so"}, "evidence"),
        ({"evidence": None}, "evidence"),
        ({"extra": 1}, "unknown fields: extra"),
    ],
)
def test_a_malformed_body_is_400_with_an_error(registry, fields, error):
    answer = unverify(registry, **fields)
    assert answer.status_code == 400
    assert error in answer.json()["error"]
    assert len(verified_emails(registry, "example.com")) == 4


UNDER_PUBLIC_SUFFIXES = {
    "co.uk": {"x@co.uk", "ann@corp.co.uk", "dev@mail.corp.co.uk", "bo@shop.co.uk"},
    "com.au": {"au@shop.com.au", "mel@com.au"},
}


@pytest.mark.parametrize("include_subdomains", [True, False])
@pytest.mark.parametrize("suffix", sorted(UNDER_PUBLIC_SUFFIXES))
def test_a_public_suffix_is_400_and_nobody_under_it_is_unverified(registry, suffix, include_subdomains):
    registry.load_seed(
        record(address)
        for addresses in UNDER_PUBLIC_SUFFIXES.values()
        for address in addresses
        if address != "x@co.uk"
    )
    answer = unverify(registry, domain=suffix, include_subdomains=include_subdomains)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert "registrable domain" in error
    assert f"'{suffix}' is a public suffix" in error
    assert verified_emails(registry, suffix) == UNDER_PUBLIC_SUFFIXES[suffix]
    assert get(registry, "/v1/audit").json()["items"] == []


def test_a_name_under_a_registrable_domain_is_400_and_changes_nothing(registry):
    answer = unverify(registry, domain="mail.example.com", include_subdomains=False)
    assert answer.status_code == 400
    assert "'mail.example.com' is a name under 'example.com'" in answer.json()["error"]
    assert verified_emails(registry, "mail.example.com") == {"dev@mail.example.com"}


def test_registrable_follows_the_icann_section_of_the_public_suffix_list_alone(registry):
    # github.io is a private-section suffix: under the ICANN section it is an .io name like any other.
    registry.load_seed([record("me@github.io"), record("you@someone.github.io")])
    assert unverify(registry, domain="github.io").json() == {"unverified": 2, "replayed": False}


@pytest.mark.parametrize("missing", ["domain", "include_subdomains", "verified_before", "reason", "evidence"])
def test_every_field_is_required(registry, missing):
    body = {"domain": "example.com", "include_subdomains": True, "verified_before": None}
    body |= {"reason": "redemption", "evidence": {}}
    del body[missing]
    answer = requests.post(
        f"{registry.url}/v1/email-domains/unverify",
        json=body,
        headers={"Authorization": f"Bearer {TOKEN}", "Idempotency-Key": "k"},
    )
    assert answer.status_code == 400
    assert missing in answer.json()["error"]


@pytest.mark.parametrize(
    ("data", "content_type", "error"),
    [
        (b"{not json", "application/json", "not JSON"),
        (b"[1, 2]", "application/json", "JSON object"),
        (b'"example.com"', "application/json", "JSON object"),
        (b"", "application/json", "not JSON"),
        (b'{"domain": "example.com"}', "text/plain", "Content-Type"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_400(registry, data, content_type, error):
    answer = requests.post(
        f"{registry.url}/v1/email-domains/unverify",
        data=data,
        headers={"Authorization": f"Bearer {TOKEN}", "Idempotency-Key": "k", "Content-Type": content_type},
    )
    assert answer.status_code == 400
    assert error in answer.json()["error"]


def test_json_nested_too_deeply_to_read_is_400_not_500(registry):
    # json.loads raises RecursionError for it, not the ValueError of other bad JSON.
    answer = requests.post(
        f"{registry.url}/v1/email-domains/unverify",
        data=b"[" * 100_000,
        headers={
            "Authorization": f"Bearer {TOKEN}",
            "Idempotency-Key": "k",
            "Content-Type": "application/json",
        },
    )
    assert answer.status_code == 400
    assert "nested too deeply" in answer.json()["error"]
    cursor = base64.urlsafe_b64encode(b"[" * 40_000).decode()
    answer = get(registry, "/v1/email-domains", cursor=cursor)
    assert answer.status_code == 400
    assert "cursor" in answer.json()["error"]


def raw_post(registry, headers, body=b""):
    """POST an unverify over a bare socket with exactly these extra headers (requests and
    http.client add a Content-Length of their own); the status line and the decoded answer."""
    host, port = registry.url.removeprefix("http://").rsplit(":", 1)
    head = [
        "POST /v1/email-domains/unverify HTTP/1.1",
        f"Host: {host}",
        f"Authorization: Bearer {TOKEN}",
        "Idempotency-Key: raw",
        "Content-Type: application/json",
        *headers,
    ]
    with socket.create_connection((host, int(port)), timeout=5) as connection:
        connection.sendall("\r\n".join([*head, "", ""]).encode() + body)
        # The registry answers and closes; one waiting for a body would time out this recv.
        answer = b"".join(iter(lambda: connection.recv(65536), b""))
    status_line, _, rest = answer.partition(b"\r\n")
    return status_line.decode().split(" ", 1)[1], json.loads(rest.partition(b"\r\n\r\n")[2])


@pytest.mark.parametrize("headers", [[], ["Content-Length:"], ["Transfer-Encoding: chunked"]])
def test_a_post_without_a_content_length_is_411_and_changes_nothing(registry, headers):
    status, answer = raw_post(registry, headers)
    assert status == "411 Length Required"
    assert "Content-Length" in answer["error"]
    assert len(verified_emails(registry, "example.com")) == 4


@pytest.mark.parametrize("length", ["-5", "-0", "abc", "1.5", "+5", "1_0", "0x10", "5 5"])
def test_a_negative_or_non_numeric_content_length_is_400(registry, length):
    status, answer = raw_post(registry, [f"Content-Length: {length}"])
    assert status == "400 Bad Request"
    assert "Content-Length must be a whole number of bytes" in answer["error"]
    assert len(verified_emails(registry, "example.com")) == 4


@pytest.mark.parametrize("length", [str(MAX_BODY + 1), "9" * 5000])
def test_a_content_length_over_the_limit_is_400(registry, length):
    status, answer = raw_post(registry, [f"Content-Length: {length}"])
    assert status == "400 Bad Request"
    assert f"larger than {MAX_BODY} bytes" in answer["error"]


@pytest.mark.parametrize("length", ["0" * 5000 + "2", "2 \t "])
def test_a_content_length_with_leading_zeros_or_white_space_around_is_read_as_its_number(registry, length):
    status, answer = raw_post(registry, [f"Content-Length: {length}"], body=b"{}")
    assert status == "400 Bad Request"
    assert "missing fields" in answer["error"]


class Unreadable:
    def read(self, *args):
        raise AssertionError("the body was read")


@pytest.mark.parametrize(
    ("length", "status"),
    [
        (None, "411 Length Required"),
        ("", "411 Length Required"),
        ("-5", "400 Bad Request"),
        ("abc", "400 Bad Request"),
        (str(MAX_BODY + 1), "400 Bad Request"),
    ],
)
def test_a_bad_content_length_is_answered_without_reading_the_body(length, status):
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/v1/email-domains/unverify",
        "HTTP_AUTHORIZATION": f"Bearer {TOKEN}",
        "HTTP_IDEMPOTENCY_KEY": "k",
        "CONTENT_TYPE": "application/json",
        "wsgi.input": Unreadable(),
    }
    if length is not None:
        environ["CONTENT_LENGTH"] = length
    started = []
    RegistryApp(token=TOKEN)(environ, lambda line, headers: started.append(line))
    assert started == [status]


def test_the_idempotency_key_is_required_and_at_most_255_characters(registry):
    for key in ("", "k" * 256):
        answer = unverify(registry, key=key)
        assert answer.status_code == 400
        assert "Idempotency-Key" in answer.json()["error"]
    assert unverify(registry, key="k" * 255).status_code == 200


# The operator endpoints


def test_emails_lists_a_domain_and_its_subdomains_with_their_state(registry):
    unverify(registry, include_subdomains=False, reason="pending_delete")
    everything = emails(registry, "EXAMPLE.com")
    assert set(everything) == {
        "alice@example.com",
        "bob@example.com",
        "carol@Example.COM",
        "dev@mail.example.com",
        "eve@example.com",
    }
    assert everything["bob@example.com"] == {
        "user": "bob",
        "email": "bob@example.com",
        "domain": "example.com",
        "verified": False,
        "verified_at": "2018-01-01T00:00:00Z",
        "unverified_reason": "pending_delete",
        "unverified_at": everything["bob@example.com"]["unverified_at"],
    }
    assert set(emails(registry, "example.com", verified="true")) == {"dev@mail.example.com"}
    assert len(emails(registry, "example.com", verified="false")) == 4
    assert set(emails(registry, "mail.example.com")) == {"dev@mail.example.com"}


def test_emails_needs_a_domain_name(registry):
    assert get(registry, "/v1/emails").status_code == 400
    assert get(registry, "/v1/emails", domain="not a domain").status_code == 400
    assert get(registry, "/v1/emails", domain="example.com", verified="yes").status_code == 400


def test_the_audit_log_records_every_accepted_call_with_its_effect(registry):
    evidence = {"lifecycle": "reregistered", "registered_at": "2026-09-01T00:00:00Z", "provider": "rdap"}
    body = {"reason": "reregistered", "verified_before": "2026-09-01T00:00:00Z", "evidence": evidence}
    unverify(registry, key="decision-1", **body)
    unverify(registry, key="decision-1", **body)
    unverify(registry, key="decision-1", reason="redemption")  # 409: not accepted, not logged
    unverify(registry, key="decision-2", domain="bücher.de")  # 400: not logged
    log = get(registry, "/v1/audit").json()["items"]
    assert [(e["idempotency_key"], e["unverified"], e["replayed"]) for e in log] == [
        ("decision-1", 4, False),
        ("decision-1", 0, True),
    ]
    assert log[0]["evidence"] == evidence
    assert log[0]["reason"] == "reregistered"
    assert log[0]["verified_before"] == "2026-09-01T00:00:00Z"
    assert log[0]["domain"] == "example.com"
    assert log[0]["include_subdomains"] is True
    assert datetime.fromisoformat(log[0]["at"]).tzinfo is not None


# Seeds


def test_bad_seed_lines_are_reported_with_their_numbers_and_good_lines_load(tmp_path):
    seed = tmp_path / "seed.jsonl"
    seed.write_text(
        "\n".join(
            [
                record("one@example.com"),
                "{not json",
                json.dumps(["a", "list"]),
                json.dumps({"user": "", "email": "x@example.com", "verified": False}),
                json.dumps({"user": "u", "email": "no-at-sign", "verified": False}),
                json.dumps({"user": "u", "email": "u@example.com", "verified": "yes"}),
                json.dumps({"user": "u", "email": "u@example.com", "verified": True}),
                json.dumps({"user": "u", "email": "u@example.com", "verified": True, "verified_at": "soon"}),
                "",
                record("two@bücher.de"),
                record("three@", verified=False),
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    app = RegistryApp(token=TOKEN)
    report = app.load_seed(seed)
    assert report.loaded == 3
    assert [line_no for line_no, _ in report.errors] == [2, 3, 4, 5, 6, 7, 8]
    reasons = dict(report.errors)
    assert reasons[2].startswith("not JSON")
    assert reasons[3] == "not a JSON object"
    assert "user" in reasons[4]
    assert "email" in reasons[5]
    assert "verified" in reasons[6]
    assert "verified_at" in reasons[7]
    assert "soon" in reasons[8]


def test_a_seed_line_nested_too_deeply_is_a_bad_line():
    report = RegistryApp(token=TOKEN).load_seed(["[" * 100_000, record("ok@example.com")])
    assert report.loaded == 1
    assert [line_no for line_no, _ in report.errors] == [1]
    assert report.errors[0][1].startswith("not JSON")


def test_seed_times_are_stored_in_utc_to_the_second(registry):
    registry.load_seed([record("tz@offset.com", verified_at="2021-03-01T01:30:00.123+01:00")])
    assert emails(registry, "offset.com")["tz@offset.com"]["verified_at"] == "2021-03-01T00:30:00Z"


def test_a_file_database_keeps_addresses_and_idempotency_records(tmp_path):
    db = tmp_path / "registry.db"
    with RegistryServer(RegistryApp(db, token=TOKEN)) as registry:
        registry.load_seed(SEED)
        assert unverify(registry).json()["replayed"] is False
    with RegistryServer(RegistryApp(db, token=TOKEN)) as registry:
        assert unverify(registry).json() == {"unverified": 4, "replayed": True}
        assert len(all_domains(registry, 500)[0]) == 12


# Faults


def test_faults_answer_the_next_calls_of_an_endpoint_in_order(registry, faults):
    faults.add(UNVERIFY, Fault.rate_limited(retry_after=7), Fault.unavailable(502))
    first = unverify(registry)
    assert first.status_code == 429
    assert first.headers["Retry-After"] == "7"
    assert "error" in first.json()
    assert unverify(registry).status_code == 502
    assert unverify(registry).json() == {"unverified": 4, "replayed": False}
    assert faults.pending(UNVERIFY) == 0


def test_a_dropped_call_closes_the_connection_without_an_answer_or_an_effect(registry, faults):
    faults.add(UNVERIFY, Fault.dropped())
    with pytest.raises(requests.ConnectionError):
        unverify(registry)
    assert len(verified_emails(registry, "example.com")) == 4


def test_a_slow_call_has_its_effect_before_the_answer_is_late(registry, faults):
    faults.add(UNVERIFY, Fault.slow(1.0))
    with pytest.raises(requests.ReadTimeout):
        requests.post(
            f"{registry.url}/v1/email-domains/unverify",
            json={
                "domain": "example.com",
                "include_subdomains": True,
                "verified_before": None,
                "reason": "hold",
                "evidence": {},
            },
            headers={"Authorization": f"Bearer {TOKEN}", "Idempotency-Key": "slow"},
            timeout=(1, 0.2),
        )
    assert verified_emails(registry, "example.com") == set()


# The command line


def test_registry_serve_loads_the_seed_reports_bad_lines_and_serves(tmp_path):
    seed = tmp_path / "seed.jsonl"
    seed.write_text(record("a@example.com") + "\nnot json\n", encoding="utf-8")
    command = [sys.executable, "-m", "lapsewatch", "registry", "serve", "--port", "0"]
    process = subprocess.Popen(
        [*command, "--seed", str(seed), "--token", TOKEN],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = process.stdout.readline().split()[-1]
        assert url.startswith("http://127.0.0.1:")
        answer = requests.get(f"{url}/v1/email-domains", headers={"Authorization": f"Bearer {TOKEN}"})
        assert [item["domain"] for item in answer.json()["items"]] == ["example.com"]
    finally:
        process.terminate()
        process.wait(timeout=10)
    errors = process.stderr.read()
    assert f"{seed}:2: not JSON" in errors
    assert "loaded 1 addresses, 1 bad lines skipped" in errors


def test_registry_demo_data_writes_the_demo_records(tmp_path, capsys):
    output = tmp_path / "demo.jsonl"
    assert main(["registry", "demo-data", "--output", str(output)]) == 0
    lines = output.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(demo_population().records)
    assert RegistryApp(token=TOKEN).load_seed(lines).errors == []
    assert main(["registry", "demo-data"]) == 0
    assert capsys.readouterr().out.splitlines() == lines


# The demo data set


NOW = datetime(2026, 11, 1, tzinfo=UTC)


def test_the_demo_is_deterministic():
    assert demo_population(seed=7, now=NOW) == demo_population(seed=7, now=NOW)
    assert demo_population(seed=7, now=NOW) != demo_population(seed=8, now=NOW)


def test_the_demo_names_every_registrable_domain_in_its_records():
    population = demo_population(now=NOW)
    registrable = {parse_target(r["email"]).domain for r in population.records} - {None}
    assert registrable == set(population.domains)
    assert 200 <= len(registrable) <= 400
    assert 2000 <= len({r["user"] for r in population.records}) <= 5000


def test_the_demo_has_a_handful_of_domains_in_every_lifecycle():
    population = demo_population(now=NOW)
    lifecycles = Counter(state.lifecycle for state in population.domains.values())
    for lifecycle in set(Lifecycle) - {Lifecycle.INVALID}:
        assert lifecycles[lifecycle] >= 2, lifecycle
    assert lifecycles[Lifecycle.ACTIVE] > len(population.domains) / 2


def test_the_demo_has_providers_subdomains_unicode_junk_and_unverified_addresses():
    records = demo_population(now=NOW).records
    addresses = [r["email"] for r in records]
    by_domain = Counter(parse_target(a).domain for a in addresses)
    assert by_domain.most_common(1)[0][0] == "gmail.com"
    assert any(a.endswith("@mail.corp.co.uk") for a in addresses)
    assert "xn--bcher-kva.de" in by_domain and "xn--r8jz45g.jp" in by_domain
    assert {"root@localhost", "admin@[10.0.0.1]", "someone@co.uk", "hello@not a domain", "nobody@"} <= set(
        addresses
    )
    unverified = [r for r in records if not r["verified"]]
    assert 0 < len(unverified) < len(records) / 10
    assert all(r["verified_at"] is None for r in unverified)
    assert all(r["verified_at"] for r in records if r["verified"])


def test_the_demo_dates_tell_each_lifecycle():
    population = demo_population(now=NOW)
    oldest = {}
    for r in population.records:
        domain = parse_target(r["email"]).domain
        if domain and r["verified"]:
            moment = datetime.fromisoformat(r["verified_at"])
            oldest[domain] = min(oldest.get(domain, moment), moment)
    for domain, state in population.domains.items():
        if state.lifecycle in (Lifecycle.UNKNOWN, Lifecycle.UNREGISTERED):
            assert state == DemoDomain(state.lifecycle, None, None)
        elif state.lifecycle is Lifecycle.REREGISTERED:
            assert state.registered_at > oldest[domain]
        else:
            assert state.registered_at < oldest.get(domain, NOW), domain
            assert (state.expires_at < NOW) == (
                state.lifecycle in (Lifecycle.GRACE, Lifecycle.REDEMPTION, Lifecycle.PENDING_DELETE)
            )


def test_the_demo_unknown_domains_are_those_refused_and_those_nothing_serves():
    from importlib import resources

    def bundled(name):
        return json.loads((resources.files("lapsewatch") / "data" / name).read_text("utf-8"))

    served = {
        tld
        for name in ("rdap_dns.json", "rdap_extra.json")
        for tlds, _ in bundled(name)["services"]
        for tld in tlds
    }
    served |= set(bundled("whois.json")["tlds"])
    domains = demo_population(now=NOW).domains
    unknown = {domain for domain, state in domains.items() if state.lifecycle is Lifecycle.UNKNOWN}
    # Refused by their registry's server (.de and .io, served through the extra file), or at a
    # TLD no provider serves (.gr): unprotected.
    assert unknown == {"xn--bcher-kva.de", "beispiel-gmbh.de", "startup.io", "kafeneio.gr"}
    unserved = {domain for domain in domains if domain.rsplit(".", 1)[1] not in served}
    assert unserved == {"kafeneio.gr"}
    # Served through WHOIS alone, and through the extra file alone: the demo's stand-ins answer.
    assert domains["xn--r8jz45g.jp"].lifecycle is Lifecycle.ACTIVE
    assert domains["vecchia-trattoria.it"].lifecycle is Lifecycle.REDEMPTION
    assert (
        domains["gmx.de"].lifecycle is Lifecycle.ACTIVE and domains["proton.me"].lifecycle is Lifecycle.ACTIVE
    )


def test_the_demo_keeps_an_address_verified_after_its_domain_was_registered_again():
    population = demo_population(now=NOW)
    registered_at = population.domains["recycled-name.com"].registered_at
    late = [r for r in population.records if r["email"] == "new.owner@recycled-name.com"]
    assert late and datetime.fromisoformat(late[0]["verified_at"]) > registered_at


def served(*arguments):
    """`lapsewatch registry serve …` in a process of its own, and its URL."""
    command = [sys.executable, "-m", "lapsewatch", "registry", "serve", "--port", "0", *arguments]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return process, process.stdout.readline().split()[-1]


@pytest.mark.parametrize("path", ["/v1/emails?domain=example.com", "/v1/notices"])
def test_the_listing_token_reads_no_address_unless_the_registry_serves_the_demo(tmp_path, path):
    seed = tmp_path / "seed.jsonl"
    seed.write_text(record("a@example.com") + "\n", encoding="utf-8")
    process, url = served("--seed", str(seed), "--token", TOKEN)
    try:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        refused = requests.get(f"{url}{path}", headers=auth, timeout=5)
        assert refused.status_code == 403
        assert "a@example.com" not in refused.text
        assert requests.get(f"{url}/v1/email-domains", headers=auth, timeout=5).status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=10)

    process, url = served("--demo", "--token", TOKEN)
    try:
        answer = requests.get(f"{url}{path}", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
        assert answer.status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_client_trickling_its_request_is_cut_off():
    with RegistryServer(RegistryApp(token=TOKEN), request_timeout=0.5) as registry:
        host, port = registry.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=5) as slow:
            slow.sendall(b"GET /v1/email-domains HTTP/1.1\r\nHost: x\r\n")
            # Never the blank line that ends the headers: the server stops waiting and hangs up.
            assert slow.recv(1024) == b""
        answer = requests.get(
            f"{registry.url}/v1/email-domains", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5
        )
        assert answer.status_code == 200
