"""Where the witness starts: the root servers and the root's trust anchor, bundled from IANA in
lapsewatch/data, or as the settings replace them; and the witness built from them."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rrset

from lapsewatch.dns.messages import DS
from lapsewatch.dns.walker import DNS_PORT, DnsWitness
from lapsewatch.net.egress import EgressPolicy


def parse_root_hints(text: str) -> list[str]:
    """The root servers' addresses in a named.root file, IPv4 first."""
    found: dict[str, list[str]] = {"A": [], "AAAA": []}
    for line in text.splitlines():
        fields = line.split(";", 1)[0].split()
        if len(fields) >= 3 and fields[-2].upper() in found:
            found[fields[-2].upper()].append(str(ipaddress.ip_address(fields[-1])))
    if not found["A"] and not found["AAAA"]:
        raise ValueError("the root hints name no server address")
    return found["A"] + found["AAAA"]


def parse_trust_anchor(text: str) -> dns.rrset.RRset:
    """DS records for the root, one a line as dig prints them; TTL and class optional."""
    records = []
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split(";", 1)[0].split()
        if not fields:
            continue
        if fields[0] != ".":
            raise ValueError(f"line {number}: a trust anchor is for the root (.), not {fields[0]!r}")
        rest = fields[1:]
        if rest and rest[0].isdigit():
            rest = rest[1:]
        if rest and rest[0].upper() == "IN":
            rest = rest[1:]
        if not rest or rest[0].upper() != "DS":
            raise ValueError(f"line {number}: not a DS record")
        try:
            records.append(dns.rdata.from_text(dns.rdataclass.IN, DS, " ".join(rest[1:])))
        except dns.exception.DNSException as exc:
            raise ValueError(f"line {number}: {exc}") from None
    if not records:
        raise ValueError("the trust anchor holds no DS record")
    return dns.rrset.from_rdata_list(dns.name.root, 86400, records)


def parse_roots(text: str) -> tuple[tuple[str, int | None], ...]:
    """Root servers as an operator writes them: ADDR[:PORT], comma-separated; [v6]:PORT."""
    roots = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        address, port = part, None
        if part.startswith("["):
            address, _, rest = part[1:].partition("]")
            port = rest[1:] if rest.startswith(":") else None
        elif part.count(":") == 1:
            address, port = part.split(":")
        try:
            address = str(ipaddress.ip_address(address))
        except ValueError:
            raise ValueError(f"{part!r} is not ADDR[:PORT] with an IP address") from None
        if port is not None and (not port.isdigit() or not 1 <= int(port) <= 65535):
            raise ValueError(f"{part!r}: the port must be 1 to 65535")
        roots.append((address, int(port) if port is not None else None))
    if not roots:
        raise ValueError("no DNS root server is named")
    return tuple(roots)


def bundled_roots() -> list[str]:
    """IANA's root hints (named.root), bundled in lapsewatch/data."""
    return parse_root_hints(_bundled("named.root"))


def bundled_trust_anchor() -> dns.rrset.RRset:
    """IANA's root trust anchor as DS records, bundled in lapsewatch/data."""
    return parse_trust_anchor(_bundled("root-anchors.ds"))


def _bundled(name: str) -> str:
    return (resources.files("lapsewatch") / "data" / name).read_text("utf-8")


def build_witness(
    roots: Sequence[tuple[str, int | None]] | None,
    trust_anchor: Path | None,
    *,
    allow_loopback: bool,
) -> DnsWitness:
    """The witness from the settings: the bundled roots and anchor unless replaced."""
    anchor = parse_trust_anchor(trust_anchor.read_text("utf-8")) if trust_anchor else bundled_trust_anchor()
    named = list(roots) if roots else [(address, None) for address in bundled_roots()]
    port = next((p for _, p in named if p is not None), None)
    servers = [(address, p or port or DNS_PORT) for address, p in named]
    ports = frozenset({DNS_PORT, *(p for _, p in servers)})
    return DnsWitness(
        servers, anchor, policy=EgressPolicy(allow_loopback=allow_loopback, ports=ports), port=port
    )
