"""The TLDs served from the second round of public samples: India's IDN ccTLDs (NIXI), .mk and
.мкд (MARnet, on FRED), .台湾 (TWNIC), .ລາວ (on .la's server) and .ve (NIC.VE).

Each registry's own fixture (tests/fixtures/whois, written for lapsewatch in its layout) reads as
the table says, and every hostile variant of it is doubt: a rate-limit text, an answer about
another name, an answer cut short, an answer in another encoding.
"""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from lapsewatch.lifecycle import Lifecycle
from lapsewatch.net.doubt import Doubt
from lapsewatch.providers.whois_reader import decode, read_answer
from lapsewatch.providers.whois_rules import WhoisRefusal, WhoisTable

FIXTURES = Path(__file__).parent.parent / "fixtures" / "whois"
TABLE = WhoisTable.load()
INDIA_IDN = [
    "xn--2scrj9c",
    "xn--3hcrj9c",
    "xn--45br5cyl",
    "xn--45brj9c",
    "xn--fpcrj9c3d",
    "xn--gecrj9c",
    "xn--h2breg3eve",
    "xn--h2brj9c",
    "xn--h2brj9c8c",
    "xn--mgbbh1a",
    "xn--mgbbh1a71e",
    "xn--mgbgu82a",
    "xn--rvc1e0am3e",
    "xn--s9brj9c",
    "xn--xkc2dl3a5ee0h",
]
# The fixtures are written for one TLD of each registry; the others it serves get the same
# answer with their own name in it.
IN_NAME = "xn--41bd7df1e.xn--h2brj9c"
MK_NAMES = {"mk": "ajvar-dom.mk", "xn--d1alf": "xn--80aaf1d6f.xn--d1alf"}
TW_NAME, TW_UNICODE = "xn--yusv62dwb563g.xn--kprw13d", "珍珠奶茶.台湾"
LA_NAME = "xn--q6c0h0as1c.xn--q7ce6a"
VE_NAME = "arepera.com.ve"


def _text(name: str, *, written_for: str = "", asked: str = "") -> str:
    text = (FIXTURES / name).read_bytes().decode("utf-8")
    return text.replace(written_for, asked) if written_for else text


def _read(text: str, domain: str, *, unicode_name: str | None = None, encoding: str = "utf-8"):
    rules = TABLE.for_domain(domain)
    assert rules is not None, domain
    return read_answer(decode(text.encode(encoding), rules), domain, rules, unicode_name=unicode_name)


def _india(fixture: str, tld: str) -> tuple[str, str]:
    domain = IN_NAME.replace("xn--h2brj9c", tld)
    return _text(fixture, written_for=IN_NAME, asked=domain), domain


def _macedonia(fixture: str, tld: str) -> tuple[str, str]:
    return _text(fixture, written_for=MK_NAMES["mk"], asked=MK_NAMES[tld]), MK_NAMES[tld]


# What each registry's answers show -------------------------------------------------------------


@pytest.mark.parametrize("tld", INDIA_IDN)
@pytest.mark.parametrize(
    ("fixture", "lifecycle"),
    [
        ("in-idn-registered.txt", Lifecycle.ACTIVE),
        ("in-idn-redemption.txt", Lifecycle.REDEMPTION),
        ("in-idn-pending-delete.txt", Lifecycle.PENDING_DELETE),
        ("in-idn-hold.txt", Lifecycle.HOLD),
    ],
)
def test_nixi_answers_for_indias_idn_tlds_read_by_their_epp_statuses(tld, fixture, lifecycle):
    text, domain = _india(fixture, tld)
    reading = _read(text, domain)
    assert reading.lifecycle is lifecycle
    assert reading.registered_at == datetime(2019, 2, 21, 10, 15, 30, tzinfo=UTC)


@pytest.mark.parametrize("tld", INDIA_IDN)
def test_nixi_is_asked_for_indias_idn_tlds_and_its_no_match_is_not_read(tld):
    rules = TABLE.rules[tld]
    assert (rules.server, rules.port) == ("whois.nixiregistry.in", 43)
    # NIXI's exact "no match" wording is not known from a sample: it is doubt, never unregistered.
    assert rules.sees == ("redemption", "pending_delete", "reregistered")
    text, domain = _india("in-idn-available.txt", tld)
    with pytest.raises(Doubt, match="no record of"):
        _read(text, domain)


@pytest.mark.parametrize("tld", sorted(MK_NAMES))
def test_marnet_answers_read_as_registered_or_unregistered(tld):
    assert TABLE.rules[tld].server == "whois.marnet.mk"
    assert TABLE.rules[tld].sees == ("unregistered", "reregistered")
    text, domain = _macedonia("mk-registered.txt", tld)
    reading = _read(text, domain)
    # The domain's block: the contacts' own creation dates below it are not the domain's.
    assert reading.lifecycle is Lifecycle.ACTIVE
    assert reading.registered_at == datetime(2012, 3, 14, 9, 30, tzinfo=UTC)
    available = _read(_text("mk-available.txt"), domain)
    assert available.lifecycle is Lifecycle.UNREGISTERED


@pytest.mark.parametrize(
    ("fixture", "lifecycle"),
    [
        ("tw-idn-registered.txt", Lifecycle.ACTIVE),
        ("tw-idn-redemption.txt", Lifecycle.REDEMPTION),
        ("tw-idn-available.txt", Lifecycle.UNREGISTERED),
    ],
)
def test_twnic_answers_for_taiwan_idn_name_the_domain_in_unicode(fixture, lifecycle):
    assert TABLE.rules["xn--kprw13d"].sees == ("redemption", "pending_delete", "unregistered")
    reading = _read(_text(fixture), TW_NAME, unicode_name=TW_UNICODE)
    assert reading.lifecycle is lifecycle


def test_the_lao_idn_tld_is_read_as_la_is():
    assert TABLE.rules["xn--q7ce6a"].server == TABLE.rules["la"].server == "whois.nic.la"
    assert TABLE.rules["xn--q7ce6a"].sees == TABLE.rules["la"].sees
    reading = _read(_text("la-idn-registered.txt"), LA_NAME)
    assert reading.lifecycle is Lifecycle.ACTIVE
    assert reading.registered_at == datetime(2016, 10, 5, 3, 4, 5, tzinfo=UTC)
    assert _read(_text("la-idn-available.txt"), LA_NAME).lifecycle is Lifecycle.UNREGISTERED


@pytest.mark.parametrize(
    ("fixture", "domain", "lifecycle"),
    [
        ("ve-registered.txt", VE_NAME, Lifecycle.ACTIVE),
        # A suspended name is held by the registry, not leaving it.
        ("ve-suspended.txt", VE_NAME, Lifecycle.HOLD),
        ("ve-available.txt", "nadie-aqui.com.ve", Lifecycle.UNREGISTERED),
    ],
)
def test_nic_ve_answers_read_by_their_spanish_status(fixture, domain, lifecycle):
    assert TABLE.rules["ve"].sees == ("unregistered", "reregistered")
    reading = _read(_text(fixture), domain)
    assert reading.lifecycle is lifecycle
    if lifecycle is not Lifecycle.UNREGISTERED:
        assert reading.registered_at == datetime(2013, 3, 9, 16, 20, tzinfo=UTC)


def test_a_ve_status_the_table_does_not_map_is_doubt():
    text = _text("ve-registered.txt").replace("ACTIVO", "EN PROCESO")
    with pytest.raises(Doubt, match="not one the table maps"):
        _read(text, VE_NAME)


# Hostile variants: each is doubt, never a state ---------------------------------------------

# (registered fixture, the name it is about, its Unicode form, a line that must be there)
REGISTERED = [
    pytest.param("in-idn-registered.txt", IN_NAME, None, "Domain Status:", id="india-idn"),
    pytest.param("mk-registered.txt", MK_NAMES["mk"], None, "registered:", id="mk"),
    pytest.param("tw-idn-registered.txt", TW_NAME, TW_UNICODE, "Domain Status:", id="taiwan-idn"),
    pytest.param("la-idn-registered.txt", LA_NAME, None, "Status:", id="lao-idn"),
    pytest.param("ve-registered.txt", VE_NAME, None, "Estatus del dominio:", id="ve"),
]


@pytest.mark.parametrize(("fixture", "domain", "unicode_name", "needed"), REGISTERED)
@pytest.mark.parametrize(
    "refusal",
    [
        "Query rate limit exceeded. Please try again later.",
        "% Too many queries from your IP address: access denied",
    ],
)
def test_a_rate_limit_text_is_a_refusal(fixture, domain, unicode_name, needed, refusal):
    with pytest.raises(WhoisRefusal):
        _read(refusal + "\r\n", domain, unicode_name=unicode_name)


@pytest.mark.parametrize(("fixture", "domain", "unicode_name", "needed"), REGISTERED)
def test_an_answer_about_another_name_is_doubt(fixture, domain, unicode_name, needed):
    other = "another-" + domain
    with pytest.raises(Doubt, match="is about") as raised:
        _read(_text(fixture), other, unicode_name="another-" + (unicode_name or domain))
    assert not isinstance(raised.value, WhoisRefusal)


@pytest.mark.parametrize(("fixture", "domain", "unicode_name", "needed"), REGISTERED)
def test_an_answer_cut_short_is_doubt(fixture, domain, unicode_name, needed):
    text = _text(fixture)
    # Cut inside the line naming the domain: what is left names a shorter, other name.
    named = text.lower().index((unicode_name or domain).lower())
    with pytest.raises(Doubt):
        _read(text[: named + 5], domain, unicode_name=unicode_name)
    # Cut before the status (or, where there is none, the creation date): nothing else is read.
    if fixture.startswith("mk-"):
        assert _read(text[: text.index(needed)], domain).registered_at is None
    else:
        with pytest.raises(Doubt, match="no"):
            _read(text[: text.index(needed)], domain, unicode_name=unicode_name)


@pytest.mark.parametrize(("fixture", "domain", "unicode_name", "needed"), REGISTERED)
def test_an_answer_in_another_encoding_is_doubt(fixture, domain, unicode_name, needed):
    with pytest.raises(Doubt, match="does not decode"):
        _read(_text(fixture), domain, unicode_name=unicode_name, encoding="utf-16")


@pytest.mark.parametrize(
    ("fixture", "domain", "unicode_name", "encoding"),
    [
        ("ve-registered.txt", VE_NAME, None, "latin-1"),
        ("mk-registered.txt", MK_NAMES["mk"], None, "cp1251"),
        ("tw-idn-registered.txt", TW_NAME, TW_UNICODE, "gb18030"),
    ],
)
def test_an_answer_in_a_legacy_local_encoding_is_doubt(fixture, domain, unicode_name, encoding):
    with pytest.raises(Doubt, match="does not decode"):
        _read(_text(fixture), domain, unicode_name=unicode_name, encoding=encoding)


def test_a_no_match_line_for_another_name_is_no_answer():
    with pytest.raises(Doubt, match="no record of"):
        _read(_text("ve-available.txt"), VE_NAME)
