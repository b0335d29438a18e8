"""The registry client against loopback servers that fail on purpose: the reference registry with
a fault plan, and a scripted server for answers no honest registry gives."""

import json
import logging
import socket
import threading
import time
from collections import deque
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from lapsewatch.registry import (
    IdempotencyConflict,
    PermanentRegistryError,
    RegistryClient,
    RegistryError,
    TransientRegistryError,
    UnverifyRequest,
    decision_key,
)
from lapsewatch.registry.client import MAX_LIMIT
from lapsewatch.secrets import RegistryTokenError, SecretError, domainr_credentials, registry_token
from lapsewatch_tools.registry.app import LIST_EMAIL_DOMAINS, UNVERIFY, RegistryApp
from lapsewatch_tools.registry.faults import Fault, FaultPlan
from lapsewatch_tools.registry.server import RegistryServer

pytestmark = pytest.mark.integration

TOKEN = "tok-7f3a9c-SECRET"
REQUEST = UnverifyRequest("example.com", "redemption", {"lifecycle": "redemption", "provider": "rdap"})
KEY = decision_key("example.com", "redemption", None, None)


class RecordingApp(RegistryApp):
    """The reference registry, noting what each call carried."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.calls = []

    def __call__(self, environ, start_response):
        self.calls.append(
            (
                f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}",
                environ.get("HTTP_IDEMPOTENCY_KEY"),
                environ.get("HTTP_AUTHORIZATION"),
            )
        )
        return super().__call__(environ, start_response)


@pytest.fixture
def faults():
    return FaultPlan()


@pytest.fixture
def registry(faults):
    app = RecordingApp(token=TOKEN, faults=faults)
    with RegistryServer(app) as server:
        server.load_seed(
            json.dumps(
                {"user": f"u{n}", "email": email, "verified": True, "verified_at": "2020-02-02T00:00:00Z"}
            )
            for n, email in enumerate(
                [f"u@domain{n:02}.com" for n in range(23)] + ["a@example.com", "b@mail.example.com"]
            )
        )
        yield server


def client_for(url, token=TOKEN, **options):
    options = {
        "retries": 5,
        "backoff_factor": 0.01,
        # Generous: a read timeout under a loaded machine would retry, and a scripted server has
        # no answer for the retry. The tests of timeouts set their own.
        "timeout": (5.0, 5.0),
        "allow_loopback_http": True,
        **options,
    }
    return RegistryClient(url, token, **options)


@pytest.fixture
def client(registry):
    with client_for(registry.url) as client:
        yield client


def calls(registry, endpoint):
    return [call for call in registry.app.calls if call[0] == endpoint]


# Paging


@pytest.mark.parametrize("limit", [1, 4, 25, 1000])
def test_iter_email_domains_follows_the_cursor_to_every_domain_once(registry, client, limit):
    domains = [item.domain for item in client.iter_email_domains(limit=limit)]
    assert sorted(domains) == sorted(
        [f"domain{n:02}.com" for n in range(23)] + ["example.com", "mail.example.com"]
    )
    assert len(calls(registry, LIST_EMAIL_DOMAINS)) == -(-25 // limit)


def test_a_listing_longer_than_max_pages_stops_at_the_reference_registry(registry, client):
    with pytest.raises(PermanentRegistryError, match="did not end within 3 pages of up to 4"):
        list(client.pages(4, max_pages=3))
    assert len(calls(registry, LIST_EMAIL_DOMAINS)) == 3
    # 25 domains at 4 a page end on page 7.
    assert len(list(client.pages(4, max_pages=7))) == 7


def test_a_page_holds_typed_items(client):
    page = client.page(limit=2)
    assert len(page.items) == 2
    assert page.items[0].verified_emails == 1
    assert page.items[0].oldest_verified_at.isoformat() == "2020-02-02T00:00:00+00:00"
    assert client.page(page.next_cursor, limit=1000).next_cursor is None


# Retries


def test_429_is_retried_after_retry_after(registry, client, faults):
    faults.add(LIST_EMAIL_DOMAINS, Fault.rate_limited(retry_after=1))
    started = time.monotonic()
    assert client.page(limit=1).items
    assert 1.0 <= time.monotonic() - started < 3
    assert len(calls(registry, LIST_EMAIL_DOMAINS)) == 2


def test_503_then_ok_is_retried(registry, client, faults):
    faults.add(LIST_EMAIL_DOMAINS, Fault.unavailable(), Fault.unavailable(502), Fault.unavailable(504))
    assert len(list(client.iter_email_domains(limit=10))) == 25
    assert len(calls(registry, LIST_EMAIL_DOMAINS)) == 6


def test_a_dropped_connection_is_retried(registry, client, faults):
    faults.add(LIST_EMAIL_DOMAINS, Fault.dropped())
    faults.add(UNVERIFY, Fault.dropped(), Fault.dropped())
    assert client.page().items
    assert client.unverify(REQUEST, KEY).unverified == 2
    assert len(calls(registry, UNVERIFY)) == 3


def test_an_answer_slower_than_the_read_timeout_is_retried_and_replays(registry, faults):
    faults.add(UNVERIFY, Fault.slow(1.0))
    with client_for(registry.url, timeout=(1.0, 0.3)) as client:
        result = client.unverify(REQUEST, KEY)
    # The first call did the work; its answer was lost; the retry replays it.
    assert (result.unverified, result.replayed) == (2, True)


def test_every_retry_of_an_unverify_carries_the_same_idempotency_key(registry, faults):
    faults.add(UNVERIFY, Fault.rate_limited(0), Fault.unavailable(), Fault.dropped(), Fault.slow(0.6))
    with client_for(registry.url, timeout=(1.0, 0.3)) as client:
        client.unverify(REQUEST, KEY)
    sent = calls(registry, UNVERIFY)
    assert len(sent) == 5
    assert {key for _, key, _ in sent} == {KEY}
    assert {authorization for _, _, authorization in sent} == {f"Bearer {TOKEN}"}


def test_retries_are_bounded_and_then_a_retryable_error(registry, faults):
    faults.add(UNVERIFY, *[Fault.unavailable()] * 10)
    with client_for(registry.url, retries=2) as client, pytest.raises(TransientRegistryError) as raised:
        client.unverify(REQUEST, KEY)
    assert raised.value.status == 503
    assert raised.value.retryable
    assert "failing on purpose (503)" in str(raised.value)
    assert len(calls(registry, UNVERIFY)) == 3


def test_an_unreachable_registry_is_a_retryable_error():
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with (
        client_for(f"http://127.0.0.1:{port}", retries=1) as client,
        pytest.raises(TransientRegistryError) as raised,
    ):
        client.page()
    assert raised.value.status is None
    assert raised.value.retryable


def test_each_retry_of_an_unreachable_registry_is_told_with_its_reason():
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    notes = []
    with (
        client_for(f"http://127.0.0.1:{port}", retries=3, on_retry=notes.append) as client,
        pytest.raises(TransientRegistryError),
    ):
        client.page()
    # One note per retry, before it: none after the last try, which is the error.
    assert [(note.retry, note.retries) for note in notes] == [(1, 3), (2, 3), (3, 3)]
    assert {note.what for note in notes} == {"GET /v1/email-domains"}
    assert {note.why for note in notes} == {f"connection refused by 127.0.0.1:{port}"}
    assert str(notes[0]).startswith(
        f"GET /v1/email-domains: connection refused by 127.0.0.1:{port}; retry 1 of 3"
    )


def test_each_retry_of_a_busy_registry_names_the_status_and_the_wait(registry, faults):
    faults.add(UNVERIFY, Fault.rate_limited(retry_after=1), Fault.unavailable())
    notes = []
    with client_for(registry.url, on_retry=notes.append) as client:
        client.unverify(REQUEST, KEY)
    assert [note.why.split()[0] for note in notes] == ["429", "503"]
    assert notes[0].what == "POST /v1/email-domains/unverify"
    # The first waits as Retry-After says.
    assert notes[0].wait == 1


class _Records(logging.Handler):
    def __init__(self):
        super().__init__()
        self.records = []

    def emit(self, record):
        self.records.append(record)


def test_retries_are_logged_by_default_on_a_logger_of_their_own(registry, faults):
    faults.add(LIST_EMAIL_DOMAINS, Fault.unavailable())
    retries, listener = logging.getLogger("lapsewatch.registry.retries"), _Records()
    retries.addHandler(listener)
    try:
        with client_for(registry.url) as client:
            assert client.page().items
    finally:
        retries.removeHandler(listener)
    [record] = listener.records
    assert record.levelno == logging.WARNING
    assert "GET /v1/email-domains: 503" in record.getMessage() and "retry 1 of 5" in record.getMessage()


# Permanent failures


def test_a_wrong_token_is_permanent_and_not_retried(registry):
    with (
        client_for(registry.url, token="wrong-token") as client,
        pytest.raises(PermanentRegistryError) as raised,
    ):
        client.page()
    assert raised.value.status == 401
    assert not raised.value.retryable
    assert "token" in str(raised.value)
    assert len(calls(registry, LIST_EMAIL_DOMAINS)) == 1


@pytest.mark.parametrize("status", [400, 403, 404, 422])
def test_other_4xx_are_permanent_and_not_retried(registry, client, faults, status):
    faults.add(UNVERIFY, Fault(status=status))
    with pytest.raises(PermanentRegistryError) as raised:
        client.unverify(REQUEST, KEY)
    assert raised.value.status == status
    assert f"failing on purpose ({status})" in str(raised.value)
    assert len(calls(registry, UNVERIFY)) == 1


def test_a_5xx_outside_the_retried_ones_is_retryable_but_not_retried_here(registry, client, faults):
    faults.add(UNVERIFY, Fault(status=501))
    with pytest.raises(TransientRegistryError):
        client.unverify(REQUEST, KEY)
    assert len(calls(registry, UNVERIFY)) == 1


def test_the_same_key_with_another_body_is_an_idempotency_conflict(registry, client):
    assert client.unverify(REQUEST, KEY).replayed is False
    assert client.unverify(REQUEST, KEY).replayed is True
    other = UnverifyRequest("example.com", "redemption", {"checked_at": "later"})
    with pytest.raises(IdempotencyConflict) as raised:
        client.unverify(other, KEY)
    assert raised.value.status == 409
    assert not raised.value.retryable
    assert "different body" in str(raised.value)
    assert len(calls(registry, UNVERIFY)) == 3


def test_a_server_error_message_is_passed_on(registry, client):
    with pytest.raises(PermanentRegistryError) as raised:
        client.page(cursor="not-a-cursor")
    assert "cursor is not one this registry gave out" in str(raised.value)


# Answers outside the contract, from a scripted server


class ScriptedServer:
    """Answers each request with the next scripted answer: (status, headers, body), raw bytes to
    send as they are, or None to close the connection without a word."""

    def __init__(self, *answers):
        self.answers = deque(answers)
        self.requests = []
        script = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                script.answer(self)

            do_POST = do_GET

            def log_message(self, format, *args):
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def answer(self, handler):
        length = int(handler.headers.get("Content-Length") or 0)
        self.requests.append((handler.path, dict(handler.headers), handler.rfile.read(length)))
        answer = self.answers.popleft()
        if answer is None:
            return
        if isinstance(answer, bytes):
            handler.wfile.write(answer)
            return
        status, headers, body = answer
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        handler.send_response(status)
        for name, value in {"Content-Type": "application/json", **headers}.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def __enter__(self):
        threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def __exit__(self, *exc_info):
        self._httpd.shutdown()
        self._httpd.server_close()


@contextmanager
def scripted(*answers, **options):
    with ScriptedServer(*answers) as server, client_for(server.url, **options) as client:
        yield server, client


def page(*domains, cursor=None):
    dated = "2020-01-01T00:00:00Z"
    items = [{"domain": d, "verified_emails": 1, "oldest_verified_at": dated} for d in domains]
    return 200, {}, {"items": items, "next_cursor": cursor}


def test_a_cursor_handed_out_twice_stops_the_listing():
    answers = page("a.com", cursor="c1"), page("b.com", cursor="c2"), page("c.com", cursor="c1")
    seen = []
    with scripted(*answers) as (server, client), pytest.raises(PermanentRegistryError) as raised:
        seen.extend(item.domain for item in client.iter_email_domains())
    assert seen == ["a.com", "b.com", "c.com"]
    assert "cursor" in str(raised.value)
    assert [path for path, _, _ in server.requests] == [
        "/v1/email-domains?limit=500",
        "/v1/email-domains?limit=500&cursor=c1",
        "/v1/email-domains?limit=500&cursor=c2",
    ]


def test_a_listing_that_keeps_handing_out_new_cursors_stops_at_max_pages():
    answers = [page(f"d{n}.com", cursor=f"c{n}") for n in range(1, 6)]
    seen = []
    with scripted(*answers) as (server, client), pytest.raises(PermanentRegistryError) as raised:
        seen.extend(p.items[0].domain for p in client.pages(max_pages=3))
    assert "the listing did not end within 3 pages" in str(raised.value)
    assert seen == ["d1.com", "d2.com"]
    assert len(server.requests) == 3


@pytest.mark.parametrize(("count", "limit"), [(3, 2), (MAX_LIMIT + 1, MAX_LIMIT)])
def test_a_page_longer_than_the_limit_asked_for_breaks_the_contract(count, limit):
    answer = page(*(f"d{n}.com" for n in range(count)))
    with scripted(answer) as (server, client), pytest.raises(PermanentRegistryError) as raised:
        client.page(limit=limit)
    assert f"the answer breaks the contract: {count} items, more than the limit of {limit}" in str(
        raised.value
    )
    assert not raised.value.retryable
    assert len(server.requests) == 1


def test_empty_pages_with_a_cursor_are_followed():
    with scripted(page(cursor="c1"), page(cursor="c2"), page("a.com")) as (_, client):
        assert [item.domain for item in client.iter_email_domains(limit=3)] == ["a.com"]


def test_retry_after_is_capped():
    started = time.monotonic()
    rate_limited = (429, {"Retry-After": "3600"}, {"error": "slow down"})
    with scripted(rate_limited, page("a.com"), retry_after_cap=0.2) as (_, client):
        assert client.page().items
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("retry_after", ["soon", "1.5", "-3", ""])
def test_an_unreadable_retry_after_falls_back_to_the_backoff(retry_after):
    with scripted((503, {"Retry-After": retry_after}, {"error": "busy"}), page("a.com")) as (_, client):
        assert client.page().items


def test_an_answer_cut_short_is_retried(caplog):
    cut_short = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{"items": ['
    with scripted(cut_short, None, page("a.com")) as (server, client):
        assert [item.domain for item in client.page().items] == ["a.com"]
    assert len(server.requests) == 3
    assert "the answer was cut short" in caplog.text


def test_an_answer_cut_short_every_time_is_a_retryable_error():
    cut_short = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 500\r\n\r\n{"
    with (
        scripted(*[cut_short] * 3, retries=2) as (server, client),
        pytest.raises(TransientRegistryError) as raised,
    ):
        client.page()
    assert raised.value.status == 503
    assert len(server.requests) == 3


@pytest.mark.parametrize(
    "body",
    [
        b"<html>maintenance</html>",
        b"[]",
        b'{"items": {}, "next_cursor": null}',
        b'{"items": []}',
        b'{"items": [], "next_cursor": 7}',
        b'{"items": [], "next_cursor": ""}',
        b'{"items": ["a.com"], "next_cursor": null}',
        b'{"items": [{"domain": 1, "verified_emails": 1}], "next_cursor": null}',
        b'{"items": [{"domain": "a.com", "verified_emails": "1"}], "next_cursor": null}',
        b'{"items": [{"domain": "a.com", "verified_emails": true}], "next_cursor": null}',
        b'{"items": [{"domain": "a.com", "verified_emails": 0}], "next_cursor": null}',
        b'{"items": [{"domain": "a.com"}], "next_cursor": null}',
    ],
)
def test_a_page_outside_the_contract_is_a_permanent_error(body):
    with scripted((200, {}, body)) as (server, client), pytest.raises(PermanentRegistryError) as raised:
        client.page()
    assert not raised.value.retryable
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("status", "message"),
    [(200, "the body is JSON nested too deeply to read"), (400, "400 Bad Request: [[[[")],
)
def test_json_nested_too_deeply_to_read_is_a_permanent_error(status, message):
    # json.loads raises RecursionError for it, not the ValueError of other bad JSON.
    with (
        scripted((status, {}, b"[" * 100_000)) as (server, client),
        pytest.raises(PermanentRegistryError) as raised,
    ):
        client.page()
    assert raised.value.status == status
    assert message in str(raised.value)
    assert len(server.requests) == 1


def test_an_item_with_an_unreadable_date_keeps_its_domain(caplog):
    items = [
        {"domain": "a.com", "verified_emails": 2, "oldest_verified_at": "last spring"},
        {"domain": "b.com", "verified_emails": 1, "oldest_verified_at": None},
        {"domain": "c.com", "verified_emails": 1},
        {"domain": "d.com", "verified_emails": 1, "oldest_verified_at": "2020-01-01T00:00:00Z"},
    ]
    with scripted((200, {}, {"items": items, "next_cursor": None})) as (_, client):
        domains = client.page().items
    assert [(d.domain, d.oldest_verified_at is None) for d in domains] == [
        ("a.com", True),
        ("b.com", True),
        ("c.com", True),
        ("d.com", False),
    ]
    assert "3 of 4 items had no readable oldest_verified_at" in caplog.text


@pytest.mark.parametrize(
    "body",
    [
        b'{"unverified": "2", "replayed": false}',
        b'{"unverified": 2}',
        b'{"unverified": -1, "replayed": false}',
    ],
)
def test_an_unverify_answer_outside_the_contract_is_a_permanent_error(body):
    with scripted((200, {}, body)) as (_, client), pytest.raises(PermanentRegistryError):
        client.unverify(REQUEST, KEY)


def test_a_redirect_is_not_followed():
    moved = (302, {"Location": "http://example.com/"}, b"")
    with scripted(moved) as (server, client), pytest.raises(PermanentRegistryError) as raised:
        client.page()
    assert raised.value.status == 302
    assert len(server.requests) == 1


def test_the_request_is_the_contract_s():
    with scripted((200, {}, {"unverified": 1, "replayed": False})) as (server, client):
        client.unverify(REQUEST, KEY)
    path, headers, body = server.requests[0]
    assert path == "/v1/email-domains/unverify"
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert headers["Idempotency-Key"] == KEY
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == REQUEST.to_body()


def test_plain_http_to_the_reference_registry_can_be_turned_off(registry):
    with pytest.raises(ValueError, match="allow_loopback_http=False"):
        client_for(registry.url, allow_loopback_http=False)
    assert registry.app.calls == []


# The token stays secret


def test_the_token_is_never_in_errors_logs_or_reprs(registry, faults, caplog):
    caplog.set_level(logging.DEBUG)
    failures = []
    echo = {"error": f"bad header Authorization: Bearer {TOKEN}"}
    with scripted((400, {}, echo), (503, {}, echo), (503, {}, echo), retries=1) as (_, client):
        for _ in range(2):
            with pytest.raises(RegistryError) as raised:
                client.page()
            failures.append(raised.value)
    faults.add(UNVERIFY, *[Fault.dropped()] * 3)
    with client_for(registry.url, retries=2) as client, pytest.raises(RegistryError) as raised:
        client.unverify(REQUEST, KEY)
    failures.append(raised.value)
    texts = [str(f) for f in failures] + [repr(f) for f in failures] + [repr(client), repr(client._auth)]
    with client_for(registry.url, token="wrong-" + TOKEN) as client, pytest.raises(RegistryError) as raised:
        client.page()
    texts += [str(raised.value), repr(client)]
    assert all(TOKEN not in text for text in texts), texts
    assert "<token>" in str(failures[0])
    assert TOKEN not in caplog.text


# The token, from Secrets Manager


@pytest.fixture
def secrets_manager(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    parameters.clear_caches()
    with mock_aws():
        yield boto3.client("secretsmanager")
    parameters.clear_caches()


@pytest.mark.parametrize("secret", ["s3cr3t-token", ' {"token": "s3cr3t-token"}\n', "s3cr3t-token\n"])
def test_the_token_comes_from_the_secret(secrets_manager, secret):
    arn = secrets_manager.create_secret(Name="lapsewatch/registry", SecretString=secret)["ARN"]
    assert registry_token(arn, token="the-secret-wins") == "s3cr3t-token"


def test_the_secret_is_cached_for_five_minutes(secrets_manager):
    arn = secrets_manager.create_secret(Name="lapsewatch/registry", SecretString="first")["ARN"]
    assert registry_token(arn) == "first"
    secrets_manager.put_secret_value(SecretId=arn, SecretString="rotated")
    assert registry_token(arn) == "first"


@pytest.mark.parametrize("secret", ['{"token": ""}', '{"key": "x"}', '{"token": 42}'])
def test_a_json_secret_without_a_token_is_a_clear_error(secrets_manager, secret):
    arn = secrets_manager.create_secret(Name="lapsewatch/registry", SecretString=secret)["ARN"]
    with pytest.raises(RegistryTokenError, match="token"):
        registry_token(arn)


def test_a_missing_secret_is_a_clear_error(secrets_manager):
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing-AbCdEf"
    with pytest.raises(RegistryTokenError, match="missing-AbCdEf"):
        registry_token(arn)


@pytest.mark.parametrize(
    "secret, expected",
    [('{"client_id": "cid", "api_key": "key"}', ("cid", "key")), ('{"api_key": "key"}', (None, "key"))],
)
def test_domainr_credentials_come_from_a_json_secret(secrets_manager, secret, expected):
    arn = secrets_manager.create_secret(Name="lapsewatch/domainr", SecretString=secret)["ARN"]
    assert domainr_credentials(arn) == expected


def test_a_domainr_secret_that_is_not_json_is_a_clear_error(secrets_manager):
    arn = secrets_manager.create_secret(Name="lapsewatch/domainr", SecretString="plain")["ARN"]
    with pytest.raises(SecretError, match="lapsewatch/domainr"):
        domainr_credentials(arn)


# Secrets rotate: the functions' client asks for the token at each request


def runtime_on(registry, arn):
    from lapsewatch.sweep.runtime import Runtime

    env = {
        "LAPSEWATCH_DOMAINS_TABLE": "domains",
        "LAPSEWATCH_RUNS_TABLE": "runs",
        "LAPSEWATCH_REGISTRY_URL": registry.url,
        "LAPSEWATCH_REGISTRY_TOKEN_SECRET_ARN": arn,
        "LAPSEWATCH_ALLOW_LOOPBACK_HTTP": "true",
    }
    return Runtime.from_env(env)


def test_a_token_the_registry_refuses_is_read_again_past_the_cache_and_tried_once_more(secrets_manager):
    arn = secrets_manager.create_secret(Name="lapsewatch/registry", SecretString="first")["ARN"]
    app = RegistryApp(token="first")
    with RegistryServer(app) as registry:
        client = runtime_on(registry, arn).registry_client()
        assert client.page().items == []
        # Rotated at both ends, within the five minutes Powertools keeps the old value.
        app.token = "rotated"
        secrets_manager.put_secret_value(SecretId=arn, SecretString="rotated")

        assert client.page().items == []
        assert registry_token(arn) == "rotated"


def test_a_token_still_refused_once_read_again_is_an_error(secrets_manager):
    arn = secrets_manager.create_secret(Name="lapsewatch/registry", SecretString="wrong")["ARN"]
    faults = FaultPlan()
    with RegistryServer(RegistryApp(token="right", faults=faults)) as registry:
        client = runtime_on(registry, arn).registry_client()
        with pytest.raises(PermanentRegistryError) as refused:
            client.page()
    assert refused.value.status == 401


def test_the_client_asks_for_the_token_at_each_request(registry):
    tokens = deque(["wrong", TOKEN])
    with RegistryClient(registry.url, lambda: tokens[0], retries=0, allow_loopback_http=True) as client:
        with pytest.raises(PermanentRegistryError):
            client.page()
        tokens.popleft()
        assert client.page().next_cursor is None


def test_no_provider_secret_is_read_until_a_lookup_needs_one_and_a_rotated_key_is_used(
    secrets_manager, monkeypatch
):
    arn = secrets_manager.create_secret(Name="lapsewatch/fastly", SecretString='{"api_key": "first"}')["ARN"]
    from lapsewatch.sweep import runtime as wiring

    reads = []
    read_key = wiring.fastly_api_key
    monkeypatch.setattr(
        wiring, "fastly_api_key", lambda secret, **kw: reads.append(secret) or read_key(secret, **kw)
    )
    env = {
        "LAPSEWATCH_DOMAINS_TABLE": "domains",
        "LAPSEWATCH_RUNS_TABLE": "runs",
        "LAPSEWATCH_PROVIDERS": "rdap,fastly",
        "LAPSEWATCH_FASTLY_SECRET_ARN": arn,
        "LAPSEWATCH_ALLOW_LOOPBACK_HTTP": "true",
    }
    runtime = wiring.Runtime.from_env(env)
    runtime.dispatcher  # noqa: B018 - built as the dispatcher's cold start builds it
    assert reads == []

    first = runtime.provider.current()
    assert runtime.provider.current() is first
    secrets_manager.put_secret_value(SecretId=arn, SecretString='{"api_key": "rotated"}')
    parameters.clear_caches()  # five minutes on

    assert runtime.provider.current() is not first


def test_a_refused_provider_key_is_read_again_past_the_cache_and_tried_once_more(secrets_manager):
    from lapsewatch.sweep import runtime as wiring
    from lapsewatch_tools.local.fastly_server import LoopbackFastly

    with LoopbackFastly(api_key="rotated") as fastly:
        arn = secrets_manager.create_secret(Name="lapsewatch/fastly-key", SecretString='{"api_key": "old"}')[
            "ARN"
        ]
        env = {
            "LAPSEWATCH_DOMAINS_TABLE": "domains",
            "LAPSEWATCH_RUNS_TABLE": "runs",
            "LAPSEWATCH_PROVIDERS": "fastly",
            "LAPSEWATCH_FASTLY_SECRET_ARN": arn,
            "LAPSEWATCH_FASTLY_URL": fastly.url,
            "LAPSEWATCH_ALLOW_LOOPBACK_HTTP": "true",
        }
        runtime = wiring.Runtime.from_env(env)
        refused = runtime.provider.lookup("example.com")
        assert refused.credentials_refused and "refused the API key" in refused.error
        # Rotated while the old key sits in the cache: the refusal reads it again at once.
        secrets_manager.put_secret_value(SecretId=arn, SecretString='{"api_key": "rotated"}')
        assert runtime.provider.lookup("example.com").lifecycle == "active"
        assert fastly.asked("example.com")[-1]["Fastly-Key"] == "rotated"
