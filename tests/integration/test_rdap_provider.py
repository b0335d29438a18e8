"""The RDAP provider against a loopback server playing registries, their referrals and their faults.

Timings use small budgets set through the constructor. Tests assert what was asked and how long
the provider chose to wait, never how long a lookup took: a loaded machine can always be slower.
"""

import gzip
import itertools
import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from lapsewatch.lifecycle import Lifecycle
from lapsewatch.net import fetch as fetch_module
from lapsewatch.net.doubt import Doubt
from lapsewatch.providers.domainr import DomainrProvider
from lapsewatch.providers.rdap import RdapProvider
from lapsewatch.providers.rdap_bootstrap import Bootstrap
from lapsewatch.ratelimit import RateLimiter
from lapsewatch_tools.local.rdap_documents import rdap_domain_json
from lapsewatch_tools.local.rdap_server import MIB, DomainAnswer, LoopbackRdap

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server():
    with LoopbackRdap() as loopback:
        loopback.add_registry("verisign", tlds=["com", "net"])
        loopback.add_registry("pir", tlds=["org"])
        # Registrars a registry refers to, and the servers they refer on to.
        for registrar in ("registrar", "hop2", "hop3", "hop4"):
            loopback.add_registry(registrar)
        yield loopback


class CountingLimiter(RateLimiter):
    """A fast limiter that records the key of every attempt."""

    def __init__(self):
        super().__init__(1000)
        self.keys = []

    def acquire(self, key, deadline=None):
        self.keys.append(key)
        return super().acquire(key, deadline)


def make_provider(server, tmp_path, **kwargs):
    bootstrap = Bootstrap.load(server.bootstrap_file(tmp_path / "dns.json"))
    kwargs.setdefault("limiter", CountingLimiter())
    kwargs.setdefault("request_timeout", 1.0)
    kwargs.setdefault("lookup_budget", 4.0)
    kwargs.setdefault("allow_loopback_http", True)
    provider = RdapProvider(bootstrap, **kwargs)
    provider.http.backoff = 0.05
    return provider


@pytest.fixture
def provider(server, tmp_path):
    return make_provider(server, tmp_path)


def timed(provider, domain, **kwargs):
    started = time.monotonic()
    observation = provider.lookup(domain, **kwargs)
    return observation, time.monotonic() - started


@pytest.fixture
def pauses(monkeypatch):
    """The seconds the provider chose to wait between tries (it still waits them)."""
    chosen = []
    sleep = time.sleep

    def recorded(seconds):
        chosen.append(seconds)
        sleep(seconds)

    monkeypatch.setattr(fetch_module.time, "sleep", recorded)
    return chosen


def doubt(observation, why):
    assert observation.lifecycle is Lifecycle.UNKNOWN
    assert why in observation.error
    return True


@pytest.mark.parametrize("lifecycle", ["active", "grace", "hold", "redemption", "pending_delete"])
@pytest.mark.parametrize("shape", ["thick", "cctld"])
def test_each_lifecycle_reads_back(server, provider, lifecycle, shape):
    domain = f"{lifecycle.replace('_', '-')}-{shape}.com"
    server.set_domain(domain, DomainAnswer.for_lifecycle(lifecycle, shape=shape))
    observation = provider.lookup(domain)
    assert observation.lifecycle is Lifecycle(lifecycle)
    assert observation.error is None
    assert observation.source == server.domain_url(domain)
    assert observation.authoritative
    assert observation.service == server.base_url("verisign")
    assert observation.statuses
    if shape == "thick":
        assert observation.registered_at and observation.expires_at


def test_the_query_is_the_rdap_one(server, provider):
    server.set_domain("query-shape.com", DomainAnswer.for_lifecycle("active"))
    provider.lookup("Query-Shape.COM")
    path, headers = server.recent[-1]
    assert path == "/verisign/domain/query-shape.com"
    assert headers["Accept"] == "application/rdap+json"
    assert headers["User-Agent"].startswith("lapsewatch/")


def test_a_unicode_name_is_asked_as_its_a_label(server, provider):
    server.set_domain("xn--bcher-kva.com", DomainAnswer.for_lifecycle("active"))
    assert provider.lookup("bücher.com").lifecycle is Lifecycle.ACTIVE
    assert server.recent[-1][0] == "/verisign/domain/xn--bcher-kva.com"


def test_404_from_the_bootstrap_server_is_unregistered(server, provider):
    observation = provider.lookup("nobody-has-this.org")
    assert observation.lifecycle is Lifecycle.UNREGISTERED
    assert observation.error is None
    assert observation.source == server.domain_url("nobody-has-this.org")
    assert observation.authoritative
    assert observation.service == server.base_url("pir")


@pytest.mark.parametrize(
    "answer",
    [
        DomainAnswer.not_found(),
        DomainAnswer.not_found_empty(),  # Verisign's
        DomainAnswer.raw(404, b" \r\n"),
        DomainAnswer.raw(404, {"errorCode": 404, "title": "Not Found", "description": ["no such domain"]}),
        DomainAnswer.raw(404, {"rdapConformance": ["rdap_level_0"], "title": "Not Found"}),
    ],
    ids=["rdap-error", "empty", "blank", "described", "conformance-only"],
)
def test_a_404_with_an_empty_or_rdap_error_body_is_unregistered(server, provider, answer):
    server.set_domain("free-404.com", answer)
    assert provider.lookup("free-404.com").lifecycle is Lifecycle.UNREGISTERED


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (DomainAnswer.error_page(404), "neither empty nor an RDAP error response: the answer is not JSON"),
        (DomainAnswer.raw(404, b"Not Found", {"Content-Type": "text/plain"}), "the answer is not JSON"),
        (DomainAnswer.raw(404, b'{"errorCode": 404'), "the answer is not JSON"),
        (DomainAnswer.raw(404, ["not", "found"]), "it is not a JSON object"),
        (DomainAnswer.raw(404, "Not Found"), "it is not a JSON object"),
        (DomainAnswer.raw(404, rdap_domain_json("odd-404.com", ["active"])), "it has the member"),
        (DomainAnswer.raw(404, {}, {"Content-Type": "application/json"}), "neither an errorCode nor"),
        (
            DomainAnswer.raw(404, b'{"errorCode": 404, "title": "Not Found", "title": "Found"}'),
            "names the member 'title' twice",
        ),
    ],
    ids=["html", "text", "cut-json", "array", "string", "domain-object", "empty-object", "duplicate"],
)
def test_a_404_with_any_other_body_is_doubt(server, provider, answer, why):
    server.set_domain("odd-404.com", answer)
    observation = provider.lookup("odd-404.com")
    assert doubt(observation, why)
    assert "a 404 whose body is neither empty nor an RDAP error" in observation.error
    assert observation.service == server.base_url("verisign")


def test_a_body_that_is_json_counts_whatever_its_content_type(server, provider):
    document = rdap_domain_json("plain-json.com", ["client hold"])
    server.set_domain("plain-json.com", DomainAnswer.raw(200, document, {"Content-Type": "text/plain"}))
    assert provider.lookup("plain-json.com").lifecycle is Lifecycle.HOLD


# Redirects (RFC 7480 referrals).


def _chain(server, domain, hops, answer):
    """`hops` redirects from the .com server on through the registrar and hop2…, then `answer`."""
    servers = ["verisign", "registrar", "hop2", "hop3", "hop4"][: hops + 1]
    for hop, (here, there) in enumerate(itertools.pairwise(servers), start=1):
        # Relative and absolute locations, and several redirect statuses.
        location = (
            f"/{there}/domain/{domain}?hop={hop}"
            if hop % 2
            else f"{server.url}/{there}/domain/{domain}?hop={hop}"
        )
        server.set_domain(
            domain, DomainAnswer.redirect(location, (302, 301, 307, 303)[hop - 1]), registry=here
        )
    server.set_domain(domain, answer, registry=servers[-1])


@pytest.mark.parametrize("hops", [1, 2, 3])
def test_up_to_three_redirects_are_followed(server, provider, hops):
    domain = f"referred-{hops}.com"
    _chain(server, domain, hops, DomainAnswer.for_lifecycle("redemption", shape="registrar"))
    observation = provider.lookup(domain)
    assert observation.lifecycle is Lifecycle.REDEMPTION
    assert f"hop={hops}" in observation.source
    assert not observation.authoritative


def test_a_fourth_redirect_is_doubt(server, provider):
    _chain(server, "referred-4.com", 4, DomainAnswer.for_lifecycle("redemption", shape="registrar"))
    observation = provider.lookup("referred-4.com")
    assert doubt(observation, "more than 3 redirects")


def test_a_404_from_a_server_redirected_to_is_doubt(server, provider):
    server.set_domain("lost-referral.com", DomainAnswer.redirect("/registrar/domain/{domain}"))
    observation = provider.lookup("lost-referral.com")
    assert doubt(observation, "only the registry's own 404")
    assert "/registrar/" in observation.source


@pytest.mark.parametrize(
    "answer",
    [DomainAnswer.not_found(), DomainAnswer.not_found_empty()],
    ids=["rdap-error", "empty"],
)
@pytest.mark.parametrize("absolute", [False, True], ids=["relative", "absolute"])
def test_a_404_after_a_redirect_within_the_bootstrap_server_is_doubt(server, provider, absolute, answer):
    # The chain ends under the registry's own base URL, which a prefix test would take for the
    # registry speaking about the name asked; it speaks about another.
    location = f"{server.base_url('verisign') if absolute else '/verisign/'}domain/gone-for-good.com"
    server.set_domain("Moved.com", DomainAnswer.redirect(location, status=308))
    server.set_domain("gone-for-good.com", answer)
    observation = provider.lookup("moved.com")
    assert doubt(observation, "a 404 reached through a redirect to ")
    assert observation.source == server.domain_url("gone-for-good.com")


def test_an_answer_through_a_redirect_is_not_authoritative(server, provider):
    server.set_domain("referred-pd.com", DomainAnswer.redirect("/registrar/domain/{domain}"))
    server.set_domain(
        "referred-pd.com",
        DomainAnswer.for_lifecycle("pending_delete", shape="registrar"),
        registry="registrar",
    )
    observation = provider.lookup("referred-pd.com")
    assert observation.lifecycle is Lifecycle.PENDING_DELETE
    assert not observation.authoritative
    assert observation.source == server.domain_url("referred-pd.com", "registrar")
    assert observation.service == server.base_url("verisign")


def test_plain_http_is_refused_unless_allowed(server, tmp_path):
    server.set_domain("loopback-only.com", DomainAnswer.for_lifecycle("redemption"))
    provider = make_provider(server, tmp_path, allow_loopback_http=False)
    observation = provider.lookup("loopback-only.com")
    assert doubt(observation, "plain http, which is refused")
    assert server.asked("loopback-only.com") == 0


def test_the_fetcher_refuses_plain_http_to_loopback_unless_allowed(server, tmp_path):
    # Every URL, the first and each redirect's, passes the same check before it is fetched.
    provider = make_provider(server, tmp_path, allow_loopback_http=False)
    url = server.domain_url("never-asked.com")
    with pytest.raises(Doubt, match=re.escape(f"refused {url}: only https")):
        provider.http.get(url, headers={}, deadline=time.monotonic() + 2)
    assert server.asked("never-asked.com") == 0


def test_redirect_to_localhost_by_name_is_followed(server, provider):
    port = server.url.rsplit(":", 1)[1]
    server.set_domain(
        "by-name.com", DomainAnswer.redirect(f"http://localhost:{port}/registrar/domain/by-name.com")
    )
    server.set_domain(
        "by-name.com", DomainAnswer.for_lifecycle("hold", shape="registrar"), registry="registrar"
    )
    observation = provider.lookup("by-name.com")
    assert observation.lifecycle is Lifecycle.HOLD
    assert observation.source.startswith("http://localhost:")


@pytest.mark.parametrize(
    "location",
    [
        "http://rdap.registrar.example/domain/refused.com",
        "http://10.1.2.3/domain/refused.com",
        "ftp://127.0.0.1/domain/refused.com",
        "file:///etc/passwd",
    ],
)
def test_a_redirect_off_https_is_refused(server, provider, location):
    server.set_domain("refused.com", DomainAnswer.redirect(location))
    observation = provider.lookup("refused.com")
    assert doubt(observation, f"refused {location}")
    assert len(provider.http.limiter.keys) == 1  # the refused hop was never fetched


def test_a_redirect_to_https_on_this_machine_is_allowed_but_must_work(server, provider):
    port = server.url.rsplit(":", 1)[1]
    server.set_domain("tls.com", DomainAnswer.redirect(f"https://127.0.0.1:{port}/registrar/domain/tls.com"))
    observation = provider.lookup("tls.com")
    assert doubt(observation, f"TLS handshake with 127.0.0.1:{port} failed")


def test_a_redirect_to_a_broken_url_is_doubt(server, provider):
    server.set_domain("broken-location.com", DomainAnswer.redirect("https://[::1/domain/x"))
    assert doubt(provider.lookup("broken-location.com"), "Invalid IPv6 URL")


def test_a_redirect_without_location_is_doubt(server, provider):
    server.set_domain("nowhere.com", DomainAnswer.raw(302, b""))
    assert doubt(provider.lookup("nowhere.com"), "without a Location")


# Answers that are not the domain asked.


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (DomainAnswer.wrong_object_class(), "objectClassName is 'entity'"),
        (DomainAnswer.wrong_ldh_name("someone-else.com"), "is for 'SOMEONE-ELSE.COM'"),
        (DomainAnswer.malformed(), "not JSON"),
        (DomainAnswer.raw(200, b"<html>maintenance</html>", {"Content-Type": "text/html"}), "not JSON"),
        (DomainAnswer.raw(200, [{"objectClassName": "domain"}]), "a JSON list"),
        (DomainAnswer.raw(200, b""), "not JSON"),
        (DomainAnswer.raw(400, {"errorCode": 400}), "HTTP 400"),
        (DomainAnswer.raw(403, b"forbidden"), "HTTP 403"),
        (DomainAnswer.raw(410, b""), "HTTP 410"),
        (DomainAnswer.raw(204, b""), "HTTP 204"),
    ],
    ids=["class", "ldh", "malformed", "html", "array", "empty", "400", "403", "410", "204"],
)
def test_anything_else_is_doubt(server, provider, answer, why):
    server.set_domain("trap.net", answer)
    observation = provider.lookup("trap.net")
    assert doubt(observation, why)
    assert len(provider.http.limiter.keys) == 1  # not retried


@pytest.mark.parametrize("declare_length", [False, True])
def test_a_body_over_1_mib_is_cut_off(server, provider, declare_length):
    domain = f"huge-{declare_length}.org".lower()
    server.set_domain(domain, DomainAnswer.oversize(declare_length=declare_length))
    assert doubt(provider.lookup(domain), "1048576 byte limit")
    assert server.asked(domain) == 1


def test_the_limit_applies_to_the_decompressed_body(server, provider):
    document = rdap_domain_json("bomb.org", ["active"]) | {"padding": "x" * (5 * MIB)}
    bomb = gzip.compress(json.dumps(document).encode())
    server.set_domain("bomb.org", DomainAnswer.raw(200, bomb, {"Content-Encoding": "gzip"}))
    assert doubt(provider.lookup("bomb.org"), "1048576 byte limit")


def test_a_compressed_answer_is_read(server, provider):
    body = gzip.compress(json.dumps(rdap_domain_json("zipped.org", ["server hold"])).encode())
    server.set_domain("zipped.org", DomainAnswer.raw(200, body, {"Content-Encoding": "gzip"}))
    assert provider.lookup("zipped.org").lifecycle is Lifecycle.HOLD


def test_a_body_that_will_not_decompress_is_doubt_without_retries(server, provider):
    server.set_domain("bad-gzip.org", DomainAnswer.raw(200, b"plain text", {"Content-Encoding": "gzip"}))
    assert doubt(provider.lookup("bad-gzip.org"), "unusable answer")
    assert server.asked("bad-gzip.org") == 1


def test_a_body_just_under_1_mib_is_read(server, provider):
    server.set_domain("big-but-fine.org", DomainAnswer.oversize(MIB - 20_000))
    assert provider.lookup("big-but-fine.org").lifecycle is Lifecycle.REDEMPTION


# Retries.


def test_429_honours_retry_after(server, provider):
    server.set_domain("busy.com", DomainAnswer.flaky(429, 1, retry_after="1"))
    observation, elapsed = timed(provider, "busy.com")
    assert observation.lifecycle is Lifecycle.ACTIVE
    assert elapsed >= 0.9
    assert server.asked("busy.com") == 2


def test_429_retry_after_as_a_date(server, provider):
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=2), usegmt=True)
    server.set_domain("busy-date.com", DomainAnswer.flaky(429, 1, retry_after=when))
    observation, elapsed = timed(provider, "busy-date.com")
    assert observation.lifecycle is Lifecycle.ACTIVE
    assert elapsed >= 0.5  # whole seconds in the date: at least some of the two


def test_429_retry_after_is_capped(server, provider, pauses):
    provider.http.max_retry_after = 0.2
    server.set_domain("very-busy.com", DomainAnswer.flaky(429, 2, retry_after="3600"))
    assert provider.lookup("very-busy.com").lifecycle is Lifecycle.ACTIVE
    assert len(pauses) == 2 and max(pauses) <= 0.2


def test_a_retry_after_past_the_budget_gives_up_at_once(server, tmp_path):
    provider = make_provider(server, tmp_path, lookup_budget=2.0)
    server.set_domain("closed-for-the-day.com", DomainAnswer.flaky(429, 5, retry_after="3600"))
    observation = provider.lookup("closed-for-the-day.com")
    assert doubt(observation, "HTTP 429, and no time left to try again")
    assert server.asked("closed-for-the-day.com") == 1


def test_503_is_retried_then_answers(server, provider):
    server.set_domain("wobbly.org", DomainAnswer.flaky(503, 2, DomainAnswer.for_lifecycle("pending_delete")))
    assert provider.lookup("wobbly.org").lifecycle is Lifecycle.PENDING_DELETE
    assert server.asked("wobbly.org") == 3


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
def test_failing_forever_is_doubt_after_three_tries(server, provider, status):
    domain = f"down-{status}.org"
    server.set_domain(domain, DomainAnswer.flaky(status, 100, retry_after="0"))
    observation = provider.lookup(domain)
    assert doubt(observation, f"HTTP {status}; gave up after 3 tries")
    assert server.asked(domain) == 3


def test_max_tries_is_the_constructors(server, tmp_path):
    provider = make_provider(server, tmp_path, max_tries=1)
    server.set_domain("once.org", DomainAnswer.flaky(503, 100))
    assert doubt(provider.lookup("once.org"), "HTTP 503; gave up after 1 try")
    assert server.asked("once.org") == 1


def test_every_attempt_and_hop_passes_the_rate_limiter(server, provider):
    server.set_domain("counted.com", DomainAnswer.redirect("/registrar/domain/{domain}"))
    server.set_domain("counted.com", DomainAnswer.flaky(503, 1), registry="registrar")
    assert provider.lookup("counted.com").lifecycle is Lifecycle.ACTIVE
    host_port = server.url.removeprefix("http://")
    assert provider.http.limiter.keys == [host_port] * 3


# Servers that do not answer in time.


def test_a_hanging_server_is_doubt_within_the_budget(server, tmp_path):
    provider = make_provider(server, tmp_path, request_timeout=0.5, lookup_budget=1.5)
    server.set_domain("hangs.com", DomainAnswer.hang(30))
    assert doubt(provider.lookup("hangs.com"), "timed out after")


def test_the_deadline_argument_is_honoured(server, provider):
    server.set_domain("hangs-too.com", DomainAnswer.hang(30))
    observation = provider.lookup("hangs-too.com", deadline=time.monotonic() + 0.5)
    assert observation.lifecycle is Lifecycle.UNKNOWN
    assert server.asked("hangs-too.com") == 1


def test_a_deadline_already_past_is_doubt_at_once(server, provider):
    server.set_domain("late.com", DomainAnswer.for_lifecycle("active"))
    observation = provider.lookup("late.com", deadline=time.monotonic() - 1)
    assert doubt(observation, "out of time")
    assert server.asked("late.com") == 0


@pytest.mark.parametrize("in_headers", [False, True], ids=["body", "headers"])
def test_a_trickling_server_is_cut_off(server, tmp_path, in_headers):
    # One byte every 0.1 s: every read succeeds, so only a wall-clock limit ends it.
    provider = make_provider(server, tmp_path, request_timeout=0.6, lookup_budget=1.5)
    domain = f"trickle-{in_headers}.com".lower()
    server.set_domain(domain, DomainAnswer.trickle(0.1, in_headers=in_headers))
    # The wall-clock limit's words (the trickle never ends by itself); a loaded machine may
    # starve the server past the socket's own timeout first, which says the same.
    assert doubt(provider.lookup(domain), "timed out after")


def test_a_dropped_connection_is_doubt(server, provider):
    server.set_domain("drops.com", DomainAnswer.drop())
    observation = provider.lookup("drops.com")
    assert observation.lifecycle is Lifecycle.UNKNOWN
    assert "connection reset by" in observation.error or "closed the connection" in observation.error
    assert server.asked("drops.com") == 3


def test_a_dropped_connection_then_an_answer_is_retried(server, provider):
    server.set_domain(
        "drops-once.com", DomainAnswer.flaky(DomainAnswer.drop(), 1, DomainAnswer.for_lifecycle("grace"))
    )
    assert provider.lookup("drops-once.com").lifecycle is Lifecycle.GRACE
    assert server.asked("drops-once.com") == 2


def test_a_closed_port_is_doubt(tmp_path):
    path = tmp_path / "dns.json"
    path.write_text(json.dumps({"services": [[["com"], ["http://127.0.0.1:9/"]]]}))
    provider = RdapProvider(
        Bootstrap.load(path), limiter=RateLimiter(1000), max_tries=2, allow_loopback_http=True
    )
    provider.http.backoff = 0.01
    assert doubt(provider.lookup("example.com"), "connection refused by 127.0.0.1:9")


# The bootstrap file.


def test_https_is_preferred_when_a_tld_has_several_servers(server, tmp_path):
    path = tmp_path / "dns.json"
    services = [[["com"], [server.base_url("verisign"), "https://127.0.0.1:9/tls/"]]]
    path.write_text(json.dumps({"services": services}))
    provider = RdapProvider(
        Bootstrap.load(path), limiter=RateLimiter(1000), max_tries=1, allow_loopback_http=True
    )
    observation = provider.lookup("example.com")
    assert observation.source == "https://127.0.0.1:9/tls/domain/example.com"


def test_a_base_without_a_trailing_slash_gets_one(server, tmp_path):
    server.set_domain("slash.com", DomainAnswer.for_lifecycle("active"))
    path = tmp_path / "dns.json"
    path.write_text(json.dumps({"services": [[["com"], [server.base_url("verisign").rstrip("/")]]]}))
    provider = RdapProvider(Bootstrap.load(path), limiter=RateLimiter(1000), allow_loopback_http=True)
    assert provider.lookup("slash.com").lifecycle is Lifecycle.ACTIVE


def test_no_server_for_the_tld(provider):
    assert doubt(provider.lookup("example.xyz"), "no RDAP server for .xyz in the bootstrap file")


# Limits shared by threads.


def test_the_rate_limit_holds_across_threads(tmp_path):
    rate = 20.0
    with LoopbackRdap() as loopback:
        loopback.add_registry("metered", tlds=["com"])
        provider = make_provider(loopback, tmp_path, limiter=RateLimiter(rate))
        started = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(provider.lookup, [f"n{i}.com" for i in range(24)]))
        elapsed = time.monotonic() - started
        assert all(o.lifecycle is Lifecycle.UNREGISTERED for o in results)
        # The first request goes at once; the other 23 wait for theirs.
        assert loopback.requests["metered"] == 24
        assert elapsed >= 23 / rate * 0.9


def test_a_server_rate_limit_is_met_with_retries(tmp_path):
    with LoopbackRdap() as loopback:
        loopback.add_registry("strict", tlds=["com"], rate_limit=10)
        provider = make_provider(loopback, tmp_path, limiter=RateLimiter(1000), lookup_budget=8)
        provider.http.max_retry_after = 0.15
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(provider.lookup, [f"s{i}.com" for i in range(8)]))
        assert loopback.throttled["strict"] > 0
        # Each answer is either the truth or doubt, never anything else.
        assert {o.lifecycle for o in results} <= {Lifecycle.UNREGISTERED, Lifecycle.UNKNOWN}


def test_threads_share_one_provider_safely(server, provider):
    lifecycles = ["active", "grace", "hold", "redemption", "pending_delete", "unregistered"]
    domains = {}
    for index in range(60):
        lifecycle = lifecycles[index % len(lifecycles)]
        domain = f"crowd-{index}.org"
        server.set_domain(domain, DomainAnswer.for_lifecycle(lifecycle))
        domains[domain] = Lifecycle(lifecycle)
    with ThreadPoolExecutor(32) as pool:
        seen = dict(zip(domains, pool.map(provider.lookup, domains), strict=True))
    assert {domain: o.lifecycle for domain, o in seen.items()} == domains


# Domainr, through a stub of its status API.


class _DomainrStub(BaseHTTPRequestHandler):
    answers: dict = {}
    seen: list = []

    def do_GET(self):
        query = parse_qs(urlsplit(self.path).query)
        self.seen.append((urlsplit(self.path).path, query, dict(self.headers.items())))
        status, body = self.answers.get(query.get("domain", [""])[0], (404, {"message": "no"}))
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def domainr():
    stub = ThreadingHTTPServer(("127.0.0.1", 0), _DomainrStub)
    thread = threading.Thread(target=stub.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield stub
    stub.shutdown()
    stub.server_close()


def _domainr_status(domain, status):
    return 200, {
        "status": [{"domain": domain, "zone": "com", "status": status, "summary": status.split()[-1]}]
    }


def domainr_provider(stub, **kwargs):
    base = f"http://127.0.0.1:{stub.server_address[1]}"
    provider = DomainrProvider(
        base_url=base, allow_loopback_http=True, **({"client_id": "secret-id"} | kwargs)
    )
    provider.http.backoff = 0.01
    return provider


@pytest.mark.parametrize(
    ("status", "lifecycle"),
    [
        ("active", Lifecycle.ACTIVE),
        ("undelegated inactive", Lifecycle.UNREGISTERED),
        ("undelegated", Lifecycle.ACTIVE),
        ("active deleting", Lifecycle.UNKNOWN),  # a held name is not also being deleted
        ("active inactive", Lifecycle.UNKNOWN),
        ("active expiring", Lifecycle.GRACE),
        ("unknown", Lifecycle.UNKNOWN),
    ],
)
def test_domainr_lookup(domainr, status, lifecycle):
    domain = f"d-{status.replace(' ', '-')}.com"
    _DomainrStub.answers[domain] = _domainr_status(domain, status)
    observation = domainr_provider(domainr).lookup(domain)
    assert observation.lifecycle is lifecycle
    assert observation.provider == "domainr"
    assert observation.statuses == tuple(status.split())
    assert observation.registered_at is None
    path, query, _ = _DomainrStub.seen[-1]
    assert path == "/v2/status"
    assert query == {"domain": [domain], "client_id": ["secret-id"]}
    assert "secret-id" not in observation.source


def test_domainr_with_a_rapidapi_key(domainr):
    _DomainrStub.answers["keyed.com"] = _domainr_status("keyed.com", "active")
    provider = domainr_provider(domainr, client_id=None, api_key="secret-key")
    assert provider.lookup("keyed.com").lifecycle is Lifecycle.ACTIVE
    _, query, headers = _DomainrStub.seen[-1]
    assert "client_id" not in query
    assert headers["X-RapidAPI-Key"] == "secret-key"


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        ((200, {"status": [{"domain": "other.com", "status": "inactive"}]}), "does not mention"),
        ((200, {"status": "inactive"}), 'no "status" list'),
        ((200, {"status": [{"domain": "odd.com", "status": ["inactive"]}]}), "is not text"),
        ((200, b"<html>"), "not JSON"),
        ((401, {"message": "invalid client_id secret-id"}), "HTTP 401"),
        ((503, {"message": "down"}), "HTTP 503; gave up after 3 tries"),
    ],
)
def test_domainr_doubt(domainr, answer, why):
    _DomainrStub.answers["odd.com"] = answer
    observation = domainr_provider(domainr).lookup("odd.com")
    assert doubt(observation, why)
    assert "secret-id" not in observation.error
    assert "secret-id" not in observation.source
