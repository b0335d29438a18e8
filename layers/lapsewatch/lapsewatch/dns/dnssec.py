"""DNSSEC for the witness: the keys that make a zone secure, the signatures that make a record
set the zone's own, and the NSEC or NSEC3 records that prove a denial (RFC 4035 section 5.4,
RFC 5155 section 8). dnspython does the cryptography; this module decides what it must prove."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable

import dns.dnssec
import dns.message
import dns.name
import dns.rrset

from lapsewatch.dns.messages import (
    CNAME,
    DNAME,
    DNSKEY,
    DS,
    NS,
    NSEC,
    NSEC3,
    RRSIG,
    SOA,
    find_rrset,
    name_text,
    zone_words,
)

_NSEC3_OPT_OUT = 1


def validated_keys(
    zone: dns.name.Name,
    response: dns.message.Message,
    ds: dns.rrset.RRset,
    *,
    wall_clock: Callable[[], float],
) -> tuple[dns.rrset.RRset | None, str]:
    """The zone's DNSKEY set in `response`, validated against the zone's DS set `ds`; else None
    and why not."""
    keys = find_rrset(response.answer, zone, DNSKEY)
    signatures = find_rrset(response.answer, zone, RRSIG, covers=DNSKEY)
    if keys is None or signatures is None:
        return None, f"the {zone_words(zone)} sent no signed DNSKEY set"
    anchored = [key for key in keys if any(_matches(zone, key, d) for d in ds)]
    if not anchored:
        return None, f"no DNSKEY of the {zone_words(zone)} matches its DS"
    entry = dns.rrset.from_rdata_list(zone, keys.ttl, anchored)
    try:
        dns.dnssec.validate(keys, signatures, {zone: entry}, now=wall_clock())
    except dns.dnssec.ValidationFailure as exc:
        return None, f"the DNSKEY set of the {zone_words(zone)} did not validate: {exc}"
    return keys, ""


def signed_by(
    zone: dns.name.Name,
    keys: dns.rrset.RRset | None,
    rrset: dns.rrset.RRset,
    section: list[dns.rrset.RRset],
    *,
    wall_clock: Callable[[], float],
) -> bool:
    """Whether `rrset` carries, in `section`, a signature that validates with the zone's `keys`."""
    signatures = find_rrset(section, rrset.name, RRSIG, covers=rrset.rdtype)
    if signatures is None or keys is None:
        return False
    try:
        dns.dnssec.validate(rrset, signatures, {zone: keys}, now=wall_clock())
    except dns.dnssec.ValidationFailure:
        return False
    return True


def validated_denials(
    zone: dns.name.Name,
    keys: dns.rrset.RRset | None,
    response: dns.message.Message,
    *,
    wall_clock: Callable[[], float],
) -> list[dns.rrset.RRset]:
    """The NSEC and NSEC3 sets of the answer's authority section that the zone signed."""
    return [
        rrset
        for rrset in response.authority
        if rrset.rdtype in (NSEC, NSEC3)
        and rrset.name.is_subdomain(zone)
        and signed_by(zone, keys, rrset, response.authority, wall_clock=wall_clock)
    ]


def _matches(zone: dns.name.Name, key, ds) -> bool:
    if dns.dnssec.key_id(key) != ds.key_tag or key.algorithm != ds.algorithm:
        return False
    try:
        return dns.dnssec.make_ds(zone, key, ds.digest_type) == ds
    except (dns.dnssec.UnsupportedAlgorithm, ValueError):
        return False


class DenialProof:
    """Denial proofs from validated NSEC or NSEC3 records of one zone; each check returns None
    when the proof holds, else why not."""

    def __init__(self, rrsets: list[dns.rrset.RRset], zone: dns.name.Name) -> None:
        self.zone = zone
        self.nsec = [(rrset.name, rdata) for rrset in rrsets if rrset.rdtype == NSEC for rdata in rrset]
        self.nsec3 = [
            (rrset.name.labels[0].decode().lower(), rdata)
            for rrset in rrsets
            if rrset.rdtype == NSEC3 and rrset.name.parent() == zone
            for rdata in rrset
        ]
        self.opt_out = False

    def nxdomain(self, qname: dns.name.Name) -> str | None:
        if self.nsec:
            covering = self._nsec_covering(qname)
            if covering is None:
                return f"no NSEC record covers {name_text(qname)}"
            owner, rdata = covering
            if qname.is_subdomain(owner) and _delegation_bits(rdata):
                return f"the NSEC record covering {name_text(qname)} is a delegation's"
            encloser = max(
                (_common(qname, owner), _common(qname, rdata.next)), key=lambda name: len(name.labels)
            )
            if self._nsec_covering(dns.name.Name((b"*",)).concatenate(encloser)) is None:
                return f"no NSEC record rules out a wildcard at {name_text(encloser)}"
            return None
        if self.nsec3:
            proven = self._closest_encloser(qname)
            if isinstance(proven, str):
                return proven
            closest, _ = proven
            wildcard = dns.name.Name((b"*",)).concatenate(closest)
            if self._nsec3_covering(wildcard) is None:
                return f"no NSEC3 record rules out a wildcard at {name_text(closest)}"
            return None
        return "the denial carries no validated NSEC or NSEC3 record"

    def nodata(self, qname: dns.name.Name) -> str | None:
        for owner, rdata in self.nsec:
            if owner == qname:
                return (
                    None
                    if not _types(rdata) & {NS, CNAME}
                    else f"the NSEC record at {name_text(qname)} lists NS"
                )
        covering = self._nsec_covering(qname)
        if covering is not None and covering[1].next.is_subdomain(qname) and covering[1].next != qname:
            return None  # an empty non-terminal: the name exists, with nothing of its own
        if self.nsec3:
            matching = self._nsec3_matching(qname)
            if matching is None:
                return f"no NSEC3 record matches {name_text(qname)}"
            return (
                None
                if not _types(matching) & {NS, CNAME}
                else f"the NSEC3 record of {name_text(qname)} lists NS"
            )
        return f"no NSEC or NSEC3 record proves that {name_text(qname)} has no NS records"

    def no_ds(self, cut: dns.name.Name) -> str | None:
        """That a referral to `cut` rightly has no DS: the child zone is unsigned."""
        for owner, rdata in self.nsec:
            if owner == cut and NS in _types(rdata) and not _types(rdata) & {DS, SOA}:
                return None
        if self.nsec3:
            matching = self._nsec3_matching(cut)
            if matching is not None:
                types = _types(matching)
                return None if NS in types and not types & {DS, SOA} else f"{name_text(cut)} has a DS"
            encloser = self._closest_encloser(cut)
            if isinstance(encloser, str):
                return encloser
            return None if self.opt_out else f"the NSEC3 record covering {name_text(cut)} is not opt-out"
        return f"no NSEC or NSEC3 record proves that {name_text(cut)} has no DS"

    # NSEC.

    def _nsec_covering(self, name: dns.name.Name):
        for owner, rdata in self.nsec:
            following = rdata.next
            if owner < name < following or (following <= owner and (name > owner or name < following)):
                return owner, rdata
        return None

    # NSEC3 (RFC 5155 section 8.3: the closest encloser proof).

    def _closest_encloser(self, qname: dns.name.Name) -> tuple[dns.name.Name, dns.name.Name] | str:
        candidate = qname
        while candidate != self.zone:
            closer, candidate = candidate, candidate.parent()
            matching = self._nsec3_matching(candidate)
            if matching is None:
                continue
            if _delegation_bits(matching) and candidate != self.zone:
                return f"the closest encloser {name_text(candidate)} is a delegation"
            covering = self._nsec3_covering(closer)
            if covering is None:
                return f"no NSEC3 record covers {name_text(closer)}"
            self.opt_out = bool(covering.flags & _NSEC3_OPT_OUT)
            return candidate, closer
        return f"no NSEC3 record proves a closest encloser of {name_text(qname)}"

    def _hash(self, name: dns.name.Name) -> str | None:
        if not self.nsec3:
            return None
        params = self.nsec3[0][1]
        try:
            return dns.dnssec.nsec3_hash(name, params.salt, params.iterations, params.algorithm).lower()
        except (ValueError, dns.dnssec.UnsupportedAlgorithm):
            return None

    def _nsec3_matching(self, name: dns.name.Name):
        hashed = self._hash(name)
        return next((rdata for owner, rdata in self.nsec3 if owner == hashed), None)

    def _nsec3_covering(self, name: dns.name.Name):
        hashed = self._hash(name)
        if hashed is None:
            return None
        for owner, rdata in self.nsec3:
            following = base64.b32hexencode(rdata.next).decode().lower().rstrip("=")
            if owner < hashed < following or (following <= owner and (hashed > owner or hashed < following)):
                return rdata
        return None


def _types(rdata) -> set[int]:
    return {rdtype for window, bitmap in rdata.windows for rdtype in _bits(window, bitmap)}


def _bits(window: int, bitmap: bytes) -> Iterable[int]:
    for index, byte in enumerate(bitmap):
        for bit in range(8):
            if byte & (0x80 >> bit):
                yield window * 256 + index * 8 + bit


def _delegation_bits(rdata) -> bool:
    types = _types(rdata)
    return (NS in types and SOA not in types) or DNAME in types


def _common(a: dns.name.Name, b: dns.name.Name) -> dns.name.Name:
    _, _, labels = a.fullcompare(b)
    return dns.name.Name(a.labels[len(a.labels) - labels :])
