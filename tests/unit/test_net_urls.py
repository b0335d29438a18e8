"""One reading of a URL: what lapsewatch accepts, every parser reads alike; the rest is refused."""

import re
from urllib.parse import urlsplit

import ada_url
import pytest
import urllib3.util
from hypothesis import given
from hypothesis import strategies as st

from lapsewatch.net.urls import UnsafeUrl, domain_url, parse_url, redirect_target


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://rdap.verisign.com/com/v1/", ("https", "rdap.verisign.com", 443)),
        ("https://RDAP.Example:8443/x?y=1", ("https", "rdap.example", 8443)),
        ("http://127.0.0.1:8080/registry/", ("http", "127.0.0.1", 8080)),
        ("https://[2001:db8::1]/rdap/", ("https", "2001:db8::1", 443)),
        ("https://rdap.nic.example./", ("https", "rdap.nic.example.", 443)),
        (
            "https://api.fastly.com/domain-management/v1/tools/status?domain=a.com",
            ("https", "api.fastly.com", 443),
        ),
    ],
)
def test_accepted_urls_and_their_origin(url, origin):
    assert parse_url(url).origin == origin


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://127.0.0.1:1\\@127.0.0.1:2/", "backslash"),  # urlsplit reads port 2, urllib3 connects to 1
        ("https://user:pass@rdap.example/", "userinfo"),
        ("https://rdap.example@evil.example/", "userinfo"),
        ("https://rdap.example/#x", "fragment"),
        ("https://rdap.example /", "a space"),
        ("https://rdap.example/\tx", "U+0009"),
        ("https://rdap.exam\x00ple/", "U+0000"),
        ("https://rdäp.example/", "U+00E4"),
        ("https://127.1/", "reads as a number"),
        ("https://0x7f000001/", "reads as a number"),
        ("https://127.000.0.1/", "reads as a number"),
        ("https://rdap.example:0/", "not an http(s) URL"),
        ("https://rdap.example:99999/", "out of range"),
        ("https://rdap.example:/", "not an http(s) URL"),
        ("https://rdap%2eexample/", "not an http(s) URL"),
        ("ftp://rdap.example/", "not an http(s) URL"),
        ("https:///path", "not an http(s) URL"),
        ("//rdap.example/", "not an http(s) URL"),
        ("https://[v1.x]/", "not an http(s) URL"),
        ("https://[fe80::1%25eth0]/", "not an http(s) URL"),
    ],
)
def test_urls_parsers_could_read_differently_are_refused(url, why):
    with pytest.raises(UnsafeUrl, match=re.escape(why)):
        parse_url(url)


def test_a_redirect_is_vetted_as_written_and_as_joined():
    assert redirect_target("https://a.example/x/y", "../z").text == "https://a.example/z"
    assert redirect_target("https://a.example/x", "//b.example/p").origin == ("https", "b.example", 443)
    with pytest.raises(UnsafeUrl, match="backslash"):
        redirect_target("https://a.example/", "/\\evil.example/")
    with pytest.raises(UnsafeUrl, match=re.escape("U+000A")):
        redirect_target("https://a.example/", "/x\nSet-Cookie: y")


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("https://rdap.example/", "https://rdap.example/domain/xn--bcher-kva.com"),
        ("https://rdap.example/v1", "https://rdap.example/v1/domain/xn--bcher-kva.com"),
        ("https://rdap.example:443/rdap/", "https://rdap.example/rdap/domain/xn--bcher-kva.com"),
        ("https://rdap.example:8443/", "https://rdap.example:8443/domain/xn--bcher-kva.com"),
    ],
)
def test_the_rdap_request_is_the_base_path_then_domain_then_the_a_label(base, expected):
    built = domain_url(parse_url(base), "xn--bcher-kva.com")
    assert built.text == expected
    assert urlsplit(built.text).path.endswith("/domain/xn--bcher-kva.com")


@pytest.mark.parametrize("a_label", ["a.com/../x", "a.com?x=1", "", "A.COM", "a.com#"])
def test_only_an_a_label_goes_into_the_request_path(a_label):
    with pytest.raises(UnsafeUrl):
        domain_url(parse_url("https://rdap.example/"), a_label)


def test_a_base_url_with_a_query_builds_no_request():
    with pytest.raises(UnsafeUrl, match="query"):
        domain_url(parse_url("https://rdap.example/?token=x"), "a.com")


def _whatwg_origin(url):
    parsed = ada_url.URL(url)
    port = int(parsed.port) if parsed.port else {"http:": 80, "https:": 443}[parsed.protocol]
    return parsed.protocol.rstrip(":"), parsed.hostname.strip("[]").lower(), port


def _readings(url):
    split = urlsplit(url)
    opened = urllib3.util.parse_url(url)
    default = {"http": 80, "https": 443}[split.scheme.lower()]
    return {
        (split.scheme.lower(), split.hostname, split.port or default),
        (opened.scheme, opened.host.strip("[]").lower(), opened.port or default),
        _whatwg_origin(url),
    }


_tricky = st.sampled_from(
    [
        "\\",
        "@",
        ":",
        "/",
        "?",
        "#",
        "%",
        "%2e",
        "%40",
        ".",
        "[",
        "]",
        "\t",
        "\n",
        " ",
        "\x00",
        "0x",
        "ä",
        "127",
        "1",
        "::",
        "443",
        "evil.example",
        "a",
        "-",
        "\u3002",  # an ideographic full stop, likewise
        "\uff0e",  # a full stop some parsers map to "."
    ]
)
_piece = st.one_of(_tricky, st.text(alphabet="abcdefgh0123456789.-:@/\\%?#[]", max_size=6))
_url_like = st.builds(
    lambda scheme, parts: scheme + "".join(parts),
    st.sampled_from(["http://", "https://", "HTTPS://", "http:/", "https:\\\\", "http:"]),
    st.lists(_piece, min_size=1, max_size=10),
)


@given(_url_like)
def test_parsers_never_disagree_on_an_accepted_origin(url):
    try:
        accepted = parse_url(url)
    except UnsafeUrl:
        return
    assert _readings(url) == {accepted.origin}


@given(st.text(max_size=40))
def test_any_text_is_refused_or_read_alike(text):
    for url in (text, "https://" + text, "http://127.0.0.1:1" + text):
        try:
            accepted = parse_url(url)
        except UnsafeUrl:
            continue
        assert _readings(url) == {accepted.origin}
