"""One reading of a URL: a URL lapsewatch accepts is read the same way by every parser.

A redirect's ``Location: http://127.0.0.1:B\\@127.0.0.1:C/`` is read by `urllib.parse` as
origin C while urllib3 connects to B, so a key meant for C goes to B. Rather than keep several
parsers in agreement, lapsewatch accepts only URLs in a strict subset of RFC 3986 on which the
WHATWG URL standard, `urllib.parse` and urllib3 (which opens the connection) all agree: http or
https, a host that is a DNS name, a canonical dotted-quad IPv4 address or a bracketed IPv6
address, an optional port, and a path and query of printable ASCII. No userinfo, no fragment, no
backslash, no whitespace or control character, no percent-encoding in the host, and no host
that a WHATWG parser would read as a number (``127.1``, ``0x7f000001``).

The origin (scheme, host, port) is then taken from urllib3's own reading, the one that connects.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import urllib3.util

_PCHAR = r"A-Za-z0-9\-._~!$&'()*+,;=:@"
_PCT = r"%[0-9A-Fa-f]{2}"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?"
_URL = re.compile(
    rf"""
    (?P<scheme>[Hh][Tt][Tt][Pp][Ss]?)://
    (?P<host>(?:{_LABEL}\.)*{_LABEL}\.?|\[[0-9A-Fa-f:.]+\])
    (?::(?P<port>[1-9][0-9]{{0,4}}))?
    (?P<path>/(?:[{_PCHAR}/]|{_PCT})*)?
    (?:\?(?P<query>(?:[{_PCHAR}/?]|{_PCT})*))?
    """,
    re.VERBOSE,
)
# WHATWG reads a host whose last label is a number (decimal, octal or 0x-hex) as an IPv4 address.
_NUMERIC_LABEL = re.compile(r"(?:0[xX][0-9A-Fa-f]*|[0-9]+)")
DEFAULT_PORTS = {"http": 80, "https": 443}


def is_loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def url_allowed(url: str | Url, *, allow_loopback_http: bool = False) -> bool:
    """https anywhere; plain http never, or with `allow_loopback_http` only to this machine (the
    loopback servers of tests and local runs). Either way only a URL every parser reads alike.

    A plain-http answer could be forged on the way, and a forged 404 would unverify addresses.
    """
    return url_refusal(url, allow_loopback_http=allow_loopback_http) is None


def url_refusal(url: str | Url, *, allow_loopback_http: bool = False) -> str | None:
    """Why `url_allowed` refuses `url`, or None."""
    try:
        parsed = url if isinstance(url, Url) else parse_url(url)
    except UnsafeUrl as exc:
        return f"refused {shown_url(url)}: {exc}"
    if parsed.scheme == "https":
        return None
    if allow_loopback_http and is_loopback(parsed.host):
        return None
    allowed = "https, or plain http to this machine" if allow_loopback_http else "https"
    return f"refused {parsed.text}: only {allowed}"


def shown_url(url: str | Url) -> str:
    """A URL from outside, fit for a reason: cut short, its invisible characters escaped."""
    text = url.text if isinstance(url, Url) else str(url)
    return text[:200].encode("unicode_escape").decode("ascii") + ("…" if len(text) > 200 else "")


class UnsafeUrl(ValueError):
    """A URL outside the subset every parser reads alike; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class Url:
    """A URL every parser reads alike. `host` is lowercase, without brackets."""

    text: str
    scheme: str
    host: str
    port: int
    path: str
    query: str

    @property
    def origin(self) -> tuple[str, str, int]:
        return self.scheme, self.host, self.port

    @property
    def host_port(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_url(text: str) -> Url:
    """`text` as a `Url`, or UnsafeUrl saying why it is refused."""
    _check_text(text)
    match = _URL.fullmatch(text)
    if match is None:
        raise UnsafeUrl("it is not an http(s) URL of the form scheme://host[:port]/path[?query]")
    host = _host(match["host"])
    scheme = match["scheme"].lower()
    port = int(match["port"]) if match["port"] else DEFAULT_PORTS[scheme]
    if port > 65535:
        raise UnsafeUrl(f"port {port} is out of range")
    url = Url(text, scheme, host, port, match["path"] or "", match["query"] or "")
    _check_agreement(url)
    return url


def _check_text(text: str) -> None:
    """UnsafeUrl for what parsers read differently, named before the grammar would refuse it
    in less telling words."""
    if not isinstance(text, str):
        raise UnsafeUrl("not text")
    if len(text) > 2048:
        raise UnsafeUrl("longer than 2048 characters")
    if bad := next((char for char in text if not "!" <= char <= "~"), None):
        raise UnsafeUrl(f"it holds {_shown(bad)}, which a URL may not")
    if "\\" in text:
        raise UnsafeUrl("it holds a backslash, which parsers read differently")
    if "#" in text:
        raise UnsafeUrl("it has a fragment")
    authority = text.split("://", 1)[1].split("/", 1)[0].split("?", 1)[0] if "://" in text else ""
    if "@" in authority:
        raise UnsafeUrl("it has userinfo (user@host), which parsers read differently")


def _host(written: str) -> str:
    """The host the grammar matched, lowercase and unbracketed; UnsafeUrl for a bracketed host
    that is no IPv6 address, or a host some parsers read as a number and others as a name."""
    host = written.lower()
    if host.startswith("["):
        host = host[1:-1]
        try:
            if ipaddress.ip_address(host).version != 6:
                raise ValueError(host)
        except ValueError:
            raise UnsafeUrl(f"[{host}] is not an IPv6 address") from None
    elif _NUMERIC_LABEL.fullmatch(host.rstrip(".").rsplit(".", 1)[-1]) and not _canonical_ipv4(host):
        raise UnsafeUrl(f"{host} reads as a number to some parsers and as a name to others")
    return host


def _canonical_ipv4(host: str) -> bool:
    parts = host.split(".")
    return len(parts) == 4 and all(p.isdigit() and str(int(p)) == p and int(p) <= 255 for p in parts)


def _check_agreement(url: Url) -> None:
    """The grammar above is what makes parsers agree; this proves it for each URL accepted."""
    split = urlsplit(url.text)
    opened = urllib3.util.parse_url(url.text)
    readings = {
        (split.scheme, split.hostname, split.port or DEFAULT_PORTS[split.scheme]),
        (opened.scheme, (opened.host or "").strip("[]").lower(), opened.port or DEFAULT_PORTS[url.scheme]),
        url.origin,
    }
    if len(readings) != 1 or split.username is not None or opened.auth is not None:
        raise UnsafeUrl("parsers disagree on its origin")


def redirect_target(current: str, location: str) -> Url:
    """Where a redirect from `current` to `location` leads; UnsafeUrl unless both readings agree.

    The Location is vetted as written before it is joined: joining could hide a backslash or a
    control character in a form a later parser reads otherwise.
    """
    if bad := next((char for char in location if not "!" <= char <= "~"), None):
        raise UnsafeUrl(f"the redirect's Location holds {_shown(bad)}")
    if "\\" in location:
        raise UnsafeUrl("the redirect's Location holds a backslash, which parsers read differently")
    return parse_url(urljoin(current, location))


def domain_url(base: Url, a_label: str) -> Url:
    """RDAP's ``{base}domain/{a-label}`` (RFC 9082 §3.1.3), built by RFC 3986 rules: the base's
    path with its trailing slash, then the segments. The base must have no query."""
    if base.query:
        raise UnsafeUrl("an RDAP base URL may not have a query")
    if not re.fullmatch(r"[a-z0-9](?:[a-z0-9.\-]*[a-z0-9])?", a_label):
        raise UnsafeUrl(f"{a_label!r} is not an A-label")
    path = (base.path if base.path.endswith("/") else base.path + "/") + "domain/" + a_label
    built = parse_url(f"{base.scheme}://{_authority(base)}{path}")
    if built.path != path or built.origin != base.origin:
        raise UnsafeUrl("the request URL does not keep the base URL's origin and path")
    return built


def _authority(url: Url) -> str:
    host = f"[{url.host}]" if ":" in url.host else url.host
    return host if url.port == DEFAULT_PORTS[url.scheme] else f"{host}:{url.port}"


def _shown(char: str) -> str:
    return "a space" if char == " " else f"the character U+{ord(char):04X}"
