"""Reducing email addresses and host names to the registrable domain that controls their mail."""

import idna
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from lapsewatch.domains import InvalidDomain, parse_target, registrable_domain, tld, to_ascii


@pytest.mark.parametrize(
    ("text", "domain"),
    [
        ("Oscar@Bücher.COM.", "xn--bcher-kva.com"),
        ("example.com", "example.com"),
        ("WWW.Example.COM", "example.com"),
        ("user@EXAMPLE.COM", "example.com"),
        ("a.b.c.example.org", "example.org"),
        ("user@mail.example.co.uk", "example.co.uk"),
        ("user@sub.example.com.au", "example.com.au"),
        ("someone@school.k12.ca.us", "school.k12.ca.us"),
        # Only the ICANN section of the PSL counts: a github.io page does not own github.io's mail.
        ("foo@bar.github.io", "github.io"),
        ("例え.jp", "xn--r8jz45g.jp"),
        ("ÖBB.at", "xn--bb-eka.at"),
        # UTS-46 without transitional mapping: ß stays ß.
        ("FAß.de", "xn--fa-hia.de"),
        ("user@example。com", "example.com"),
        ("user@example\uff0ecom", "example.com"),  # fullwidth full stop
        ("xn--bcher-kva.com", "xn--bcher-kva.com"),
        ("  padded@example.com  ", "example.com"),
        ("user@@example.com", "example.com"),
        ("ab--cd.com", "ab--cd.com"),
        # A TLD missing from the snapshot is still a suffix; the lookup says unknown later.
        ("example.zzzz", "example.zzzz"),
    ],
)
def test_registrable_domain(text, domain):
    assert registrable_domain(text) == domain
    assert parse_target(text).domain == domain


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("user@", "no domain part"),
        ("com", "single label"),
        ("co.uk", "public suffix"),
        ("localhost", "single label"),
        ("foo.localhost", "localhost"),
        ("[127.0.0.1]", "IP address literal"),
        ("user@[IPv6:::1]", "IP address literal"),
        ("127.0.0.1", "IP address"),
        ("user@192.168.1.1", "IP address"),
        ("::1", "IP address"),
        ("exa mple.com", "white space"),
        ("a..b.com", "empty label"),
        (".example.com", "empty label"),
        ("-bad.com", "hyphen"),
        ("bad-.com", "hyphen"),
        ("x" * 64 + ".com", "longer than 63"),
        (("a" * 60 + ".") * 5 + "com", "longer than 253"),
        ("under_score.com", "not allowed"),
        ("foo.123", "numeric"),
        ("xn--zz.com", "internationalised"),
    ],
)
def test_invalid_inputs_say_why(text, why):
    with pytest.raises(InvalidDomain, match=why):
        registrable_domain(text)
    target = parse_target(text)
    assert not target.valid
    assert why in target.invalid_reason


def test_parse_target_never_raises_on_odd_input():
    assert parse_target(None).invalid_reason == "input is not text"  # type: ignore[arg-type]


def test_tld():
    assert tld("example.co.uk") == "uk"


# Property tests. Labels are drawn LDH or Unicode; suffixes are real ones from the snapshot.
_LDH = st.from_regex(r"\A[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?\Z", fullmatch=True)
_UNICODE = st.text(st.characters(categories=("Ll", "Lo", "Nd")), min_size=1, max_size=12)
_SUFFIX = st.sampled_from(["com", "org", "co.uk", "com.au", "de", "jp", "xn--p1ai", "k12.ca.us", "zzzz"])


@st.composite
def hosts(draw, labels=_LDH | _UNICODE):
    names = draw(st.lists(labels, min_size=1, max_size=4))
    return ".".join([*names, draw(_SUFFIX)])


def _reduce(text):
    try:
        return registrable_domain(text)
    except InvalidDomain:
        assume(False)


@given(st.text(max_size=80) | hosts())
def test_result_is_a_well_formed_a_label_name(text):
    domain = _reduce(text)
    assert domain == domain.lower()
    assert domain.isascii()
    assert len(domain) <= 253
    for label in domain.split("."):
        assert 0 < len(label) <= 63
        assert not label.startswith("-")
        assert not label.endswith("-")


@given(st.text(max_size=80) | hosts())
def test_idempotent(text):
    domain = _reduce(text)
    assert registrable_domain(domain) == domain


@given(hosts(), _LDH | _UNICODE)
def test_subdomains_reduce_to_the_same_domain(host, label):
    domain = _reduce(host)
    try:
        deeper = registrable_domain(f"{label}.{host}")
    except InvalidDomain:
        assume(False)
    assert deeper == domain
    assert registrable_domain(f"someone@{host}") == domain


@given(hosts(_UNICODE | _LDH))
def test_unicode_input_equals_its_a_label_input(host):
    domain = _reduce(host)
    a_labels = ".".join(
        label if label.isascii() else idna.encode(label, uts46=True).decode() for label in host.split(".")
    )
    assert registrable_domain(a_labels) == domain
    assert to_ascii(host) == a_labels
