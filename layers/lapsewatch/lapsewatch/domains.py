"""Reduce an email address or a host name to the registrable domain that controls its mail.

The registrable domain is the public suffix (ICANN section of the Public Suffix List) plus one
label, in lowercase A-label form: ``Oscar@Bücher.COM.`` becomes ``xn--bcher-kva.com``. Whoever
holds that domain can receive mail for every name under it, so it is the unit we watch.

The list is a snapshot bundled in ``lapsewatch/data/public_suffix_list.dat`` and is never fetched
at run time (Lambda cold starts, no network in tests). README.md says how to refresh it.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

import idna
import tldextract

MAX_LABEL = 63
MAX_NAME = 253

# Separators UTS-46 maps to a full stop: ideographic, fullwidth and halfwidth ideographic. Public
# because the reference registry reduces stored domains the same way (its reversed_domain).
FULL_STOPS = re.compile("[\u3002\uff0e\uff61]")
_LDH = re.compile(r"^[a-z0-9-]+$")
# str.isspace()'s characters: re's \s and str.isspace() share CPython's one Unicode table.
_WHITESPACE = re.compile(r"\s")


class InvalidDomain(ValueError):
    """The input does not name a registrable domain; the message says why, `kind` in one word
    (for counting reasons over millions of inputs)."""

    def __init__(self, message: str, kind: str = "invalid") -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class Target:
    """What an input reduces to: a registrable domain, or the reason there is none."""

    input: str
    domain: str | None
    invalid_reason: str | None = None

    @property
    def valid(self) -> bool:
        return self.domain is not None


@cache
def _extractor() -> tldextract.TLDExtract:
    snapshot = resources.files("lapsewatch") / "data" / "public_suffix_list.dat"
    with resources.as_file(snapshot) as path:
        return tldextract.TLDExtract(
            cache_dir=None,
            suffix_list_urls=(path.as_uri(),),
            fallback_to_snapshot=False,
            include_psl_private_domains=False,
        )


def parse_target(text: str) -> Target:
    """Reduce an email address or a domain to its registrable domain, never raising."""
    try:
        return Target(text, registrable_domain(text))
    except InvalidDomain as exc:
        return Target(text, None, str(exc))


def registrable_domain(text: str) -> str:
    """The registrable A-label domain behind an email address or host name.

    Raises InvalidDomain with a readable reason when there is none.
    """
    host = _host_part(text)
    ascii_host = to_ascii(host)
    labels = ascii_host.split(".")
    if len(labels) == 1:
        raise InvalidDomain(f"{ascii_host!r} is a single label, not a registrable domain", "single-label")
    if ascii_host.endswith(".localhost") or ascii_host == "localhost":
        raise InvalidDomain("localhost names are not registrable", "localhost")
    suffix = _public_suffix(ascii_host)
    if suffix == ascii_host:
        raise InvalidDomain(f"{ascii_host!r} is a public suffix, not a registrable domain", "public-suffix")
    return ".".join(labels[-(suffix.count(".") + 2) :])


def _host_part(text: str) -> str:
    if not isinstance(text, str):
        raise InvalidDomain("input is not text", "not-text")
    candidate = text.strip()
    if not candidate:
        raise InvalidDomain("empty input", "empty")
    if "@" in candidate:
        candidate = _domain_part(candidate)
    if _WHITESPACE.search(candidate):
        raise InvalidDomain("contains white space: free text, not a domain", "free-text")
    if candidate.startswith("[") or candidate.endswith("]"):
        raise InvalidDomain("IP address literal, not a domain", "ip-literal")
    candidate = FULL_STOPS.sub(".", candidate)
    if candidate.endswith("."):
        candidate = candidate[:-1]
    _refuse_ip_address(candidate)
    if not candidate:
        raise InvalidDomain("the domain part is empty", "empty")
    return candidate


def _domain_part(address: str) -> str:
    """What follows the last @ of an email address."""
    local, domain = address.rsplit("@", 1)
    # An @ in the local part only inside quotes ("a@b"@example.com, RFC 5321 §4.1.2); a
    # doubled @ (user@@example.com) is a slip of the keyboard, not a second address.
    local = local.rstrip("@")
    if "@" in local and not (len(local) > 1 and local.startswith('"') and local.endswith('"')):
        raise InvalidDomain("more than one @: not an email address", "two-at-signs")
    if not domain:
        raise InvalidDomain("the email address has no domain part", "no-domain-part")
    return domain


def _refuse_ip_address(candidate: str) -> None:
    # An IPv4 address ends with a digit and an IPv6 one holds a colon: only those are parsed
    # (the dispatcher reduces millions of names, almost none of them addresses).
    if candidate[-1:].isdigit() or ":" in candidate:
        try:
            ipaddress.ip_address(candidate)
        except ValueError:
            return
        raise InvalidDomain("IP address, not a domain", "ip-address")


def to_ascii(host: str) -> str:
    """UTS-46 processing to lowercase A-labels, with the DNS length limits checked."""
    if len(host) > 4 * MAX_NAME:
        raise InvalidDomain(f"name longer than {MAX_NAME} characters", "too-long")
    labels = host.split(".")
    if any(not label for label in labels):
        raise InvalidDomain("empty label (two dots in a row, or a leading dot)", "empty-label")
    ascii_labels = [_ascii_label(label) for label in labels]
    name = ".".join(ascii_labels)
    if len(name) > MAX_NAME:
        raise InvalidDomain(f"name longer than {MAX_NAME} characters", "too-long")
    if ascii_labels[-1].isdigit():
        raise InvalidDomain("the top-level label is numeric: not a domain name", "numeric-tld")
    return name


def _ascii_label(label: str) -> str:
    """One label as a lowercase A-label, within the label length, with no hyphen at either end."""
    if label.isascii() and not label.lower().startswith("xn--"):
        # Plain LDH labels skip the IDNA codec: it is the hot path and it rejects nothing here
        # that the checks below do not.
        ascii_label = label.lower()
        if not _LDH.match(ascii_label):
            raise InvalidDomain(
                f"label {label!r} has characters not allowed in a host name", "bad-characters"
            )
    else:
        try:
            ascii_label = idna.encode(label, uts46=True).decode("ascii")
        except idna.IDNAError as exc:
            raise InvalidDomain(
                f"label {label!r} is not a valid internationalised name: {exc}", "idna"
            ) from None
        except UnicodeError as exc:
            raise InvalidDomain(f"label {label!r} cannot be encoded: {exc}", "idna") from None
    if len(ascii_label) > MAX_LABEL:
        raise InvalidDomain(f"label {ascii_label[:20]}… is longer than {MAX_LABEL} characters", "too-long")
    if ascii_label.startswith("-") or ascii_label.endswith("-"):
        raise InvalidDomain(f"label {ascii_label!r} starts or ends with a hyphen", "hyphen")
    return ascii_label


def _public_suffix(ascii_host: str) -> str:
    suffix = _extractor()(ascii_host).suffix
    # The PSL's default rule "*": a TLD missing from the list is still a public suffix. Its
    # domains are checked, and come out `unknown` when no RDAP server serves the TLD.
    return suffix or ascii_host.rsplit(".", 1)[1]


def is_a_label_domain(domain: object) -> bool:
    """Whether `domain` is already a lowercase A-label name of two labels or more, as the
    registry API's unverify call requires."""
    if not isinstance(domain, str) or "." not in domain:
        return False
    try:
        return to_ascii(domain) == domain
    except InvalidDomain:
        return False


def tld(domain: str) -> str:
    """The top-level label of an A-label domain."""
    return domain.rsplit(".", 1)[-1]
