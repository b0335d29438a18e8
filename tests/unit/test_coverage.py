"""Coverage tallies: addresses and domains per TLD, and which provider serves them."""

import json

import pytest

from lapsewatch_tools.coverage import Coverage, TldCoverage, coverage, read_address_file

ROW_FIELDS = {"tld", "domains", "addresses", "provider", "sees"}
TOTAL_FIELDS = {
    "domains",
    "addresses",
    "invalid",
    "unprotected_domains",
    "unprotected_addresses",
    "unprotected_tlds",
}


def served_by(table):
    """A provider_for from {suffix: provider}: the longest matching suffix, else None."""

    def provider_for(domain):
        labels = domain.split(".")
        for start in range(len(labels)):
            if ".".join(labels[start:]) in table:
                return table[".".join(labels[start:])]
        return None

    return provider_for


def entries(*lines):
    return [(line, 1) for line in lines]


def test_inputs_reduce_to_registrable_domains_counted_per_tld():
    result = coverage(
        entries(
            "a@example.com",
            "B@Example.COM",
            "c@mail.example.com",
            "other.com",
            "x@bücher.de",
            "y@shop.zz",
            "root@localhost",
            "not a domain",
            "co.uk",
        ),
        served_by({"com": "rdap", "de": "rdap"}),
        chain="rdap",
    )
    assert result.rows == [
        TldCoverage("com", 2, 4, "rdap"),
        TldCoverage("de", 1, 1, "rdap"),
        TldCoverage("zz", 1, 1, None),
    ]
    assert result.invalid == 3
    assert result.totals() == {
        "domains": 4,
        "addresses": 6,
        "invalid": 3,
        "unprotected_domains": 1,
        "unprotected_addresses": 1,
        "unprotected_tlds": ["zz"],
    }


def test_addresses_weigh_each_entry():
    result = coverage([("example.com", 5), ("EXAMPLE.com", 2), ("x.zz", 3), ("[10.0.0.1]", 4)], served_by({}))
    assert result.rows == [TldCoverage("com", 1, 7, None), TldCoverage("zz", 1, 3, None)]
    assert (result.invalid, result.unprotected_addresses, result.unprotected_tlds) == (4, 10, ["com", "zz"])


def test_rows_sort_by_addresses_then_tld():
    result = coverage(entries("a.bb", "b.aa", "c.cc", "d.cc", "e.cc", "f.dd", "g.dd"), served_by({}))
    assert [row.tld for row in result.rows] == ["cc", "dd", "aa", "bb"]


def test_a_tld_served_differently_by_suffix_has_a_row_per_provider():
    result = coverage(entries("a.co.uk", "b.co.uk", "c.org.uk"), served_by({"co.uk": "rdap"}), chain="rdap")
    assert result.rows == [TldCoverage("uk", 2, 2, "rdap"), TldCoverage("uk", 1, 1, None)]
    assert result.unprotected_tlds == ["uk"]
    assert (result.domains, result.unprotected_domains) == (3, 1)


def test_nothing_at_all():
    result = coverage([], served_by({}))
    assert result.rows == []
    assert result.totals() == dict.fromkeys(TOTAL_FIELDS - {"unprotected_tlds"}, 0) | {"unprotected_tlds": []}
    assert "unprotected TLDs  none" in result.table()


def test_json_lines_have_exactly_the_contract_fields():
    result = coverage(
        entries("a.com", "b.zz", "bad..name"),
        served_by({"com": "fastly"}),
        sees=lambda domain: ("redemption", "unregistered") if domain.endswith(".com") else (),
    )
    *rows, totals = map(json.loads, result.json_lines())
    assert rows == [
        {
            "tld": "com",
            "domains": 1,
            "addresses": 1,
            "provider": "fastly",
            "sees": ["redemption", "unregistered"],
        },
        {"tld": "zz", "domains": 1, "addresses": 1, "provider": None, "sees": []},
    ]
    assert all(set(row) == ROW_FIELDS for row in rows)
    assert set(totals) == TOTAL_FIELDS
    assert totals["invalid"] == 1


def test_the_table():
    result = Coverage(
        [TldCoverage("com", 3, 10, "rdap", ("redemption", "unregistered")), TldCoverage("zz", 1, 10, None)],
        invalid=2,
        chain="rdap",
    )
    lines = result.table().splitlines()
    assert lines[0].split() == ["tld", "domains", "addresses", "provider", "sees"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert lines[2].split() == ["com", "3", "10", "rdap", "redemption,unregistered"]
    assert lines[3].split() == ["zz", "1", "10", "none", "-"]
    text = "\n".join(lines[4:])
    assert "unprotected       1 of 4 domains (25.0%), 10 of 20 addresses (50.0%)" in text
    assert "unprotected TLDs  .zz" in text
    assert "invalid           2" in text


def test_an_address_file(tmp_path):
    path = tmp_path / "addresses.txt"
    path.write_text("a@example.com\n\n   \n  b@example.org  \r\nnot a domain\n", encoding="utf-8")
    assert read_address_file(str(path)) == [("a@example.com", 1), ("b@example.org", 1), ("not a domain", 1)]
    with pytest.raises(OSError):
        read_address_file(str(tmp_path / "absent.txt"))
