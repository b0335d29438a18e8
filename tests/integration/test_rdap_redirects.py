"""Redirects against loopback servers: credentials stay with the origin first asked, and nothing a
redirected server says, nor any answer with a future registration date, is ever unsafe."""

import itertools
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lapsewatch.check import DomainChecker
from lapsewatch.lifecycle import Lifecycle
from lapsewatch.net.fetch import HttpFetcher
from lapsewatch.providers.domainr import DomainrProvider
from lapsewatch.providers.rdap import RdapProvider
from lapsewatch.providers.rdap_bootstrap import Bootstrap
from lapsewatch.ratelimit import RateLimiter
from lapsewatch.timefmt import rfc3339
from lapsewatch_tools.local.rdap_documents import LIFECYCLE_STATUSES, rdap_domain_json
from lapsewatch_tools.local.rdap_server import DomainAnswer, LoopbackRdap

pytestmark = pytest.mark.integration

KEY = "secret-rapidapi-key"


# Credentials.


@pytest.fixture(scope="module")
def two_origins():
    """Two loopback servers on two ports: two origins."""
    with LoopbackRdap() as first, LoopbackRdap() as second:
        for server in (first, second):
            server.add_registry("api")
        yield first, second


def fetch(url, **kwargs):
    fetcher = HttpFetcher(limiter=None, allow_loopback_http=True, request_timeout=2)
    return fetcher.get(url, headers={"Accept": "application/json"}, deadline=time.monotonic() + 5, **kwargs)


def headers_of(server, path):
    return [headers for seen, headers in server.recent if seen == path]


def test_credentials_are_not_sent_to_another_origin(two_origins):
    first, second = two_origins
    first.set_domain(
        "keyed.com", DomainAnswer.redirect(second.domain_url("keyed.com", "api")), registry="api"
    )
    second.set_domain("keyed.com", DomainAnswer.for_lifecycle("active"), registry="api")
    answer = fetch(first.domain_url("keyed.com", "api"), credentials={"X-RapidAPI-Key": KEY})
    assert (answer.status, answer.redirected) == (200, True)
    [asked] = headers_of(first, "/api/domain/keyed.com")
    [redirected] = headers_of(second, "/api/domain/keyed.com")
    assert asked["X-RapidAPI-Key"] == KEY
    assert "X-RapidAPI-Key" not in redirected
    assert redirected["Accept"] == "application/json"  # other headers go on


def test_credentials_go_on_within_the_origin(two_origins):
    first, _ = two_origins
    first.set_domain("moved-here.com", DomainAnswer.redirect("/api/domain/here.com"), registry="api")
    first.set_domain("here.com", DomainAnswer.for_lifecycle("active"), registry="api")
    answer = fetch(first.domain_url("moved-here.com", "api"), credentials={"X-RapidAPI-Key": KEY})
    assert answer.redirected
    assert headers_of(first, "/api/domain/here.com")[-1]["X-RapidAPI-Key"] == KEY


def test_the_same_host_on_another_port_is_another_origin(two_origins):
    first, second = two_origins
    # localhost and 127.0.0.1 are one machine but two hosts; the port differs too.
    elsewhere = second.domain_url("by-name.com", "api").replace("127.0.0.1", "localhost")
    first.set_domain("by-name.com", DomainAnswer.redirect(elsewhere), registry="api")
    second.set_domain("by-name.com", DomainAnswer.for_lifecycle("active"), registry="api")
    fetch(first.domain_url("by-name.com", "api"), credentials={"X-RapidAPI-Key": KEY})
    assert "X-RapidAPI-Key" not in headers_of(second, "/api/domain/by-name.com")[-1]


class _Recorder(BaseHTTPRequestHandler):
    """Answers each path as `routes` says, and records what it was sent."""

    def do_GET(self):
        self.server.seen.append((self.path, dict(self.headers.items())))
        status, headers, body = self.server.route(self.path)
        self.send_response(status)
        for name, value in {"Content-Length": str(len(body)), **headers}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def recorders():
    servers = []
    for _ in range(2):
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
        server.seen = []
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
    yield servers
    for server in servers:
        server.shutdown()
        server.server_close()


def _domainr_answer(domain, status):
    body = json.dumps({"status": [{"domain": domain, "zone": "com", "status": status, "summary": status}]})
    return 200, {"Content-Type": "application/json"}, body.encode()


@pytest.mark.parametrize(("status", "lifecycle"), [("active", "active"), ("undelegated inactive", "unknown")])
def test_domainr_keeps_its_key_from_a_redirect_target(recorders, status, lifecycle):
    first, second = recorders
    elsewhere = f"http://127.0.0.1:{second.server_address[1]}"
    first.route = lambda path: (302, {"Location": elsewhere + path}, b"")
    second.route = lambda path: _domainr_answer("keyed.com", status)
    base = f"http://127.0.0.1:{first.server_address[1]}"
    provider = DomainrProvider(api_key=KEY, base_url=base, allow_loopback_http=True)
    result = DomainChecker(provider, confirm_delay=0).check("keyed.com")

    [(_, asked)] = first.seen
    assert asked["X-RapidAPI-Key"] == KEY
    assert all("X-RapidAPI-Key" not in headers for _, headers in second.seen)
    assert all(headers["X-RapidAPI-Host"] == "domainr.p.rapidapi.com" for _, headers in second.seen)
    # Domainr's word through a redirect may say a domain is held, never that it is free.
    assert result.lifecycle == lifecycle
    assert not result.unsafe
    assert result.source.startswith(elsewhere)
    assert result.service == base


# Properties over random answers.

NOW = datetime.now(UTC)
STATUSES = sorted({status for statuses in LIFECYCLE_STATUSES.values() for status in statuses} | {"active"})
moments = st.datetimes(min_value=datetime(1985, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))


@st.composite
def documents(draw, domain, registered=moments):
    document = rdap_domain_json(
        domain,
        draw(st.lists(st.sampled_from(STATUSES), max_size=4)),
        draw(st.one_of(st.none(), registered)),
        draw(st.one_of(st.none(), moments)),
        shape=draw(st.sampled_from(["thick", "registrar", "nomulus"])),
    )
    for moment in draw(st.lists(moments, max_size=2)):
        document["events"].append({"eventAction": "reregistration", "eventDate": rfc3339(moment)})
    return document


@st.composite
def answers(draw, domain):
    """What a server might say about `domain`: a domain object, an RDAP error, or junk."""
    status = draw(st.sampled_from([200, 200, 200, 404, 404, 410]))
    body = draw(
        st.one_of(
            documents(domain).map(lambda document: json.dumps(document).encode()),
            st.just(b""),
            st.just(json.dumps({"errorCode": status, "title": "Not Found"}).encode()),
            st.just(b"<html><body><h1>Not Found</h1></body></html>"),
            st.binary(max_size=40),
        )
    )
    return DomainAnswer.raw(status, body)


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    with LoopbackRdap() as server:
        server.add_registry("verisign", tlds=["com"])
        server.add_registry("registrar")
        path = server.bootstrap_file(tmp_path_factory.mktemp("rdap") / "dns.json")
        provider = RdapProvider(
            Bootstrap.load(path),
            limiter=RateLimiter(10_000),
            request_timeout=2,
            lookup_budget=5,
            max_tries=1,
            allow_loopback_http=True,
        )
        yield server, DomainChecker(provider, confirm_delay=0)


_names = itertools.count()
PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(data=st.data(), to_registrar=st.booleans(), verified=st.one_of(st.none(), moments))
def test_nothing_a_redirected_server_says_is_ever_unsafe(registry, data, to_registrar, verified):
    server, checker = registry
    n = next(_names)
    domain = f"referred-{n}.com"
    # To a registrar, or back to the registry's own server for another name.
    target, there = (domain, "registrar") if to_registrar else (f"elsewhere-{n}.com", "verisign")
    server.set_domain(domain, DomainAnswer.redirect(f"/{there}/domain/{target}"))
    server.set_domain(
        target, data.draw(answers(data.draw(st.sampled_from([domain, target])))), registry=there
    )
    result = checker.check(domain, verified)
    assert not result.unsafe, result.reason
    assert result.lifecycle in {Lifecycle.ACTIVE, Lifecycle.GRACE, Lifecycle.UNKNOWN}


future = st.datetimes(
    min_value=NOW.replace(tzinfo=None) + timedelta(minutes=5),
    max_value=datetime(2100, 1, 1),
    timezones=st.just(UTC),
)


@PROPERTY
@given(data=st.data(), verified=st.one_of(st.none(), moments))
def test_no_answer_with_a_future_registration_date_is_ever_unsafe(registry, data, verified):
    server, checker = registry
    domain = f"from-the-future-{next(_names)}.com"
    document = data.draw(documents(domain, registered=future).filter(_registered))
    server.set_domain(domain, DomainAnswer.raw(200, document))
    result = checker.check(domain, verified)
    assert not result.unsafe, result.reason
    assert result.lifecycle is Lifecycle.UNKNOWN


def _registered(document):
    return any(event["eventAction"] == "registration" for event in document["events"])
