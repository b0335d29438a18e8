"""The Fastly provider against LoopbackFastly: lifecycles, Fastly's faults, its key, and redirects.

Lookups get small timeouts and few tries through the constructor; nothing here asserts a timing.
"""

import itertools
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lapsewatch.check import DomainChecker
from lapsewatch.lifecycle import Lifecycle
from lapsewatch.providers.domainr import TOKENS
from lapsewatch.providers.factory import ProviderSettings
from lapsewatch.providers.fastly import FastlyProvider
from lapsewatch.ratelimit import RateLimiter
from lapsewatch_tools.local.fastly_server import STATUS_PATH, LoopbackFastly, errors_body, status_body

pytestmark = pytest.mark.integration

_names = itertools.count()


def fresh(stem="name"):
    """A domain no other test has used: the servers live as long as the module."""
    return f"{stem}-{next(_names)}.com"


@pytest.fixture(scope="module")
def fastly():
    with LoopbackFastly() as server:
        yield server


@pytest.fixture(scope="module")
def elsewhere():
    """Another origin, answering without a key: whoever a redirect leads to."""
    with LoopbackFastly(require_key=False) as server:
        yield server


def make_provider(server, **kwargs):
    kwargs.setdefault("api_key", server.api_key)
    kwargs.setdefault("limiter", RateLimiter(1000))
    kwargs.setdefault("request_timeout", 2.0)
    kwargs.setdefault("lookup_budget", 5.0)
    kwargs.setdefault("max_tries", 2)
    kwargs.setdefault("allow_loopback_http", True)
    provider = FastlyProvider(base_url=server.url, **kwargs)
    provider.http.backoff = 0.01
    return provider


@pytest.fixture(scope="module")
def provider(fastly):
    return make_provider(fastly)


@pytest.fixture(scope="module")
def checker(provider):
    return DomainChecker(provider, confirm_delay=0)


def assert_doubt(observation, *pieces):
    assert observation.lifecycle is Lifecycle.UNKNOWN
    assert observation.provider == "fastly"
    for piece in pieces:
        assert piece in observation.error
    return observation.error


# Lifecycles.


@pytest.mark.parametrize(
    ("status", "lifecycle"),
    [
        ("undelegated inactive", Lifecycle.UNREGISTERED),
        ("active", Lifecycle.ACTIVE),
        ("deleting", Lifecycle.REDEMPTION),
        ("active deleting", Lifecycle.UNKNOWN),  # a held name is not also being deleted
        ("active inactive", Lifecycle.UNKNOWN),
        ("expiring", Lifecycle.GRACE),
        ("active expiring", Lifecycle.GRACE),
        ("parked marketed", Lifecycle.ACTIVE),
    ],
)
def test_lookup(fastly, provider, status, lifecycle):
    domain = fresh()
    fastly.set_status(domain, status)
    observation = provider.lookup(domain)
    assert observation.lifecycle is lifecycle
    assert observation.provider == "fastly"
    assert observation.statuses == tuple(status.split())
    assert (observation.error is None) is (lifecycle is not Lifecycle.UNKNOWN)
    assert observation.authoritative
    assert observation.source == f"{fastly.url}?domain={domain}"
    assert observation.service == fastly.url
    [headers] = fastly.asked(domain)
    assert headers["Fastly-Key"] == fastly.api_key
    assert headers["Accept"] == "application/json"


def test_the_request_is_the_status_endpoint_with_the_domain(fastly, provider):
    domain = fresh()
    provider.lookup(domain)
    path, _ = next(request for request in fastly.requests if domain in request[0])
    assert urlsplit(path).path == STATUS_PATH
    assert parse_qs(urlsplit(path).query) == {"domain": [domain]}


def test_a_name_nobody_set_is_registered(provider):
    assert provider.lookup(fresh("untouched")).lifecycle is Lifecycle.ACTIVE


def test_an_unmapped_token_is_doubt(fastly, provider):
    domain = fresh()
    fastly.set_status(domain, "undelegated inactive dpml")
    observation = provider.lookup(domain)
    assert_doubt(observation, '"dpml" maps to no lifecycle')
    assert observation.statuses == ("undelegated", "inactive", "dpml")


# Fastly's faults.


def test_an_error_body_is_doubt_quoting_fastly(fastly, provider):
    domain = fresh()
    fastly.set_answer(domain, 200, errors_body(400, "unknown zone: ocm", "the zone ocm is not served"))
    error = assert_doubt(provider.lookup(domain), "Fastly answered with an error")
    assert '"unknown zone: ocm"' in error
    assert '"the zone ocm is not served"' in error


def test_a_client_error_is_doubt_quoting_fastly(fastly, provider):
    domain = fresh()
    fastly.set_answer(domain, 404, errors_body(404, "not found", "no such zone"))
    error = assert_doubt(provider.lookup(domain))
    assert error == 'HTTP 404: Fastly said "not found" (detail: "no such zone"; code "404")'
    assert len(fastly.asked(domain)) == 1  # a 4xx is not worth another try


def test_a_refused_key_is_doubt_that_never_shows_the_key(fastly):
    wrong = "not-the-right-key-41f3"
    observation = make_provider(fastly, api_key=wrong).lookup(fresh())
    error = assert_doubt(
        observation, "Fastly refused the API key (HTTP 401)", "credentials are missing or invalid"
    )
    assert wrong not in error
    assert wrong not in observation.source


def test_a_key_echoed_back_is_blanked_out(fastly, provider):
    domain = fresh()
    detail = f"the key {fastly.api_key} may not use Domain Research"
    fastly.set_answer(domain, 403, errors_body(403, "Forbidden", detail))
    error = assert_doubt(provider.lookup(domain), "Fastly refused the API key (HTTP 403)", "***")
    assert fastly.api_key not in error


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_a_server_error_is_doubt_after_the_tries(fastly, provider, status):
    domain = fresh()
    fastly.set_answer(domain, status, errors_body(status, "unavailable", "try later"), {"Retry-After": "0"})
    assert_doubt(provider.lookup(domain), f"HTTP {status}; gave up after 2 tries")
    assert len(fastly.asked(domain)) == 2


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"<html><body>502 Bad Gateway</body></html>", "the answer is not JSON"),
        (b"", "the answer is not JSON"),
        (b"[]", "the answer is not a JSON object but a list"),
        (b'{"domain": "x.com", "domain": "x.com", "status": "inactive"}', "twice in one object"),
    ],
)
def test_a_body_that_is_not_one_answer_is_doubt(fastly, provider, body, why):
    domain = fresh()
    fastly.set_answer(domain, 200, body.replace(b"x.com", domain.encode()))
    assert_doubt(provider.lookup(domain), why)


def test_an_answer_about_another_domain_is_doubt(fastly, provider):
    domain = fresh()
    fastly.set_answer(domain, 200, status_body("someone-else.com", "undelegated inactive"))
    error = assert_doubt(provider.lookup(domain))
    assert error == f'the answer is about "someone-else.com", not {domain}'


def test_the_domain_echoed_in_another_case_is_the_same_domain(fastly, provider):
    domain = fresh()
    fastly.set_answer(domain, 200, status_body(domain.upper() + ".", "undelegated inactive"))
    assert provider.lookup(domain).lifecycle is Lifecycle.UNREGISTERED


def test_plain_http_is_refused_unless_allowed(fastly):
    domain = fresh()
    observation = make_provider(fastly, allow_loopback_http=False).lookup(domain)
    assert_doubt(observation, "refused", "only https")
    assert fastly.asked(domain) == []


# Redirects: the key stays home, and a redirected answer may say a domain is held, never that it lapsed.


def redirect(fastly, elsewhere, domain, status):
    fastly.set_answer(domain, 302, b"", {"Location": f"{elsewhere.url}?domain={{domain}}"})
    elsewhere.set_status(domain, status)


@pytest.mark.parametrize(
    ("status", "lifecycle"),
    [
        ("undelegated inactive", Lifecycle.UNREGISTERED),
        ("deleting", Lifecycle.REDEMPTION),
        ("active", Lifecycle.ACTIVE),
    ],
)
def test_a_redirect_to_another_origin_never_gets_the_key(fastly, elsewhere, provider, status, lifecycle):
    domain = fresh("moved")
    redirect(fastly, elsewhere, domain, status)
    observation = provider.lookup(domain)
    [asked] = fastly.asked(domain)
    [redirected] = elsewhere.asked(domain)
    assert asked["Fastly-Key"] == fastly.api_key
    assert "Fastly-Key" not in redirected
    assert fastly.api_key not in str(redirected)
    assert redirected["Accept"] == "application/json"
    # Read, but marked: not Fastly's own word.
    assert observation.lifecycle is lifecycle
    assert not observation.authoritative
    assert observation.source == f"{elsewhere.url}?domain={domain}"
    assert observation.service == fastly.url


def test_a_redirect_within_the_origin_keeps_the_key_but_not_the_authority(fastly, provider):
    domain, target = fresh("moved"), fresh("target")
    fastly.set_answer(domain, 301, b"", {"Location": f"{STATUS_PATH}?domain={target}"})
    fastly.set_answer(target, 200, status_body(domain, "undelegated inactive"))
    observation = provider.lookup(domain)
    assert fastly.asked(domain)[0]["Fastly-Key"] == fastly.api_key
    assert fastly.asked(target)[0]["Fastly-Key"] == fastly.api_key
    assert observation.lifecycle is Lifecycle.UNREGISTERED
    assert not observation.authoritative
    assert observation.source == f"{fastly.url}?domain={target}"


def test_a_redirect_loop_is_doubt(fastly, provider):
    domain = fresh("loop")
    fastly.set_answer(domain, 307, b"", {"Location": f"{STATUS_PATH}?domain={{domain}}"})
    assert_doubt(provider.lookup(domain), "more than 3 redirects")


# Verdicts.


def test_a_lapsed_domain_is_unsafe(fastly, checker):
    domain = fresh("lapsed")
    fastly.set_status(domain, "undelegated inactive")
    result = checker.check(f"maintainer@{domain}")
    assert result.unsafe
    assert result.lifecycle is Lifecycle.UNREGISTERED
    assert result.provider == "fastly"
    assert result.statuses == ["undelegated", "inactive"]
    assert result.service == fastly.url
    assert len(fastly.asked(domain)) == 2  # confirmed by a second lookup


@pytest.mark.parametrize(
    ("status", "lifecycle", "unsafe"),
    [
        ("deleting", Lifecycle.REDEMPTION, True),
        ("expiring", Lifecycle.GRACE, False),
        ("active", Lifecycle.ACTIVE, False),
    ],
)
def test_verdicts(fastly, checker, status, lifecycle, unsafe):
    domain = fresh()
    fastly.set_status(domain, status)
    result = checker.check(domain)
    assert (result.lifecycle, result.unsafe) == (lifecycle, unsafe)


@pytest.mark.parametrize("status", ["undelegated inactive", "deleting", "expiring", "active"])
def test_a_redirected_answer_is_never_unsafe(fastly, elsewhere, checker, status):
    domain = fresh("moved")
    redirect(fastly, elsewhere, domain, status)
    result = checker.check(domain)
    assert not result.unsafe, result.reason
    assert result.lifecycle in {Lifecycle.ACTIVE, Lifecycle.GRACE, Lifecycle.UNKNOWN}
    assert all("Fastly-Key" not in headers for headers in elsewhere.asked(domain))
    if status in ("undelegated inactive", "deleting"):
        assert result.lifecycle is Lifecycle.UNKNOWN
        assert "only the registry's own server may say" in result.reason


def test_doubt_is_never_unsafe(fastly, checker):
    for answer in [
        (200, errors_body(404, "not found", "no such zone")),
        (401, errors_body(401, "Unauthorized", "bad key")),
        (503, b"down"),
        (200, status_body("other.com", "undelegated inactive")),
    ]:
        domain = fresh("doubt")
        fastly.set_answer(domain, *answer)
        result = checker.check(domain)
        assert (result.lifecycle, result.unsafe) == (Lifecycle.UNKNOWN, False), result.reason


# As operators configure it, and under load.


def test_configured_from_the_environment(fastly):
    env = {
        "LAPSEWATCH_PROVIDERS": "fastly",
        "LAPSEWATCH_FASTLY_URL": fastly.url,
        "LAPSEWATCH_FASTLY_API_KEY": fastly.api_key,
        "LAPSEWATCH_FASTLY_RATE": "500",
    }
    chain = ProviderSettings.from_env(env, allow_loopback_http=True).build()
    domain = fresh("configured")
    fastly.set_status(domain, "undelegated inactive")
    observation = chain.lookup(domain)
    assert (observation.provider, observation.lifecycle) == ("fastly", Lifecycle.UNREGISTERED)


def test_threads_share_one_provider_safely(fastly, provider):
    statuses = {
        "undelegated inactive": Lifecycle.UNREGISTERED,
        "deleting": Lifecycle.REDEMPTION,
        "expiring": Lifecycle.GRACE,
        "active": Lifecycle.ACTIVE,
    }
    expected = {}
    for index in range(48):
        status = list(statuses)[index % len(statuses)]
        domain = fresh("crowd")
        fastly.set_status(domain, status)
        expected[domain] = statuses[status]
    with ThreadPoolExecutor(16) as pool:
        seen = dict(zip(expected, pool.map(provider.lookup, expected), strict=True))
    assert {domain: o.lifecycle for domain, o in seen.items()} == expected


# Properties over random answers.

TOKEN_CHOICES = [*sorted(TOKENS), "unknown", "dpml", "INACTIVE", "zzz"]


@st.composite
def answers(draw, domain):
    """What a server might say about `domain`: a status document, an error, or junk."""
    named = draw(st.sampled_from([domain, domain.upper() + ".", "someone-else.com"]))
    tokens = " ".join(draw(st.lists(st.sampled_from(TOKEN_CHOICES), max_size=3)))
    body = draw(
        st.one_of(
            st.just(status_body(named, tokens)),
            st.just(errors_body(400, "unknown zone", "no such zone")),
            st.just({"domain": named, "status": tokens, "errors": [{"message": "partial"}]}),
            st.binary(max_size=40),
        )
    )
    return draw(st.sampled_from([200, 200, 200, 404, 410])), body


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_nothing_a_redirected_server_says_is_ever_unsafe(fastly, elsewhere, checker, data):
    domain = fresh("referred")
    fastly.set_answer(domain, 302, b"", {"Location": f"{elsewhere.url}?domain={{domain}}"})
    elsewhere.set_answer(domain, *data.draw(answers(domain)))
    result = checker.check(domain)
    assert not result.unsafe, result.reason
    assert result.lifecycle in {Lifecycle.ACTIVE, Lifecycle.GRACE, Lifecycle.UNKNOWN}
    assert all("Fastly-Key" not in headers for headers in elsewhere.asked(domain))
