"""Reading Fastly's status answers, and the error reader Fastly and Domainr share, without a network."""

import json
import logging
import time

import pytest

from lapsewatch.lifecycle import Lifecycle
from lapsewatch.net.doubt import Doubt
from lapsewatch.net.fetch import HttpAnswer
from lapsewatch.providers.domainr import (
    TOKENS,
    DomainrProvider,
    error_detail,
    http_failure,
    quoted,
    unmapped_tokens,
)
from lapsewatch.providers.factory import ProviderSettings
from lapsewatch.providers.fastly import STATUS_URL, FastlyProvider, read_status
from lapsewatch.ratelimit import shared_limiter

KEY = "fastly-secret-key-0123456789"


def answer(document, domain="example.com"):
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    return read_status(body, domain, secrets=[KEY])


def status(text, domain="example.com"):
    return answer({"domain": domain, "zone": "com", "status": text, "tags": "generic"}, domain)


def doubt_of(document, domain="example.com"):
    with pytest.raises(Doubt) as caught:
        answer(document, domain)
    return str(caught.value)


# Status tokens: Domainr's table, read once for both.


@pytest.mark.parametrize(("token", "lifecycle"), sorted(TOKENS.items()))
def test_every_token_maps_as_domainr_maps_it(token, lifecycle):
    observation = status(token)
    assert observation.lifecycle is lifecycle
    assert observation.statuses == (token,)
    assert observation.error is None
    assert observation.provider == "fastly"
    assert observation.registered_at is None and observation.expires_at is None


@pytest.mark.parametrize(
    ("text", "lifecycle"),
    [
        ("undelegated inactive", Lifecycle.UNREGISTERED),
        ("active deleting", Lifecycle.UNKNOWN),  # a held name is not also being deleted
        ("active inactive", Lifecycle.UNKNOWN),
        ("deleting", Lifecycle.REDEMPTION),
        ("active expiring", Lifecycle.GRACE),
        ("expiring", Lifecycle.GRACE),
        ("active parked marketed priced", Lifecycle.ACTIVE),
        ("claimed reserved", Lifecycle.ACTIVE),
        ("  Undelegated   INACTIVE ", Lifecycle.UNREGISTERED),  # case and spacing do not matter
        ("expiring deleting", Lifecycle.REDEMPTION),  # the most severe wins
    ],
)
def test_several_tokens_take_the_most_severe(text, lifecycle):
    observation = status(text)
    assert observation.lifecycle is lifecycle
    assert observation.statuses == tuple(text.split())
    assert (observation.error is None) is (lifecycle is not Lifecycle.UNKNOWN)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("unknown", '"unknown"'),
        ("undelegated inactive zzz", '"zzz"'),  # one unmapped token spoils a lapse
        ("active dpml", '"dpml"'),
        ("disallowed", '"disallowed"'),
        ("invalid", '"invalid"'),
        ("suffix zone tld", '"suffix", "zone", "tld"'),
        ("pending", '"pending"'),
        ("inactive\u202e", '"inactive\\u202e"'),  # no look-alike passes for a token, nor hides
    ],
)
def test_a_token_that_gives_no_verdict_is_doubt_saying_which(text, named):
    observation = status(text)
    assert observation.lifecycle is Lifecycle.UNKNOWN
    assert observation.statuses == tuple(text.split())
    assert observation.error.startswith("Fastly's status ")
    assert observation.error.endswith(f"gives no verdict: {named} maps to no lifecycle")


@pytest.mark.parametrize("text", ["", "   "])
def test_an_empty_status_is_doubt(text):
    observation = status(text)
    assert observation.lifecycle is Lifecycle.UNKNOWN
    assert observation.error.endswith("gives no verdict: it has no tokens")


def test_unmapped_tokens():
    assert unmapped_tokens(["active", "Zzz", "INACTIVE", "unknown"]) == ["Zzz", "unknown"]


# Whose answer is it?


@pytest.mark.parametrize("named", ["example.com", "EXAMPLE.COM", "Example.Com."])
def test_the_domain_is_compared_without_case_or_trailing_dot(named):
    assert answer({"domain": named, "status": "inactive"}).lifecycle is Lifecycle.UNREGISTERED


def test_the_domain_asked_may_have_a_trailing_dot():
    document = {"domain": "example.com", "status": "inactive"}
    assert answer(document, "example.com.").lifecycle is Lifecycle.UNREGISTERED


@pytest.mark.parametrize(
    "named",
    [
        "other.com",
        "example.com.evil",
        "www.example.com",
        "example.co",
        "example..com",
        "xample.com",
        " example.com",
        "example.com\n",
        "",
    ],
)
def test_an_answer_about_another_domain_is_doubt(named):
    why = doubt_of({"domain": named, "zone": "com", "status": "undelegated inactive"})
    assert why == f"the answer is about {quoted(named)}, not example.com"


def test_another_domain_is_quoted_harmlessly():
    why = doubt_of({"domain": 'x.com", not a lapse\n' + "y" * 500, "status": "inactive"})
    assert "\n" not in why
    assert '\\"' in why  # the quote inside is escaped: the name cannot close the quotation
    assert "\\n" in why
    assert len(why) < 160


@pytest.mark.parametrize("value", [None, 7, ["example.com"], {"name": "example.com"}, True])
def test_an_answer_that_names_no_domain_is_doubt(value):
    document = (
        {"zone": "com", "status": "inactive"} if value is None else {"domain": value, "status": "inactive"}
    )
    assert doubt_of(document) == "the answer does not say which domain it is about (asked about example.com)"


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (None, "null"),
        (["inactive"], "a list"),
        (3, "a number"),
        (False, "a boolean"),
        ({"a": 1}, "an object"),
    ],
)
def test_a_status_that_is_not_text_is_doubt(value, kind):
    document = {"domain": "example.com", "zone": "com"} | ({} if value is None else {"status": value})
    assert doubt_of(document) == f"the status of example.com is not text but {kind}"


# Bodies that are not one object, or name a member twice.


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"", "the answer is not JSON"),
        (b"<html><body>Service Unavailable</body></html>", "the answer is not JSON"),
        (b'{"domain": "example.com", "status": "inact', "the answer is not JSON"),
        (b"\xff\xfe", "the answer is not JSON: it is not UTF-8"),
        (b"[]", "the answer is not a JSON object but a list"),
        (b'[{"domain": "example.com", "status": "inactive"}]', "the answer is not a JSON object but a list"),
        (b'"inactive"', "the answer is not a JSON object but text"),
        (b"null", "the answer is not a JSON object but null"),
        (b"404", "the answer is not a JSON object but a number"),
    ],
)
def test_a_body_that_is_not_one_object_is_doubt(body, why):
    assert doubt_of(body) == why


@pytest.mark.parametrize(
    "body",
    [
        b'{"domain": "example.com", "status": "active", "status": "undelegated inactive"}',
        b'{"domain": "other.com", "domain": "example.com", "status": "inactive"}',
        b'{"domain": "example.com", "status": "inactive", "tags": {"a": 1, "a": 2}}',
    ],
)
def test_a_member_named_twice_is_doubt(body):
    assert "twice in one object" in doubt_of(body)


def test_members_beyond_the_known_ones_are_ignored():
    document = {"domain": "example.com", "status": "inactive", "scope": "estimate", "offers": [], "tags": ""}
    assert answer(document).lifecycle is Lifecycle.UNREGISTERED


# Error bodies: the reason quotes Fastly's own words.


@pytest.mark.parametrize(
    ("document", "quote"),
    [
        (
            {"errors": [{"code": "404", "message": "not found", "detail": "no such zone"}]},
            '"not found" (detail: "no such zone"; code "404")',
        ),
        ({"errors": [{"code": 400, "message": "unknown zone: ocm"}]}, '"unknown zone: ocm" (code "400")'),
        ({"errors": [{"detail": "zone ocm is not served"}]}, '"zone ocm is not served"'),
        (
            {"errors": [{"title": "Bad Request", "detail": "bad domain"}]},
            '"Bad Request" (detail: "bad domain")',
        ),
        ({"errors": ["quota exhausted"]}, '"quota exhausted"'),
        ({"errors": {"message": "one, not a list"}}, '"one, not a list"'),
        ({"error": "rate limited"}, '"rate limited"'),
        ({"error": {"message": "internal", "detail": "try later"}}, '"internal" (detail: "try later")'),
        (
            {"msg": "Bad request", "detail": "domain is invalid"},
            '"Bad request" (detail: "domain is invalid")',
        ),
        ({"message": "You are not subscribed to this API."}, '"You are not subscribed to this API."'),
        # An error body wins even beside a status: the answer is not one to trust.
        (
            {"domain": "example.com", "status": "inactive", "errors": [{"message": "partial"}]},
            '"partial"',
        ),
    ],
)
def test_an_error_body_is_doubt_quoting_it(document, quote):
    assert doubt_of(document) == f"Fastly answered with an error: {quote}"


def test_many_errors_quote_the_first_few():
    document = {"errors": [{"message": f"error {n}"} for n in range(7)]}
    assert doubt_of(document) == 'Fastly answered with an error: "error 0"; "error 1"; "error 2"; and 4 more'


@pytest.mark.parametrize(
    "document",
    [
        {"errors": []},
        {"errors": [{}]},
        {"errors": [{"code": "500"}]},
        {"errors": [7, None, {"message": "   "}]},
        {"errors": None},
    ],
)
def test_an_error_body_with_nothing_to_quote_reads_as_an_answer(document):
    # No words to quote, and no domain or status either: doubt all the same.
    assert doubt_of(document) == "the answer does not say which domain it is about (asked about example.com)"


def test_the_key_never_appears_in_a_quotation():
    document = {"errors": [{"message": f"key {KEY} refused", "detail": f"{KEY}\n{KEY[:-1]}"}]}
    why = doubt_of(document)
    assert KEY not in why
    assert "***" in why


# The shared reader and quoting.


def test_quoted_keeps_one_printable_line():
    assert quoted("a\nb\tc\x00d\u2028e\u202e f") == '"a\\nb\\tc\\u0000d\\u2028e\\u202e f"'
    assert quoted(" padded ") == '" padded "'
    assert quoted("\U000e0041") == '"\\U000e0041"'
    assert quoted('say "lapsed"') == '"say \\"lapsed\\""'
    assert quoted("é ü") == '"é ü"'


def test_quoted_cuts_long_text():
    text = quoted("x" * 1000)
    assert text == '"' + "x" * 200 + '…"'
    assert quoted("abcdef", 3) == '"abc…"'


def test_quoted_blanks_secrets_before_cutting_or_escaping():
    assert quoted('key "s3cr"t', secrets=['s3cr"t']) == '"key \\"***"'
    # A secret the cut would have split is gone before the cut.
    assert quoted("x" * 195 + "secret-value", secrets=["secret-value"]) == '"' + "x" * 195 + '***"'


@pytest.mark.parametrize(
    "document",
    [
        {"domain": "example.com", "zone": "com", "status": "undelegated inactive", "tags": "generic"},
        {"status": [{"domain": "example.com", "zone": "com", "status": "active", "summary": "active"}]},
        [{"message": "a list is no error body"}],
        "message",
        None,
    ],
)
def test_error_detail_is_none_for_answers(document):
    assert error_detail(document) is None


def test_http_failure_adds_what_the_service_said():
    body = json.dumps({"errors": [{"message": "Too Many Requests"}]}).encode()
    assert http_failure("HTTP 404", body, "Fastly") == 'HTTP 404: Fastly said "Too Many Requests"'
    assert http_failure("HTTP 404", b"<html>", "Fastly") == "HTTP 404"
    assert http_failure("HTTP 404", b'{"message": "a", "message": "b"}', "Fastly") == "HTTP 404"
    assert http_failure("HTTP 404", b"", "Fastly") == "HTTP 404"


# Domainr's reasons quote its errors too.


class FakeFetcher:
    """Answers every GET with one body, and remembers what it was asked."""

    def __init__(self, status, document, url="https://api.domainr.com/v2/status?domain=x"):
        self.status = status
        self.body = document if isinstance(document, bytes) else json.dumps(document).encode()
        self.url = url
        self.asked = []

    def get(self, url, *, headers, deadline, credentials=None):
        self.asked.append((url, dict(headers), dict(credentials or {})))
        return HttpAnswer(self.url, self.status, self.body, redirected=False)


def domainr_lookup(status_code, document, domain="example.ocm"):
    provider = DomainrProvider(client_id="domainr-secret-id")
    provider.http = FakeFetcher(status_code, document)  # type: ignore[assignment]
    return provider.lookup(domain)


@pytest.mark.parametrize(
    ("status_code", "document", "reason"),
    [
        (
            200,
            {
                "errors": [
                    {"code": 400, "message": "unknown zone: ocm", "detail": "zone ocm is not in the database"}
                ]
            },
            'Domainr answered with an error: "unknown zone: ocm" '
            '(detail: "zone ocm is not in the database"; code "400")',
        ),
        (
            200,
            {"status": [], "errors": [{"code": 400, "message": "unknown zone: ocm"}]},
            'Domainr answered with an error: "unknown zone: ocm" (code "400")',
        ),
        (
            200,
            {"status": [{"domain": "example", "status": "unknown", "error": "unknown zone: ocm"}]},
            'Domainr answered with an error: "unknown zone: ocm"',
        ),
        (200, {"message": "You are not subscribed to this API."}, 'Domainr answered with an error: "You are'),
        (
            400,
            {"errors": [{"code": 400, "message": "unknown zone: ocm"}]},
            'HTTP 400: Domainr said "unknown zone: ocm" (code "400")',
        ),
        (
            403,
            {"message": "invalid client_id domainr-secret-id"},
            'HTTP 403: Domainr said "invalid client_id ***"',
        ),
        (404, b"<html>", "HTTP 404"),
        # No error detail: the old reason stays.
        (
            200,
            {"status": [{"domain": "other.ocm", "status": "inactive"}]},
            "the answer does not mention example.ocm",
        ),
    ],
)
def test_domainr_quotes_its_own_errors(status_code, document, reason):
    observation = domainr_lookup(status_code, document)
    assert observation.lifecycle is Lifecycle.UNKNOWN
    assert observation.error.startswith(reason)
    assert "domainr-secret-id" not in observation.error


def test_a_domainr_entry_with_an_error_is_doubt_whatever_its_status():
    entry = {"domain": "example.ocm", "status": "inactive", "errors": [{"message": "zone not served"}]}
    observation = domainr_lookup(200, {"status": [entry]})
    assert observation.lifecycle is Lifecycle.UNKNOWN
    assert observation.statuses == ("inactive",)
    assert observation.error == "Domainr gave the status 'inactive' with an error: \"zone not served\""


def test_a_domainr_answer_without_errors_is_read_as_before():
    observation = domainr_lookup(
        200, {"status": [{"domain": "example.ocm", "status": "undelegated inactive"}]}
    )
    assert observation.lifecycle is Lifecycle.UNREGISTERED
    assert observation.error is None


# The provider, without a network.


class RaisingFetcher:
    def get(self, url, *, headers, deadline, credentials=None):
        raise RuntimeError(f"boom with {credentials}")


def test_the_provider_is_built_as_config_builds_it():
    provider = FastlyProvider(api_key=KEY, base_url=None, rate=7.5, allow_loopback_http=False)
    assert provider.name == "fastly"
    assert provider.base_url == STATUS_URL
    assert provider.http.limiter is shared_limiter(7.5)
    assert provider.http.allow_loopback_http is False
    assert provider.serves("example.com") and provider.serves("anything.zz")
    assert KEY not in repr(provider)


def test_config_builds_a_fastly_chain():
    settings = ProviderSettings(providers=("fastly",), fastly_api_key=KEY, fastly_url="https://fastly.test/s")
    [provider] = settings.build().providers
    assert isinstance(provider, FastlyProvider)
    assert provider.base_url == "https://fastly.test/s"
    assert KEY not in repr(settings)


@pytest.mark.parametrize("key", ["", "   "])
def test_the_provider_needs_a_key(key):
    with pytest.raises(ValueError, match="needs an API key"):
        FastlyProvider(api_key=key)


def test_the_request_url_adds_the_domain_to_the_query():
    assert FastlyProvider(api_key=KEY).request_url("example.com") == f"{STATUS_URL}?domain=example.com"
    provider = FastlyProvider(api_key=KEY, base_url="https://fastly.test/status?scope=estimate")
    assert provider.request_url("a.com") == "https://fastly.test/status?scope=estimate&domain=a.com"


def test_a_surprise_is_doubt_and_the_key_is_never_logged(caplog):
    provider = FastlyProvider(api_key=KEY)
    provider.http = RaisingFetcher()  # type: ignore[assignment]
    with caplog.at_level(logging.ERROR, logger="lapsewatch.providers.fastly"):
        observation = provider.lookup("example.com", deadline=time.monotonic() + 5)
    assert observation.lifecycle is Lifecycle.UNKNOWN
    assert observation.error.startswith("lookup failed: RuntimeError(")
    assert KEY not in observation.error and "***" in observation.error
    assert observation.source == f"{STATUS_URL}?domain=example.com"
    assert observation.service == STATUS_URL
    [record] = caplog.records
    assert KEY not in record.getMessage()
    assert record.exc_info is None  # no traceback: its frames could hold the key


def test_a_name_that_is_no_domain_is_doubt_before_any_request():
    provider = FastlyProvider(api_key=KEY)
    provider.http = fetcher = FakeFetcher(200, {"domain": "x", "status": "inactive"})  # type: ignore[assignment]
    observation = provider.lookup("exa mple..com")
    assert observation.lifecycle is Lifecycle.UNKNOWN
    assert observation.error.startswith("not a domain Fastly can be asked about")
    assert fetcher.asked == []


def test_the_provider_asks_for_the_a_label_with_its_key_as_a_credential():
    provider = FastlyProvider(api_key=KEY)
    document = {"domain": "xn--bcher-kva.example", "status": "undelegated inactive"}
    provider.http = fetcher = FakeFetcher(200, document)  # type: ignore[assignment]
    observation = provider.lookup("Bücher.example.")
    assert observation.lifecycle is Lifecycle.UNREGISTERED
    assert observation.authoritative
    [(url, headers, credentials)] = fetcher.asked
    assert url == f"{STATUS_URL}?domain=xn--bcher-kva.example"
    assert headers == {"Accept": "application/json"}
    assert credentials == {"Fastly-Key": KEY}
    assert observation.source == url
