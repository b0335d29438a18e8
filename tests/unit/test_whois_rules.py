"""The strict WHOIS reader, against answers in many registries' formats (tests/fixtures/whois,
written for lapsewatch in each registry's layout)."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from lapsewatch.lifecycle import Lifecycle
from lapsewatch.net.doubt import Doubt
from lapsewatch.providers.whois_reader import decode, read_answer
from lapsewatch.providers.whois_rules import WhoisRefusal, WhoisTable

FIXTURES = Path(__file__).parent.parent / "fixtures" / "whois"
TABLE = WhoisTable.load()


def _read(name: str, domain: str, *, unicode_name: str | None = None):
    rules = TABLE.for_domain(domain)
    assert rules is not None, domain
    return read_answer(
        decode((FIXTURES / name).read_bytes(), rules), domain, rules, unicode_name=unicode_name
    )


@pytest.mark.parametrize(
    ("name", "domain", "lifecycle", "created"),
    [
        (
            "it-registered.txt",
            "fornaio-rossi.it",
            Lifecycle.ACTIVE,
            datetime(2004, 6, 11, 9, 12, 40, tzinfo=UTC),
        ),
        (
            "it-redemption.txt",
            "fornaio-rossi.it",
            Lifecycle.REDEMPTION,
            datetime(2004, 6, 11, 9, 12, 40, tzinfo=UTC),
        ),
        ("it-pending-delete.txt", "fornaio-rossi.it", Lifecycle.PENDING_DELETE, None),
        ("it-autorenew.txt", "fornaio-rossi.it", Lifecycle.GRACE, None),
        ("it-locks.txt", "fornaio-rossi.it", Lifecycle.ACTIVE, None),
        ("it-available.txt", "nessuno-qui.it", Lifecycle.UNREGISTERED, None),
        ("jp-registered-en.txt", "sakura-pan.jp", Lifecycle.ACTIVE, datetime(2012, 3, 19, tzinfo=UTC)),
        ("jp-registered-ja.txt", "sakura-pan.jp", Lifecycle.ACTIVE, datetime(2012, 3, 19, tzinfo=UTC)),
        ("jp-registered-ja.iso2022jp", "sakura-pan.jp", Lifecycle.ACTIVE, datetime(2012, 3, 19, tzinfo=UTC)),
        ("jp-co-connected.txt", "sakura-pan.co.jp", Lifecycle.ACTIVE, datetime(2001, 7, 23, tzinfo=UTC)),
        ("jp-suspended.txt", "sakura-pan.jp", Lifecycle.REDEMPTION, None),
        ("jp-deleted.txt", "sakura-pan.co.jp", Lifecycle.PENDING_DELETE, None),
        ("jp-available.txt", "nobody.jp", Lifecycle.UNREGISTERED, None),
        # .nz: the current registration is Creation Date; Original Created is the first one ever.
        ("nz-registered.txt", "kiwi-bakery.co.nz", Lifecycle.ACTIVE, datetime(2024, 11, 2, 3, tzinfo=UTC)),
        ("nz-redemption.txt", "kiwi-bakery.co.nz", Lifecycle.REDEMPTION, None),
        ("nz-available.txt", "nobody-here.co.nz", Lifecycle.UNREGISTERED, None),
        ("se-registered.txt", "smorgas.se", Lifecycle.ACTIVE, datetime(2011, 9, 14, tzinfo=UTC)),
        ("se-deactivated.txt", "smorgas.se", Lifecycle.REDEMPTION, None),
        ("se-available.txt", "ingen-alls.se", Lifecycle.UNREGISTERED, None),
        ("dk-registered.txt", "rugbrod.dk", Lifecycle.ACTIVE, datetime(2016, 2, 29, tzinfo=UTC)),
        ("dk-deactivated.txt", "rugbrod.dk", Lifecycle.REDEMPTION, None),
        ("dk-available.txt", "ingen.dk", Lifecycle.UNREGISTERED, None),
        ("be-registered.txt", "wafel.be", Lifecycle.ACTIVE, datetime(2018, 3, 14, tzinfo=UTC)),
        ("be-quarantine.txt", "wafel.be", Lifecycle.REDEMPTION, None),
        ("be-available.txt", "niemand.be", Lifecycle.UNREGISTERED, None),
        ("eu-registered.txt", "brot.eu", Lifecycle.ACTIVE, None),
        ("eu-available.txt", "niemand.eu", Lifecycle.UNREGISTERED, None),
        ("ee-expired.txt", "leib.ee", Lifecycle.HOLD, datetime(2015, 4, 2, 7, 11, 12, tzinfo=UTC)),
        ("ee-available.txt", "nobody.ee", Lifecycle.UNREGISTERED, None),
        ("ru-registered.txt", "pirog.ru", Lifecycle.ACTIVE, datetime(2010, 10, 10, 20, tzinfo=UTC)),
        ("ru-available.txt", "nobody.ru", Lifecycle.UNREGISTERED, None),
        ("cn-registered.txt", "mantou.cn", Lifecycle.ACTIVE, datetime(2010, 1, 1, 12, tzinfo=UTC)),
        ("cn-available.txt", "nobody.cn", Lifecycle.UNREGISTERED, None),
        ("kr-registered.txt", "kimchi.kr", Lifecycle.ACTIVE, datetime(2015, 7, 1, tzinfo=UTC)),
        ("at-registered.txt", "strudel.at", Lifecycle.ACTIVE, None),
        ("at-available.txt", "nobody.at", Lifecycle.UNREGISTERED, None),
        ("edu-registered.txt", "example-state.edu", Lifecycle.ACTIVE, datetime(1994, 9, 12, tzinfo=UTC)),
        ("edu-available.txt", "nowhere-college.edu", Lifecycle.UNREGISTERED, None),
        ("mx-registered.txt", "tortilla.mx", Lifecycle.ACTIVE, datetime(2014, 8, 1, tzinfo=UTC)),
        ("bg-registered.txt", "banitsa.bg", Lifecycle.ACTIVE, None),
        ("ie-available.txt", "nobody-home.ie", Lifecycle.UNREGISTERED, None),
    ],
)
def test_each_registrys_own_words_read_as_its_policy_says(name, domain, lifecycle, created):
    reading = _read(name, domain)
    assert reading.lifecycle is lifecycle
    if created is not None:
        assert reading.registered_at == created


def test_a_contacts_creation_date_is_not_the_domains():
    # .it writes a Created line for each contact, indented under its heading.
    assert _read("it-registered.txt", "fornaio-rossi.it").registered_at == datetime(
        2004, 6, 11, 9, 12, 40, tzinfo=UTC
    )


def test_a_thick_answer_naming_the_registrars_server_beside_its_statuses_is_read():
    assert _read("nz-referral.txt", "kiwi-bakery.co.nz").lifecycle is Lifecycle.ACTIVE


def test_an_idn_record_may_name_the_domain_with_its_unicode_form_beside():
    reading = _read("se-idn.txt", "xn--smrgs-pra0j.se", unicode_name="smörgås.se")
    assert reading.lifecycle is Lifecycle.ACTIVE


@pytest.mark.parametrize(
    ("name", "domain", "why"),
    [
        ("it-reserved.txt", "comune-di-esempio.it", "RESERVED"),
        ("it-unknown-status.txt", "fornaio-rossi.it", "not one the table maps"),
        ("it-ok-and-redemption.txt", "fornaio-rossi.it", "contradict"),
        ("se-system.txt", "smorgas.se", "system"),
        ("cn-reserved.txt", "mantou.cn", "no record of"),
        ("at-banner-only.txt", "strudel.at", "no record of"),
        # The record is of another name: the no-match line naming another name is no answer either.
        ("it-registered.txt", "someone-else.it", "is about 'fornaio-rossi.it'"),
        ("nz-available.txt", "kiwi-bakery.co.nz", "no record of"),
        ("kr-other-query.txt", "kimchi.kr", "is about 'bulgogi.kr'"),
        ("mx-referral.txt", "tortilla.mx", "refers to another server"),
    ],
)
def test_everything_else_is_doubt(name, domain, why):
    with pytest.raises(Doubt, match=why) as raised:
        _read(name, domain)
    assert not isinstance(raised.value, WhoisRefusal)


@pytest.mark.parametrize(
    ("name", "domain"),
    [
        ("dk-too-many.txt", "rugbrod.dk"),
        ("be-hourly-limit.txt", "wafel.be"),
        ("eu-grace-wait.txt", "brot.eu"),
        ("hk-ratelimit.txt", "dimsum.hk"),
        ("lu-excessive.txt", "kachkeis.lu"),
    ],
)
def test_refusals_are_doubt_that_asks_for_a_backoff(name, domain):
    with pytest.raises(WhoisRefusal):
        _read(name, domain)


def test_an_answer_in_an_encoding_the_tld_does_not_use_is_doubt():
    with pytest.raises(Doubt, match="does not decode"):
        _read("jp-registered-ja.sjis", "sakura-pan.jp")


def test_utf8_only_tlds_refuse_latin1():
    rules = TABLE.rules["it"]
    with pytest.raises(Doubt, match="does not decode"):
        decode("Domain: caffè.it\n".encode("latin-1"), rules)


@pytest.mark.parametrize("text", ["", "   \r\n\r\n", "% just a banner\n% and nothing else\n"])
def test_empty_answers_and_banners_alone_are_doubt(text):
    with pytest.raises(Doubt):
        read_answer(text, "fornaio-rossi.it", TABLE.rules["it"])


def test_two_creation_dates_in_the_record_are_doubt():
    text = (
        (FIXTURES / "dk-registered.txt")
        .read_text()
        .replace(
            "Registered:           2016-02-29",
            "Registered:           2016-02-29\nRegistered:           2025-01-01",
        )
    )
    with pytest.raises(Doubt, match="several creation dates"):
        read_answer(text, "rugbrod.dk", TABLE.rules["dk"])


def test_a_creation_date_in_no_known_format_is_doubt():
    text = (FIXTURES / "dk-registered.txt").read_text().replace("2016-02-29", "29 Feb 2016")
    with pytest.raises(Doubt, match="not in a format"):
        read_answer(text, "rugbrod.dk", TABLE.rules["dk"])


def test_a_no_match_line_beside_a_record_is_doubt():
    text = (FIXTURES / "dk-registered.txt").read_text() + "\nNo entries found for the selected source.\n"
    with pytest.raises(Doubt, match="both"):
        read_answer(text, "rugbrod.dk", TABLE.rules["dk"])


def test_no_match_wording_must_be_exact():
    # A near miss of the registry's own words says nothing.
    with pytest.raises(Doubt, match="no record of"):
        read_answer("No entries found.\n", "rugbrod.dk", TABLE.rules["dk"])
    with pytest.raises(Doubt, match="no record of"):
        read_answer('domain "someone-else.se" not found.\n', "smorgas.se", TABLE.rules["se"])


def test_the_query_line_carries_the_tables_affixes():
    assert TABLE.rules["jp"].query_line("sakura-pan.jp") == b"sakura-pan.jp/e\r\n"
    assert TABLE.rules["it"].query_line("fornaio-rossi.it") == b"fornaio-rossi.it\r\n"
