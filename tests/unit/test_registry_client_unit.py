"""The registry client without a network: decision keys, request bodies, answer parsing, retry
settings, and the token from the environment."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
import requests

from lapsewatch.lifecycle import Lifecycle
from lapsewatch.registry import (
    EmailDomain,
    Page,
    PermanentRegistryError,
    RegistryClient,
    RegistryTokenError,
    UnverifyRequest,
    UnverifyResult,
    decision_key,
    registry_token,
)
from lapsewatch.registry.client import CappedRetry, _parse_page, _parse_unverify_result

REGISTERED = datetime(2026, 9, 1, tzinfo=UTC)
VERIFIED = datetime(2019, 5, 1, 12, tzinfo=UTC)

# decision_key


def test_a_decision_key_is_derived_from_the_decision_alone():
    key = decision_key("example.com", Lifecycle.REREGISTERED, REGISTERED, VERIFIED)
    assert key == decision_key("example.com", "reregistered", REGISTERED, VERIFIED)
    assert key.startswith("lapsewatch-v1-")
    assert len(key) == len("lapsewatch-v1-") + 64
    assert len(key) <= 255
    assert key.isascii() and key.isprintable()


@pytest.mark.parametrize(
    "other",
    [
        ("example.org", "reregistered", REGISTERED, VERIFIED),
        ("example.com", "redemption", REGISTERED, VERIFIED),
        ("example.com", "reregistered", REGISTERED + timedelta(days=1), VERIFIED),
        ("example.com", "reregistered", None, VERIFIED),
        # An address verified later at the same lapsed domain is a new decision.
        ("example.com", "reregistered", REGISTERED, VERIFIED + timedelta(days=400)),
        ("example.com", "reregistered", REGISTERED, None),
    ],
)
def test_a_different_decision_gets_a_different_key(other):
    assert decision_key("example.com", "reregistered", REGISTERED, VERIFIED) != decision_key(*other)


def test_a_decision_key_reads_times_to_the_second_in_utc():
    key = decision_key("example.com", "redemption", REGISTERED, VERIFIED)
    paris = timezone(timedelta(hours=2))
    assert key == decision_key(
        "example.com",
        "redemption",
        REGISTERED.astimezone(paris) + timedelta(microseconds=999),
        VERIFIED.replace(tzinfo=None),
    )


def test_decision_keys_do_not_collide_across_fields():
    # A JSON list of the fields, not a joined string: no field can spill into the next.
    assert decision_key("a.com", "grace", None, None) != decision_key("a.co", "mgrace", None, None)


# UnverifyRequest


def test_an_unverify_body_has_every_field_of_the_contract():
    request = UnverifyRequest(
        "example.com",
        Lifecycle.REREGISTERED,
        {"lifecycle": "reregistered", "statuses": ["active"]},
        verified_before=datetime(2026, 11, 1, 2, tzinfo=timezone(timedelta(hours=2))),
    )
    assert request.to_body() == {
        "domain": "example.com",
        "include_subdomains": True,
        "verified_before": "2026-11-01T00:00:00Z",
        "reason": "reregistered",
        "evidence": {"lifecycle": "reregistered", "statuses": ["active"]},
    }


def test_an_unverify_body_may_leave_out_subdomains_and_dates():
    body = UnverifyRequest("xn--bcher-kva.de", "hold", {}, include_subdomains=False).to_body()
    assert body["include_subdomains"] is False
    assert body["verified_before"] is None
    assert set(body) == {"domain", "include_subdomains", "verified_before", "reason", "evidence"}


@pytest.mark.parametrize(
    "domain", ["Example.com", "bücher.de", "com", "example.com.", "", "a b.com", None, 42]
)
def test_an_unverify_request_needs_a_lowercase_a_label_domain(domain):
    with pytest.raises(ValueError, match="A-label"):
        UnverifyRequest(domain, "redemption", {})


@pytest.mark.parametrize("reason", ["active", "unknown", "invalid", "expired", Lifecycle.ACTIVE])
def test_an_unverify_request_needs_a_reason_from_the_contract(reason):
    with pytest.raises(ValueError, match="reason"):
        UnverifyRequest("example.com", reason, {})


@pytest.mark.parametrize("evidence", [["a"], "text", {"when": datetime(2026, 1, 1)}])
def test_an_unverify_request_needs_json_evidence(evidence):
    with pytest.raises(ValueError, match="evidence"):
        UnverifyRequest("example.com", "redemption", evidence)


# Parsing answers


def test_a_page_is_parsed_into_typed_items():
    body = {
        "items": [
            {
                "domain": "Mail.Example.COM",
                "verified_emails": 3,
                "oldest_verified_at": "2019-05-01T12:00:00Z",
            },
            {"domain": "", "verified_emails": 1, "oldest_verified_at": "2019-05-01T14:00:00+02:00", "x": 1},
        ],
        "next_cursor": "abc",
    }
    assert _parse_page(body) == Page(
        [EmailDomain("Mail.Example.COM", 3, VERIFIED), EmailDomain("", 1, VERIFIED)],
        "abc",
    )
    assert _parse_page({"items": [], "next_cursor": None}) == Page([], None)


@pytest.mark.parametrize("oldest", ["yesterday", None, 20190501, "", ["2019-05-01T12:00:00Z"]])
def test_an_unreadable_oldest_verified_at_keeps_the_domain(oldest):
    body = {
        "items": [{"domain": "a.com", "verified_emails": 1, "oldest_verified_at": oldest}],
        "next_cursor": None,
    }
    assert _parse_page(body).items == [EmailDomain("a.com", 1, None)]


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        "page",
        {"next_cursor": None},
        {"items": None, "next_cursor": None},
        {"items": []},
        {"items": [], "next_cursor": 1},
        {"items": [], "next_cursor": ""},
        {"items": [None], "next_cursor": None},
        {"items": [{"verified_emails": 1}], "next_cursor": None},
        {"items": [{"domain": None, "verified_emails": 1}], "next_cursor": None},
        {"items": [{"domain": "a.com", "verified_emails": 1.0}], "next_cursor": None},
        {"items": [{"domain": "a.com", "verified_emails": False}], "next_cursor": None},
        {"items": [{"domain": "a.com", "verified_emails": -2}], "next_cursor": None},
    ],
)
def test_a_page_of_another_shape_is_a_permanent_error(body):
    with pytest.raises(PermanentRegistryError) as raised:
        _parse_page(body)
    assert not raised.value.retryable
    assert "contract" in str(raised.value)


def test_an_unverify_answer_is_parsed():
    assert _parse_unverify_result({"unverified": 3, "replayed": True}) == UnverifyResult(3, True)
    assert _parse_unverify_result({"unverified": 0, "replayed": False, "x": 1}) == UnverifyResult(0, False)


@pytest.mark.parametrize(
    "body",
    [
        {"unverified": 3},
        {"replayed": False},
        {"unverified": True, "replayed": False},
        {"unverified": 1, "replayed": "false"},
        {"unverified": -1, "replayed": False},
        [3, False],
    ],
)
def test_an_unverify_answer_of_another_shape_is_a_permanent_error(body):
    with pytest.raises(PermanentRegistryError):
        _parse_unverify_result(body)


# The client's settings


def test_retry_after_is_honoured_up_to_the_cap():
    retry = CappedRetry(total=3, retry_after_cap=10.0)
    assert retry.parse_retry_after("3") == 3
    assert retry.parse_retry_after("3600") == 10.0
    assert retry.parse_retry_after("not a date") == 0.0
    assert retry.new(total=2).retry_after_cap == 10.0


def test_the_client_retries_429_and_5xx_for_get_and_post():
    client = RegistryClient("http://127.0.0.1:9/", "token")
    retry = client._session.get_adapter("http://127.0.0.1:9/v1/email-domains").max_retries
    assert isinstance(retry, CappedRetry)
    assert retry.total == 5
    assert set(retry.status_forcelist) == {429, 500, 502, 503, 504}
    assert {"GET", "POST"} <= set(retry.allowed_methods)
    assert retry.respect_retry_after_header
    assert retry.raise_on_status is False
    assert client.base_url == "http://127.0.0.1:9"


def test_a_shared_session_keeps_its_other_adapters():
    session = requests.Session()
    RegistryClient("https://registry.example/api", "token", session=session)
    assert not isinstance(session.get_adapter("https://other.example/").max_retries, CappedRetry)
    assert isinstance(session.get_adapter("https://registry.example/api/v1/audit").max_retries, CappedRetry)


def test_the_token_is_not_in_the_client_repr():
    client = RegistryClient("http://127.0.0.1:9", "very-secret-token")
    assert "very-secret-token" not in repr(client)
    assert "very-secret-token" not in repr(client._auth)
    assert "very-secret-token" not in repr(vars(client))


@pytest.mark.parametrize(
    ("url", "token"), [("127.0.0.1:8080", "t"), ("ftp://registry", "t"), ("http://r", "")]
)
def test_the_client_needs_an_http_url_and_a_token(url, token):
    with pytest.raises(ValueError):
        RegistryClient(url, token)


@pytest.mark.parametrize("limit", [0, 1001, -5])
def test_a_page_limit_must_be_from_1_to_1000(limit):
    with pytest.raises(ValueError, match="limit"):
        RegistryClient("http://127.0.0.1:9", "t").page(limit=limit)


@pytest.mark.parametrize("key", ["", "k" * 256, " padded", "caf\u00e9", "new\nline"])
def test_an_idempotency_key_must_be_printable_ascii_of_at_most_255(key):
    with pytest.raises(ValueError, match="Idempotency-Key"):
        RegistryClient("http://127.0.0.1:9", "t").unverify(UnverifyRequest("example.com", "grace", {}), key)


# The token from the environment (Secrets Manager: tests/integration/test_registry_client.py)


def test_the_token_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("LAPSEWATCH_REGISTRY_TOKEN_SECRET_ARN", raising=False)
    monkeypatch.setenv("LAPSEWATCH_REGISTRY_TOKEN", " local-token\n")
    assert registry_token() == "local-token"


@pytest.mark.parametrize("token", [None, "", "   "])
def test_no_token_is_a_clear_error(monkeypatch, token):
    monkeypatch.delenv("LAPSEWATCH_REGISTRY_TOKEN_SECRET_ARN", raising=False)
    if token is None:
        monkeypatch.delenv("LAPSEWATCH_REGISTRY_TOKEN", raising=False)
    else:
        monkeypatch.setenv("LAPSEWATCH_REGISTRY_TOKEN", token)
    with pytest.raises(RegistryTokenError, match="LAPSEWATCH_REGISTRY_TOKEN_SECRET_ARN"):
        registry_token()
