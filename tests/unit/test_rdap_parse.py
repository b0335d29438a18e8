"""Reading RDAP answers and bootstrap files, without a network.

Also here, because the providers share them: Domainr's status tokens and the rate limiter.
"""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lapsewatch.lifecycle import Lifecycle
from lapsewatch.net.urls import is_loopback, url_allowed
from lapsewatch.providers.domainr import lifecycle_from_tokens
from lapsewatch.providers.rdap import RdapProvider
from lapsewatch.providers.rdap_answers import read_answer
from lapsewatch.providers.rdap_bootstrap import Bootstrap
from lapsewatch.ratelimit import RateLimiter, shared_limiter
from lapsewatch_tools.local.rdap_documents import LIFECYCLE_STATUSES, rdap_domain_json

FIXTURES = Path(__file__).parent.parent / "fixtures" / "rdap"


def at(text):
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# fixture file, domain asked, lifecycle, registered_at, expires_at
CORPUS = [
    (
        "verisign_com_active.json",
        "lapsewatch-thick.com",
        Lifecycle.ACTIVE,
        "1997-09-15T04:00",
        "2028-09-14T04:00",
    ),
    (
        "verisign_com_redemption_camelcase.json",
        "lapsewatch-lapsed.com",
        Lifecycle.REDEMPTION,
        "2014-02-03T10:11:12",
        "2026-09-30T10:11:12",
    ),
    (
        "verisign_net_grace.json",
        "lapsewatch-grace.net",
        Lifecycle.GRACE,
        "2009-06-01T08:00",
        "2026-11-01T08:00",
    ),
    (
        "pir_org_active.json",
        "lapsewatch-pir.org",
        Lifecycle.ACTIVE,
        "2018-04-17T13:22:45",
        "2027-04-17T13:22:45",
    ),
    (
        "nominet_uk_active.json",
        "lapsewatch-nominet.co.uk",
        Lifecycle.ACTIVE,
        "2003-07-09T00:00",
        "2027-07-09T00:00",
    ),
    ("denic_de_no_events.json", "lapsewatch-denic.de", Lifecycle.ACTIVE, None, None),
    # A registrar's answer names its expiration "registrar expiration": not the registry's date.
    ("registrar_referral_active.json", "lapsewatch-thick.com", Lifecycle.ACTIVE, "1997-09-15T07:00", None),
    (
        "identity_digital_info_redemption_capitalised.json",
        "lapsewatch-capital.info",
        Lifecycle.REDEMPTION,
        "2016-10-02T19:20:31",
        "2026-10-02T19:20:31",
    ),
    (
        "pending_delete.json",
        "lapsewatch-going.org",
        Lifecycle.PENDING_DELETE,
        "2012-01-05T10:00",
        "2026-09-05T10:00",
    ),
    ("client_hold.json", "lapsewatch-held.com", Lifecycle.HOLD, "2019-05-05T10:00", "2027-05-05T10:00"),
    (
        "reregistered.json",
        "lapsewatch-new-owner.com",
        Lifecycle.ACTIVE,
        "2026-10-30T16:20",
        "2027-10-30T16:20",
    ),
    ("idn_bucher_com.json", "xn--bcher-kva.com", Lifecycle.ACTIVE, "2004-03-10T12:00", "2027-03-10T12:00"),
    # Non-string statuses are skipped; unreadable events too; eventAction is read case-blind.
    ("trap_odd_fields.json", "lapsewatch-odd.com", Lifecycle.GRACE, None, "2027-01-01T00:00"),
    # Nomulus reports each renewal as a "reregistration": the holder registered in 2019.
    (
        "nomulus_app_renewed.json",
        "lapsewatch-renewed.app",
        Lifecycle.ACTIVE,
        "2019-05-08T17:09:31.112",
        "2027-05-08T17:09:31.112",
    ),
    # Nomulus's expiration for a deleted name is the end of time, past what a datetime holds.
    (
        "nomulus_dev_redemption.json",
        "lapsewatch-deleted.dev",
        Lifecycle.REDEMPTION,
        "2020-02-19T11:32:05.667",
        None,
    ),
    (
        "centralnic_xyz_autorenew.json",
        "lapsewatch-central.xyz",
        Lifecycle.GRACE,
        "2021-11-02T14:05:19",
        "2026-11-02T23:59:59",
    ),
    # "active" beside a lock is normal.
    (
        "afnic_fr_active.json",
        "lapsewatch-afnic.fr",
        Lifecycle.ACTIVE,
        "2004-03-19T09:27:10",
        "2027-03-19T09:27:10",
    ),
]


@pytest.mark.parametrize(
    ("name", "domain", "lifecycle", "registered", "expires"), CORPUS, ids=[c[0] for c in CORPUS]
)
def test_fixture_corpus(name, domain, lifecycle, registered, expires):
    body = (FIXTURES / name).read_bytes()
    observation = read_answer(body, domain, source="https://rdap.example/domain/x")
    assert observation.error is None
    assert observation.lifecycle is lifecycle
    assert observation.registered_at == (at(registered) if registered else None)
    assert observation.expires_at == (at(expires) if expires else None)
    assert observation.source == "https://rdap.example/domain/x"
    assert observation.provider == "rdap"


def test_statuses_are_kept_as_the_server_wrote_them():
    body = (FIXTURES / "verisign_com_redemption_camelcase.json").read_bytes()
    assert read_answer(body, "lapsewatch-lapsed.com").statuses == ("redemptionPeriod", "pendingDelete")
    body = (FIXTURES / "trap_odd_fields.json").read_bytes()
    assert read_answer(body, "lapsewatch-odd.com").statuses == (
        "client transfer prohibited",
        "auto renew period",
    )


def test_ldh_name_compares_case_blind_and_allows_a_trailing_dot():
    document = json.loads((FIXTURES / "registrar_referral_active.json").read_text())
    assert document["ldhName"].endswith(".")
    assert read_answer(json.dumps(document).encode(), "LAPSEWATCH-THICK.COM").lifecycle is Lifecycle.ACTIVE


def _answer(document, domain="example.com"):
    return read_answer(json.dumps(document).encode(), domain)


def test_missing_status_is_active():
    document = rdap_domain_json("example.com", [])
    del document["status"]
    assert _answer(document).lifecycle is Lifecycle.ACTIVE


@pytest.mark.parametrize("status", ["redemption period", {"0": "client hold"}, None, 5])
def test_a_status_that_is_not_a_list_is_ignored(status):
    document = rdap_domain_json("example.com", [])
    document["status"] = status
    observation = _answer(document)
    assert observation.lifecycle is Lifecycle.ACTIVE
    assert observation.statuses == ()


@pytest.mark.parametrize("events", [None, "events", {"eventAction": "registration"}, [[1, 2]]])
def test_odd_events_give_no_dates(events):
    document = rdap_domain_json("example.com", ["active"])
    document["events"] = events
    observation = _answer(document)
    assert (observation.registered_at, observation.expires_at) == (None, None)


def test_a_reregistration_event_is_not_a_registration():
    document = rdap_domain_json("example.com", ["active"], registered_at=at("2001-01-01T00:00"))
    document["events"].append({"eventAction": "reregistration", "eventDate": "2026-10-01T00:00:00Z"})
    assert _answer(document).registered_at == at("2001-01-01T00:00")
    document["events"] = [{"eventAction": "reregistration", "eventDate": "2026-10-01T00:00:00Z"}]
    assert _answer(document).registered_at is None


def test_the_same_registration_date_twice_is_one_date():
    document = rdap_domain_json("example.com", ["active"], registered_at=at("2001-01-01T00:00"))
    document["events"].append({"eventAction": "Registration", "eventDate": "2001-01-01T00:00:00.000Z"})
    observation = _answer(document)
    assert observation.error is None
    assert observation.registered_at == at("2001-01-01T00:00")


def test_registrations_with_different_dates_are_doubt():
    document = rdap_domain_json("example.com", ["active"], registered_at=at("2001-01-01T00:00"))
    document["events"].append({"eventAction": "registration", "eventDate": "2026-10-01T00:00:00Z"})
    observation = _answer(document)
    assert observation.lifecycle is Lifecycle.UNKNOWN
    assert observation.error == (
        "the answer has registration events with different dates: 2001-01-01, 2026-10-01"
    )


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"<html><body>Service Unavailable</body></html>", "not JSON"),
        (b"", "not JSON"),
        (b'{"objectClassName": "domain", "ldhName": "example.com"', "not JSON"),
        (b"\xff\xfe\x00garbage", "not JSON"),
        (b"[" * 100_000, "not JSON"),
        (b'[{"objectClassName": "domain", "ldhName": "example.com"}]', "a JSON list, not an object"),
        (b'"example.com"', "a JSON str, not an object"),
        (b"null", "a JSON NoneType, not an object"),
        (b'{"ldhName": "example.com", "status": ["pending delete"]}', "objectClassName is None"),
        (b'{"objectClassName": "entity", "ldhName": "example.com"}', "objectClassName is 'entity'"),
        (b'{"objectClassName": "Domain", "ldhName": "example.com"}', "objectClassName is 'Domain'"),
        (
            b'{"objectClassName": "domain", "ldhName": "example.net"}',
            "is for 'example.net', not 'example.com'",
        ),
        (b'{"objectClassName": "domain", "ldhName": "sub.example.com"}', "is for 'sub.example.com'"),
        (b'{"objectClassName": "domain", "ldhName": "example.com.."}', "is for 'example.com..'"),
        (b'{"objectClassName": "domain", "unicodeName": "example.com"}', "is for None"),
        (b'{"objectClassName": "domain", "ldhName": ["example.com"]}', "is for ['example.com']"),
        (b'{"errorCode": 404, "title": "Not Found"}', "objectClassName is None"),
        (
            (FIXTURES / "trap_duplicate_status.json").read_bytes(),
            "names the member 'status' twice in one object",
        ),
        (
            b'{"objectClassName": "domain", "ldhName": "example.com", "ldhName": "example.net"}',
            "names the member 'ldhName' twice",
        ),
        (
            b'{"objectClassName": "domain", "ldhName": "example.com", "events": '
            b'[{"eventAction": "registration", "eventAction": "expiration", "eventDate": "2020-01-01"}]}',
            "names the member 'eventAction' twice",
        ),
        (
            b'{"objectClassName": "domain", "ldhName": "example.com", '
            b'"status": ["active", "redemption period"]}',
            "the statuses contradict each other: 'active' beside 'redemption period'",
        ),
        (
            b'{"objectClassName": "domain", "ldhName": "example.com", "status": ["ok", "pendingDelete"]}',
            "the statuses contradict each other: 'ok' beside 'pendingDelete'",
        ),
    ],
)
def test_anything_but_the_domain_asked_is_doubt(body, why):
    observation = read_answer(body, "example.com", source="https://rdap.example/domain/example.com")
    assert observation.lifecycle is Lifecycle.UNKNOWN
    assert why in observation.error
    assert observation.source == "https://rdap.example/domain/example.com"
    assert observation.statuses == ()


@pytest.mark.parametrize("lifecycle", sorted(LIFECYCLE_STATUSES))
@pytest.mark.parametrize("shape", ["thick", "cctld", "registrar", "nomulus"])
def test_the_loopback_shapes_read_back(lifecycle, shape):
    document = rdap_domain_json("example.com", LIFECYCLE_STATUSES[lifecycle], shape=shape)
    expected = Lifecycle.ACTIVE if lifecycle == "reregistered" else Lifecycle(lifecycle)
    assert _answer(document).lifecycle is expected


# The bootstrap file.


def test_the_bundled_snapshot_loads():
    bootstrap = Bootstrap.load(None)
    assert bootstrap.servers_for("example.com") == ["https://rdap.verisign.com/com/v1/"]
    assert bootstrap.servers_for("EXAMPLE.ORG.") == ["https://rdap.publicinterestregistry.org/rdap/"]
    assert bootstrap.servers_for("example.co.uk") == ["https://rdap.nominet.uk/uk/"]
    assert bootstrap.servers_for("example.invalid-tld") == []


def _bootstrap(services):
    return Bootstrap.from_json({"version": "1.0", "services": services})


def test_the_longest_suffix_wins():
    bootstrap = _bootstrap(
        [
            [["uk"], ["https://uk.example/"]],
            [["co.uk", "org.uk"], ["https://co-uk.example/", "http://127.0.0.1:1/"]],
        ]
    )
    assert bootstrap.servers_for("shop.example.co.uk") == ["https://co-uk.example/", "http://127.0.0.1:1/"]
    assert bootstrap.servers_for("example.uk") == ["https://uk.example/"]
    assert bootstrap.servers_for("example.me.uk") == ["https://uk.example/"]
    assert bootstrap.servers_for("uk") == ["https://uk.example/"]


def test_a_bootstrap_file_replaces_the_snapshot(tmp_path):
    path = tmp_path / "dns.json"
    path.write_text(json.dumps({"services": [[["com"], ["http://127.0.0.1:8080/rdap/"]]]}))
    bootstrap = Bootstrap.load(path)
    assert bootstrap.servers_for("example.com") == ["http://127.0.0.1:8080/rdap/"]
    assert bootstrap.servers_for("example.org") == []
    assert str(path) in bootstrap.source


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ("not json", "is not JSON"),
        ("[]", "the top level is not a JSON object"),
        ("{}", 'no "services" list'),
        ('{"services": {"com": []}}', 'no "services" list'),
        ('{"services": [["com", ["https://a.example/"]]]}', r"services\[0\]\[0\] is not a list of labels"),
        ('{"services": [[["com"]]]}', r"services\[0\] is not a pair"),
        ('{"services": [[["com"], []]]}', r"services\[0\]\[1\] is not a list of URLs"),
        ('{"services": [[["com"], [42]]]}', r"services\[0\]\[1\] is not a list of URLs"),
        ('{"services": [[["com"], ["ftp://a.example/"]]]}', "not an http"),
        ('{"services": [[["com"], ["https://"]]]}', "not an http"),
    ],
)
def test_a_bad_bootstrap_file_is_refused_clearly(tmp_path, content, why):
    path = tmp_path / "dns.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=why) as raised:
        Bootstrap.load(path)
    assert str(path) in str(raised.value)


def test_a_missing_bootstrap_file_is_refused_clearly(tmp_path):
    with pytest.raises(ValueError, match="cannot read the RDAP bootstrap file"):
        Bootstrap.load(tmp_path / "absent.json")


def test_no_server_for_the_tld_is_unknown_without_a_request():
    provider = RdapProvider(_bootstrap([[["com"], ["https://rdap.example/"]]]), limiter=RateLimiter(1000))
    observation = provider.lookup("example.xyz")
    assert observation.lifecycle is Lifecycle.UNKNOWN
    assert observation.error == "no RDAP server for .xyz in the bootstrap file"


@pytest.mark.parametrize("allow_loopback_http", [False, True])
def test_a_plain_http_server_elsewhere_is_refused_without_a_request(allow_loopback_http):
    bootstrap = _bootstrap([[["kg"], ["http://rdap.example.kg/"]]])
    provider = RdapProvider(bootstrap, limiter=RateLimiter(1000), allow_loopback_http=allow_loopback_http)
    observation = provider.lookup("example.kg")
    assert observation.lifecycle is Lifecycle.UNKNOWN
    assert "plain http" in observation.error


def test_a_plain_http_loopback_server_is_refused_unless_allowed():
    provider = RdapProvider(_bootstrap([[["com"], ["http://127.0.0.1:9/"]]]), limiter=RateLimiter(1000))
    observation = provider.lookup("example.com")
    assert (
        observation.error == "the RDAP server for .com is plain http, which is refused: http://127.0.0.1:9/"
    )


@pytest.mark.parametrize("domain", ["", "-bad.com", "a..com", "x" * 70 + ".com"])
def test_lookup_never_raises(domain):
    provider = RdapProvider(_bootstrap([[["com"], ["https://rdap.example/"]]]), limiter=RateLimiter(1000))
    assert provider.lookup(domain).lifecycle is Lifecycle.UNKNOWN


# url, allowed by default, allowed with allow_loopback_http
@pytest.mark.parametrize(
    ("url", "allowed", "allowed_with_loopback_http"),
    [
        ("https://rdap.verisign.com/com/v1/domain/example.com", True, True),
        ("https://127.0.0.1:8443/x", True, True),
        ("http://127.0.0.1:8080/x", False, True),
        ("http://127.8.9.10/x", False, True),
        ("http://[::1]:8080/x", False, True),
        ("http://localhost:8080/x", False, True),
        ("http://LOCALHOST/x", False, True),
        ("http://rdap.example.com/x", False, False),
        ("http://10.0.0.1/x", False, False),
        ("http://[::2]/x", False, False),
        ("http://127.0.0.1.nip.io/x", False, False),
        ("http://localhost.example.com/x", False, False),
        ("ftp://127.0.0.1/x", False, False),
        ("file:///etc/passwd", False, False),
        ("https:///nohost", False, False),
        ("//rdap.example.com/x", False, False),
    ],
)
def test_url_policy(url, allowed, allowed_with_loopback_http):
    assert url_allowed(url) is allowed
    assert url_allowed(url, allow_loopback_http=False) is allowed
    assert url_allowed(url, allow_loopback_http=True) is allowed_with_loopback_http


def test_is_loopback():
    assert is_loopback("127.0.0.1")
    assert is_loopback("::1")
    assert not is_loopback(None)
    assert not is_loopback("example.com")


# Domainr's status tokens.


@pytest.mark.parametrize(
    ("status", "lifecycle"),
    [
        ("active", Lifecycle.ACTIVE),
        ("undelegated", Lifecycle.ACTIVE),
        ("undelegated inactive", Lifecycle.UNREGISTERED),
        ("inactive", Lifecycle.UNREGISTERED),
        ("premium inactive", Lifecycle.UNREGISTERED),
        ("active deleting", Lifecycle.UNKNOWN),  # a held name is not also being deleted
        ("active inactive", Lifecycle.UNKNOWN),
        ("deleting", Lifecycle.REDEMPTION),
        ("active expiring", Lifecycle.GRACE),
        ("parked marketed", Lifecycle.ACTIVE),
        ("transferable priced", Lifecycle.ACTIVE),
        ("claimed reserved", Lifecycle.ACTIVE),
        ("ACTIVE", Lifecycle.ACTIVE),
        ("unknown", Lifecycle.UNKNOWN),
        ("active unknown", Lifecycle.UNKNOWN),
        ("inactive disallowed", Lifecycle.UNKNOWN),
        ("invalid", Lifecycle.UNKNOWN),
        ("tld", Lifecycle.UNKNOWN),
        ("active zone", Lifecycle.UNKNOWN),
        ("suffix", Lifecycle.UNKNOWN),
        ("dpml", Lifecycle.UNKNOWN),
        ("pending", Lifecycle.UNKNOWN),
        ("active sparkling", Lifecycle.UNKNOWN),
        ("", Lifecycle.UNKNOWN),
    ],
)
def test_domainr_tokens(status, lifecycle):
    assert lifecycle_from_tokens(status.split()) is lifecycle


# The rate limiter, on a clock of its own.


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def test_the_limiter_spaces_requests_at_the_rate():
    clock = FakeClock()
    limiter = RateLimiter(5, monotonic=clock.monotonic, sleep=clock.sleep)
    starts = []
    for _ in range(6):
        assert limiter.acquire("rdap.example:443")
        starts.append(round(clock.now, 6))
    assert starts == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]


def test_the_limiter_keeps_one_bucket_per_server():
    clock = FakeClock()
    limiter = RateLimiter(1, monotonic=clock.monotonic, sleep=clock.sleep)
    assert limiter.acquire("a.example:443")
    assert limiter.acquire("b.example:443")
    assert clock.now == 0.0


def test_the_limiter_refuses_a_token_past_the_deadline_without_taking_it():
    clock = FakeClock()
    limiter = RateLimiter(2, monotonic=clock.monotonic, sleep=clock.sleep)
    assert limiter.acquire("k", deadline=10)
    assert not limiter.acquire("k", deadline=0.4)
    assert clock.now == 0.0
    assert limiter.acquire("k", deadline=0.5)
    assert clock.now == 0.5


def test_an_idle_bucket_fills_up_to_the_burst_only():
    clock = FakeClock()
    limiter = RateLimiter(10, burst=3, monotonic=clock.monotonic, sleep=clock.sleep)
    clock.now = 100.0
    for _ in range(3):
        limiter.acquire("k")
    assert clock.now == 100.0
    limiter.acquire("k")
    assert clock.now == pytest.approx(100.1)


def test_the_shared_limiter_is_one_per_rate():
    assert shared_limiter(5.0) is shared_limiter(5.0)
    assert shared_limiter(5.0) is not shared_limiter(50.0)


@pytest.mark.parametrize("rate", [0, -1])
def test_the_limiter_needs_a_positive_rate(rate):
    with pytest.raises(ValueError, match="greater than 0"):
        RateLimiter(rate)
