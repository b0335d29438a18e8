"""Reading one DNS answer: its record sets, the referral it holds, and whether it is one a zone's
own server would give."""

from __future__ import annotations

from collections.abc import Iterable

import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

NS, DS, DNSKEY, SOA, CNAME, DNAME, NSEC, NSEC3, RRSIG, A, AAAA = (
    dns.rdatatype.NS,
    dns.rdatatype.DS,
    dns.rdatatype.DNSKEY,
    dns.rdatatype.SOA,
    dns.rdatatype.CNAME,
    dns.rdatatype.DNAME,
    dns.rdatatype.NSEC,
    dns.rdatatype.NSEC3,
    dns.rdatatype.RRSIG,
    dns.rdatatype.A,
    dns.rdatatype.AAAA,
)


def unusable(response: dns.message.Message, zone: dns.name.Name, qname: dns.name.Name) -> str | None:
    """Why an answer is not one the zone's own server would give, or None.

    The AA bit is not asked for: anyone on the path can set it, so it proves nothing a signed
    zone's proofs do not, and servers that leave it off are still the zone's. A denial must carry
    the zone's SOA (or a child's the same server holds, on the way to the name).
    """
    rcode = response.rcode()
    if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        return f"answered {dns.rcode.to_text(rcode)}"
    if rcode == dns.rcode.NOERROR and (response.answer or referral(response, zone, qname) is not None):
        return None
    soa = next((r for r in response.authority if r.rdtype == SOA), None)
    if soa is None or not (soa.name.is_subdomain(zone) and qname.is_subdomain(soa.name)):
        return "sent neither an answer, a referral nor the zone's own denial"
    return None


def deeper_zone(response: dns.message.Message, zone: dns.name.Name) -> dns.name.Name | None:
    """The child zone a denial came from, when the server answered from a zone below `zone`."""
    soa = next((r for r in response.authority if r.rdtype == SOA), None)
    if soa is not None and soa.name != zone and soa.name.is_subdomain(zone):
        return soa.name
    return None


def referral(
    response: dns.message.Message, zone: dns.name.Name, qname: dns.name.Name
) -> dns.rrset.RRset | None:
    """The NS set of a zone cut below `zone`, at or above `qname`, in the authority section."""
    for rrset in response.authority:
        if (
            rrset.rdtype == NS
            and rrset.name != zone
            and rrset.name.is_subdomain(zone)
            and qname.is_subdomain(rrset.name)
        ):
            return rrset
    return None


def find_rrset(
    section: Iterable[dns.rrset.RRset],
    name: dns.name.Name,
    rdtype: dns.rdatatype.RdataType,
    covers: dns.rdatatype.RdataType = dns.rdatatype.NONE,
) -> dns.rrset.RRset | None:
    for rrset in section:
        if rrset.name == name and rrset.rdtype == rdtype and rrset.covers == covers:
            return rrset
    return None


def name_text(name: dns.name.Name) -> str:
    return "." if name == dns.name.root else name.to_text(omit_final_dot=True)


def zone_words(name: dns.name.Name) -> str:
    return "root zone" if name == dns.name.root else f"{name_text(name)} zone"
