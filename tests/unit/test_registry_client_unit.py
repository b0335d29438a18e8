"""The registry client without a network: decision keys, request bodies, answer parsing, paging
limits, the URLs it accepts, retry settings, and the token from the environment."""

import itertools
from datetime import UTC, datetime, timedelta, timezone

import pytest
import requests

from lapsewatch.domains import registrable_domain
from lapsewatch.lifecycle import Lifecycle
from lapsewatch.registry import (
    EmailDomain,
    Page,
    PermanentRegistryError,
    RegistryClient,
    UnverifyRequest,
    UnverifyResult,
    decision_key,
)
from lapsewatch.registry.answers import parse_page as _parse_page
from lapsewatch.registry.answers import parse_unverify_result as _parse_unverify_result
from lapsewatch.registry.client import DEFAULT_MAX_PAGES, MAX_LIMIT
from lapsewatch.registry.retry import CappedRetry
from lapsewatch.secrets import RegistryTokenError, registry_token

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


@pytest.mark.parametrize(
    ("domain", "why"),
    [
        ("co.uk", "public suffix"),
        ("com.au", "public suffix"),
        ("xn--fiqs8s", "A-label"),  # 中国: one label
        ("mail.example.com", "a name under 'example.com'"),
        ("www.corp.co.uk", "a name under 'corp.co.uk'"),
        ("mail.xn--bcher-kva.de", "a name under 'xn--bcher-kva.de'"),
        ("dev.localhost", "localhost"),
    ],
)
def test_an_unverify_request_needs_a_registrable_domain(domain, why):
    # With include_subdomains, an unverify of co.uk would unverify everyone under it.
    with pytest.raises(ValueError, match=why):
        UnverifyRequest(domain, "redemption", {})


@pytest.mark.parametrize(
    "domain",
    [
        "example.com",
        "corp.co.uk",
        "xn--bcher-kva.de",
        "example.com.au",
        # Only the PSL's ICANN section counts: github.io is registrable there, like any .io name.
        "github.io",
        # A TLD missing from the list is a public suffix all the same (the PSL's "*" rule).
        "name.example",
    ],
)
def test_an_unverify_request_takes_a_domain_exactly_as_registrable_domain_gives_it(domain):
    assert registrable_domain(domain) == domain
    assert UnverifyRequest(domain, "redemption", {}).domain == domain


@pytest.mark.parametrize("reason", ["active", "unknown", "invalid", "expired", Lifecycle.ACTIVE])
def test_an_unverify_request_needs_a_reason_from_the_contract(reason):
    with pytest.raises(ValueError, match="reason"):
        UnverifyRequest("example.com", reason, {})


def nested(depth):
    value = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    "evidence", [["a"], "text", {"when": datetime(2026, 1, 1)}, {"deep": nested(100_000)}]
)
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
    assert _parse_page(body, 2) == Page(
        [EmailDomain("Mail.Example.COM", 3, VERIFIED), EmailDomain("", 1, VERIFIED)],
        "abc",
    )
    assert _parse_page({"items": [], "next_cursor": None}, 1) == Page([], None)


@pytest.mark.parametrize("oldest", ["yesterday", None, 20190501, "", ["2019-05-01T12:00:00Z"]])
def test_an_unreadable_oldest_verified_at_keeps_the_domain(oldest):
    body = {
        "items": [{"domain": "a.com", "verified_emails": 1, "oldest_verified_at": oldest}],
        "next_cursor": None,
    }
    assert _parse_page(body, 500).items == [EmailDomain("a.com", 1, None)]


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
        _parse_page(body, 500)
    assert not raised.value.retryable
    assert "contract" in str(raised.value)


def items(count):
    return [{"domain": f"d{n}.com", "verified_emails": 1, "oldest_verified_at": None} for n in range(count)]


@pytest.mark.parametrize(("count", "limit"), [(2, 1), (501, 500), (MAX_LIMIT + 1, MAX_LIMIT)])
def test_a_page_longer_than_the_limit_asked_for_is_a_permanent_error(count, limit):
    with pytest.raises(
        PermanentRegistryError, match=f"{count} items, more than the limit of {limit}"
    ) as raised:
        _parse_page({"items": items(count), "next_cursor": None}, limit)
    assert not raised.value.retryable
    assert "contract" in str(raised.value)


def test_a_page_as_long_as_the_limit_is_kept():
    assert len(_parse_page({"items": items(MAX_LIMIT), "next_cursor": None}, MAX_LIMIT).items) == MAX_LIMIT


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


# Paging to the end, or to max_pages


class ScriptedListing(RegistryClient):
    """A client whose pages come from a list of next cursors, without a network."""

    def __init__(self, cursors):
        super().__init__("https://registry.example", "token")
        self.cursors = iter(cursors)
        self.asked = []

    def page(self, cursor=None, limit=500):
        self.asked.append(cursor)
        return Page([EmailDomain(f"d{len(self.asked)}.com", 1, None)], next(self.cursors))


def endless():
    return (f"c{n}" for n in itertools.count(1))


def test_a_listing_that_does_not_end_within_max_pages_stops():
    listing = ScriptedListing(endless())
    read = []
    with pytest.raises(PermanentRegistryError, match="did not end within 3 pages of up to 10") as raised:
        read.extend(listing.pages(10, max_pages=3))
    assert not raised.value.retryable
    # The third page, still with a next cursor, is read but not handed on.
    assert listing.asked == [None, "c1", "c2"]
    assert [page.next_cursor for page in read] == ["c1", "c2"]


def test_a_listing_of_exactly_max_pages_ends_normally():
    listing = ScriptedListing(["c1", "c2", None])
    assert [page.next_cursor for page in listing.pages(max_pages=3, cursor="c0")] == ["c1", "c2", None]
    assert listing.asked == ["c0", "c1", "c2"]


def test_by_default_a_listing_stops_after_20_000_pages():
    assert DEFAULT_MAX_PAGES == 20_000
    listing = ScriptedListing(endless())
    with pytest.raises(PermanentRegistryError, match="did not end within 20000 pages"):
        for _ in listing.iter_email_domains():
            pass
    assert len(listing.asked) == DEFAULT_MAX_PAGES


def test_max_pages_none_pages_to_the_end():
    listing = ScriptedListing([*(f"c{n}" for n in range(1, 50)), None])
    assert len(list(listing.pages(max_pages=None))) == 50


def test_the_repeated_cursor_guard_still_applies_within_max_pages():
    listing = ScriptedListing(["c1", "c2", "c1", "c2"])
    with pytest.raises(PermanentRegistryError, match="cursor it had returned before"):
        list(listing.pages(max_pages=None))
    assert listing.asked == [None, "c1", "c2"]


@pytest.mark.parametrize("max_pages", [0, -1])
def test_max_pages_must_be_at_least_1(max_pages):
    listing = ScriptedListing([None])
    with pytest.raises(ValueError, match="max_pages"):
        listing.pages(max_pages=max_pages)  # refused at the call, before any page is asked for
    assert listing.asked == []


# The client's settings


def test_retry_after_is_honoured_up_to_the_cap():
    retry = CappedRetry(total=3, retry_after_cap=10.0)
    assert retry.parse_retry_after("3") == 3
    assert retry.parse_retry_after("3600") == 10.0
    assert retry.parse_retry_after("not a date") == 0.0
    assert retry.new(total=2).retry_after_cap == 10.0


def test_the_client_retries_429_and_5xx_for_get_and_post():
    client = RegistryClient("http://127.0.0.1:9/", "token", allow_loopback_http=True)
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
    client = RegistryClient("http://127.0.0.1:9", "very-secret-token", allow_loopback_http=True)
    assert "very-secret-token" not in repr(client)
    assert "very-secret-token" not in repr(client._auth)
    assert "very-secret-token" not in repr(vars(client))


@pytest.mark.parametrize(
    "url", ["127.0.0.1:8080", "ftp://registry.example", "registry.example", "https://", "https:///v1"]
)
def test_the_client_needs_an_https_url(url):
    with pytest.raises(ValueError, match="registry URL"):
        RegistryClient(url, "t")


def test_the_client_needs_a_token():
    with pytest.raises(ValueError, match="token"):
        RegistryClient("https://registry.example", "")


@pytest.mark.parametrize("allow_loopback_http", [True, False])
@pytest.mark.parametrize(
    "url", ["https://registry.example/api", "https://10.0.0.1", "https://127.0.0.1:8443"]
)
def test_https_is_allowed_anywhere(url, allow_loopback_http):
    assert RegistryClient(url, "t", allow_loopback_http=allow_loopback_http).base_url == url


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8080", "http://127.5.6.7", "http://[::1]:8080/registry", "http://localhost:8080"],
)
def test_plain_http_reaches_a_loopback_host(url):
    assert RegistryClient(url, "t", allow_loopback_http=True).base_url == url


@pytest.mark.parametrize(
    "url",
    [
        "http://registry.example",
        "http://10.0.0.1:8080",
        "http://0.0.0.0:8080",
        "http://[::2]",
        "http://127.0.0.1.nip.io",
        "http://localhost.example.com",
        "http://",
    ],
)
def test_plain_http_to_any_other_host_is_refused(url):
    with pytest.raises(ValueError, match="loopback host"):
        RegistryClient(url, "t")


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080", "http://[::1]", "http://localhost"])
def test_plain_http_to_loopback_is_refused_when_not_allowed(url):
    with pytest.raises(ValueError, match="allow_loopback_http=False"):
        RegistryClient(url, "t", allow_loopback_http=False)


@pytest.mark.parametrize("limit", [0, 1001, -5])
def test_a_page_limit_must_be_from_1_to_1000(limit):
    with pytest.raises(ValueError, match="limit"):
        RegistryClient("http://127.0.0.1:9", "t", allow_loopback_http=True).page(limit=limit)


@pytest.mark.parametrize("key", ["", "k" * 256, " padded", "caf\u00e9", "new\nline"])
def test_an_idempotency_key_must_be_printable_ascii_of_at_most_255(key):
    with pytest.raises(ValueError, match="Idempotency-Key"):
        RegistryClient("http://127.0.0.1:9", "t", allow_loopback_http=True).unverify(
            UnverifyRequest("example.com", "grace", {}), key
        )


# The token from the environment (Secrets Manager: tests/integration/test_registry_client.py)


def test_the_token_comes_from_the_environment():
    assert registry_token("", " local-token\n") == "local-token"


@pytest.mark.parametrize("token", ["", "   "])
def test_no_token_is_a_clear_error(token):
    with pytest.raises(RegistryTokenError, match="LAPSEWATCH_REGISTRY_TOKEN_SECRET_ARN"):
        registry_token("", token)


def test_the_sweep_reads_the_token_from_its_settings_mapping():
    from lapsewatch.sweep.settings import SweepSettings

    env = {"LAPSEWATCH_DOMAINS_TABLE": "d", "LAPSEWATCH_RUNS_TABLE": "r", "LAPSEWATCH_REGISTRY_TOKEN": "t0k"}
    settings = SweepSettings.from_env(env)
    assert registry_token(settings.registry_token_secret_arn, settings.registry_token) == "t0k"
    assert "t0k" not in repr(settings)
