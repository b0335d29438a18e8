"""The DNS witness: does the zone above a domain still delegate it?

A domain in redemption or pending delete has been taken out of its TLD's zone, and an
unregistered one was never in it. So before a lapse is believed, the zone that holds the
domain's delegation is asked, without recursion, for the domain's NS records: a referral means
the zone still delegates it (the provider's answer is contradicted), NXDOMAIN or NODATA means it
does not. The zone is found by following referrals down from the root (bundled root hints), never
by guessing the TLD, and the system's resolver is never asked: its cache and its own validation
are not evidence.

Where the chain of zones is signed, from the bundled root trust anchor down through each DS, a
denial only counts when its NSEC or NSEC3 records prove it (RFC 4035 section 5.4, RFC 5155
section 8) with every signature validated: that stops an on-path forger, not only a broken
server, from unverifying a healthy domain's addresses. A next-closer name covered by an opt-out
NSEC3 record counts as proven: it is the strongest proof a zone that signs with opt-out (.com,
.net) can give.

dnspython does everything on the wire and all the cryptography; this module only follows the
referrals and checks the proofs. Every name server address, glue included, passes the egress
rules of the status lookups before it is asked.
"""

from __future__ import annotations

import base64
import ipaddress
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Protocol

import dns.dnssec
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from lapsewatch.net.egress import EgressPolicy

# The witness gives up within this many seconds, over every server and retry it tries.
WITNESS_BUDGET = 10.0
# One query's wait; a silent server is left for the next one after this.
TRY_TIMEOUT = 3.0
# Passes over a zone's servers before the zone is called silent.
PASSES = 2
# Referrals followed from the root: far more than any real chain of zone cuts.
MAX_REFERRALS = 12
# How deep the witness goes to find the address of a name server that came without glue.
MAX_GLUELESS_DEPTH = 2
DNS_PORT = 53

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
_NSEC3_OPT_OUT = 1


@dataclass(frozen=True, slots=True)
class DnsEvidence:
    """What the zone above a domain said about its delegation."""

    # True: still delegated; False: denied; None: no server answered (doubt).
    delegated: bool | None
    servers_asked: tuple[str, ...]
    # True: the denial (or the zone's keys) validated from the trust anchor; False for an
    # unsigned zone, or a signed one whose proof did not validate; None when nothing was read.
    validated: bool | None
    reason: str
    # Whether the zone that answered is signed (so that an unvalidated denial from it is doubt).
    signed: bool | None = None
    zone: str | None = None
    name_servers: tuple[str, ...] = ()

    @property
    def confirms_lapse(self) -> bool:
        """The zone denies the name, and that denial can be believed."""
        return self.delegated is False and (self.validated is True or self.signed is False)

    def to_dict(self) -> dict:
        return {
            "delegated": self.delegated,
            "servers_asked": list(self.servers_asked),
            "validated": self.validated,
            "reason": self.reason,
            "signed": self.signed,
            "zone": self.zone,
            "name_servers": list(self.name_servers),
        }


class DelegationWitness(Protocol):
    def delegation(self, domain: str, *, deadline: float | None = None) -> DnsEvidence:
        """Ask the zone above `domain` whether it delegates it; never raises for a bad answer.

        `deadline` is a time.monotonic() value; the witness also keeps its own budget.
        """
        ...


type Server = tuple[str, int]
# Sends one query to one server and returns the answer; raises on a timeout or a network error.
type Transport = Callable[[dns.message.Message, str, int, float], dns.message.Message]


def send_query(query: dns.message.Message, address: str, port: int, timeout: float) -> dns.message.Message:
    """UDP, and TCP when the answer came truncated."""
    response, _ = dns.query.udp_with_fallback(query, address, timeout=timeout, port=port)
    return response


class NoAnswer(Exception):
    """No server of a zone gave an answer worth reading; the message says what each did."""


@dataclass
class _Zone:
    name: dns.name.Name
    servers: list[Server]
    # "secure" (its keys validated, in `keys`), "insecure" (proven unsigned) or "bogus" (signed,
    # or meant to be, but not provably so).
    security: str
    keys: dns.rrset.RRset | None = None
    why: str = ""


class DnsWitness:
    """Follows the referrals from the root to the zone that holds a domain's delegation."""

    def __init__(
        self,
        roots: Sequence[Server],
        trust_anchor: dns.rrset.RRset | None,
        *,
        policy: EgressPolicy,
        port: int | None = None,
        budget: float = WITNESS_BUDGET,
        try_timeout: float = TRY_TIMEOUT,
        transport: Transport = send_query,
        monotonic: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        """`port`: every server reached after the roots is asked at it (local test servers);
        53 when None. `trust_anchor`: the root's DS set; None trusts no signature at all."""
        if not roots:
            raise ValueError("the DNS witness needs at least one root server")
        self.roots = list(roots)
        self.trust_anchor = trust_anchor
        self.policy = policy
        self.port = port or DNS_PORT
        self.budget = budget
        self.try_timeout = try_timeout
        self._transport = transport
        self._monotonic = monotonic
        self._wall_clock = wall_clock

    def delegation(self, domain: str, *, deadline: float | None = None) -> DnsEvidence:
        own = self._monotonic() + self.budget
        lookup = _Lookup(self, dns.name.from_text(domain), min(own, deadline) if deadline else own)
        try:
            return lookup.run()
        except NoAnswer as exc:
            return DnsEvidence(
                delegated=None, servers_asked=lookup.servers_asked(), validated=None, reason=str(exc)
            )


@dataclass
class _Lookup:
    witness: DnsWitness
    qname: dns.name.Name
    deadline: float
    # Every query's server, in order: its length is the number of queries sent.
    asked: list[str] = field(default_factory=list)

    def servers_asked(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.asked))

    def run(self) -> DnsEvidence:
        witness = self.witness
        anchor = witness.trust_anchor
        zone = _Zone(dns.name.root, list(witness.roots), "insecure" if anchor is None else "bogus")
        if anchor is not None:
            self._secure(zone, anchor)
        for _ in range(MAX_REFERRALS):
            response = self._ask(zone, self.qname, NS)
            deeper = _deeper_zone(response, zone.name)
            if deeper is not None:
                # The server holds the child zone too (uk's servers hold co.uk) and answered from
                # it: its cut is crossed here, its DS asked of the parent's side of the server.
                zone = self._crossed(zone, deeper)
                continue
            if response.rcode() == dns.rcode.NXDOMAIN:
                return self._denial(zone, response, nxdomain=True)
            answer = _find(response.answer, self.qname, NS)
            if answer is not None:
                return self._delegated(zone, answer)
            cut = _referral(response, zone.name, self.qname)
            if cut is None:
                return self._denial(zone, response, nxdomain=False)
            if cut.name == self.qname:
                return self._delegated(zone, cut)
            zone = self._descend(zone, response, cut)
        raise NoAnswer(f"more than {MAX_REFERRALS} referrals from the root towards {_text(self.qname)}")

    # What the zone said.

    def _delegated(self, zone: _Zone, ns: dns.rrset.RRset) -> DnsEvidence:
        servers = tuple(sorted(_text(rdata.target) for rdata in ns))
        return DnsEvidence(
            delegated=True,
            servers_asked=self.servers_asked(),
            validated=zone.security == "secure",
            signed=zone.security != "insecure",
            zone=_text(zone.name),
            name_servers=servers,
            reason=f"the {_zone_words(zone.name)} still delegates {_text(self.qname)} to "
            + ", ".join(servers),
        )

    def _denial(self, zone: _Zone, response: dns.message.Message, *, nxdomain: bool) -> DnsEvidence:
        what = "does not exist there (NXDOMAIN)" if nxdomain else "has no delegation there (NODATA)"
        said = f"the {_zone_words(zone.name)} says {_text(self.qname)} {what}"

        def denied(validated: bool, signed: bool, reason: str) -> DnsEvidence:
            return DnsEvidence(
                delegated=False,
                servers_asked=self.servers_asked(),
                zone=_text(zone.name),
                validated=validated,
                signed=signed,
                reason=reason,
            )

        if zone.security == "insecure":
            return denied(False, False, f"{said}; the zone is unsigned")
        if zone.security == "bogus":
            return denied(False, True, f"{said}, but the zone's keys did not validate: {zone.why}")
        proof = _Proof(self._validated_denials(zone, response), zone.name)
        why = proof.nxdomain(self.qname) if nxdomain else proof.nodata(self.qname)
        if why is not None:
            return denied(False, True, f"{said}, but the signed zone did not prove it: {why}")
        how = " (the name is covered by an opt-out NSEC3 record)" if proof.opt_out else ""
        return denied(True, True, f"{said}; the denial validated from the root trust anchor{how}")

    # Following a referral.

    def _descend(self, zone: _Zone, response: dns.message.Message, cut: dns.rrset.RRset) -> _Zone:
        child = _Zone(cut.name, self._servers(cut, response), "insecure")
        if zone.security == "bogus":
            child.security, child.why = "bogus", zone.why
        elif zone.security == "secure":
            assert zone.keys is not None
            ds = _find(response.authority, cut.name, DS)
            if ds is not None and self._signed_by(zone, ds, response.authority):
                self._secure(child, ds)
            elif (
                ds is None
                and _Proof(self._validated_denials(zone, response), zone.name).no_ds(cut.name) is None
            ):
                child.security = "insecure"
            else:
                child.security = "bogus"
                child.why = f"the referral to {_text(cut.name)} has no validated DS, nor a proof of none"
        if not child.servers:
            raise NoAnswer(f"the {_zone_words(cut.name)} has no name server that may be asked")
        return child

    def _crossed(self, zone: _Zone, child_name: dns.name.Name) -> _Zone:
        """The child zone a server answered from without a referral, on the same servers."""
        child = _Zone(child_name, zone.servers, "insecure")
        if zone.security == "bogus":
            child.security, child.why = "bogus", zone.why
        elif zone.security == "secure":
            response = self._ask(zone, child_name, DS)
            ds = _find(response.answer, child_name, DS)
            if ds is not None and self._signed_by(zone, ds, response.answer):
                self._secure(child, ds)
            elif (
                ds is None
                and _deeper_zone(response, zone.name) is None
                and _Proof(self._validated_denials(zone, response), zone.name).no_ds(child_name) is None
            ):
                child.security = "insecure"
            else:
                child.security = "bogus"
                child.why = (
                    f"the {_zone_words(zone.name)} signed no DS for {_text(child_name)}, nor a proof of none"
                )
        return child

    def _secure(self, zone: _Zone, ds: dns.rrset.RRset) -> None:
        """Fetch the zone's DNSKEY set and validate it against `ds`; the zone is secure after,
        or bogus with the reason."""
        zone.security = "bogus"
        # A zone whose servers are silent has nothing more to say: NoAnswer goes up from here.
        response = self._ask(zone, zone.name, DNSKEY)
        keys = _find(response.answer, zone.name, DNSKEY)
        signatures = _find(response.answer, zone.name, RRSIG, covers=DNSKEY)
        if keys is None or signatures is None:
            zone.why = f"the {_zone_words(zone.name)} sent no signed DNSKEY set"
            return
        anchored = [key for key in keys if any(_matches(zone.name, key, d) for d in ds)]
        if not anchored:
            zone.why = f"no DNSKEY of the {_zone_words(zone.name)} matches its DS"
            return
        entry = dns.rrset.from_rdata_list(zone.name, keys.ttl, anchored)
        try:
            dns.dnssec.validate(keys, signatures, {zone.name: entry}, now=self.witness._wall_clock())
        except dns.dnssec.ValidationFailure as exc:
            zone.why = f"the DNSKEY set of the {_zone_words(zone.name)} did not validate: {exc}"
            return
        zone.security, zone.keys = "secure", keys

    def _signed_by(self, zone: _Zone, rrset: dns.rrset.RRset, section: list[dns.rrset.RRset]) -> bool:
        signatures = _find(section, rrset.name, RRSIG, covers=rrset.rdtype)
        if signatures is None or zone.keys is None:
            return False
        try:
            dns.dnssec.validate(rrset, signatures, {zone.name: zone.keys}, now=self.witness._wall_clock())
        except dns.dnssec.ValidationFailure:
            return False
        return True

    def _validated_denials(self, zone: _Zone, response: dns.message.Message) -> list[dns.rrset.RRset]:
        return [
            rrset
            for rrset in response.authority
            if rrset.rdtype in (NSEC, NSEC3)
            and rrset.name.is_subdomain(zone.name)
            and self._signed_by(zone, rrset, response.authority)
        ]

    def _servers(self, cut: dns.rrset.RRset, response: dns.message.Message, depth: int = 0) -> list[Server]:
        targets = [rdata.target for rdata in cut]
        glue = [
            rdata.address
            for rtype in (A, AAAA)
            for target in targets
            if (rrset := _find(response.additional, target, rtype)) is not None
            for rdata in rrset
        ]
        if not glue and depth < MAX_GLUELESS_DEPTH:
            for target in targets[:2]:
                try:
                    glue.extend(self._addresses(target, depth + 1))
                except NoAnswer:
                    continue
                if glue:
                    break
        return [(address, self.witness.port) for address in dict.fromkeys(glue)]

    def _addresses(self, name: dns.name.Name, depth: int) -> list[str]:
        """The IPv4 addresses of a name server that came without glue, found from the root."""
        zone = _Zone(dns.name.root, list(self.witness.roots), "insecure")
        for _ in range(MAX_REFERRALS):
            response = self._ask(zone, name, A)
            answer = _find(response.answer, name, A)
            if answer is not None:
                return [rdata.address for rdata in answer]
            cut = _referral(response, zone.name, name) if response.rcode() == dns.rcode.NOERROR else None
            if cut is None:
                break
            zone = _Zone(cut.name, self._servers(cut, response, depth), "insecure")
        raise NoAnswer(f"no address for the name server {_text(name)}")

    # The wire.

    def _ask(self, zone: _Zone, qname: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> dns.message.Message:
        """The first answer from the zone's servers that reads as the zone's own; NoAnswer when
        none gave one within the time left."""
        witness = self.witness
        failures: dict[str, str] = {}
        for _ in range(PASSES):
            for address, port in zone.servers:
                where = _where(address, port)
                if why := witness.policy.refusal(address, port):
                    failures[where] = f"refused: {why}"
                    continue
                left = self.deadline - witness._monotonic()
                if left <= 0:
                    raise NoAnswer(
                        f"the DNS lookup ran out of time asking the {_zone_words(zone.name)}"
                        + _listing(failures)
                    )
                query = dns.message.make_query(qname, rdtype, want_dnssec=True)
                query.flags &= ~dns.flags.RD
                self.asked.append(where)
                try:
                    response = witness._transport(query, address, port, min(witness.try_timeout, left))
                except dns.exception.Timeout:
                    failures[where] = "timed out"
                    continue
                except (dns.exception.DNSException, OSError, ValueError) as exc:
                    failures[where] = f"failed: {exc}"
                    continue
                if why := _unusable(response, zone.name, qname):
                    failures[where] = why
                    continue
                return response
            if all(why.startswith("refused") for why in failures.values()):
                break
        raise NoAnswer(f"no name server of the {_zone_words(zone.name)} answered" + _listing(failures))


def _unusable(response: dns.message.Message, zone: dns.name.Name, qname: dns.name.Name) -> str | None:
    """Why an answer is not one the zone's own server would give, or None.

    The AA bit is not asked for: anyone on the path can set it, so it proves nothing a signed
    zone's proofs do not, and servers that leave it off are still the zone's. A denial must carry
    the zone's SOA (or a child's the same server holds, on the way to the name).
    """
    rcode = response.rcode()
    if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        return f"answered {dns.rcode.to_text(rcode)}"
    if rcode == dns.rcode.NOERROR and (response.answer or _referral(response, zone, qname) is not None):
        return None
    soa = next((r for r in response.authority if r.rdtype == SOA), None)
    if soa is None or not (soa.name.is_subdomain(zone) and qname.is_subdomain(soa.name)):
        return "sent neither an answer, a referral nor the zone's own denial"
    return None


def _deeper_zone(response: dns.message.Message, zone: dns.name.Name) -> dns.name.Name | None:
    """The child zone a denial came from, when the server answered from a zone below `zone`."""
    soa = next((r for r in response.authority if r.rdtype == SOA), None)
    if soa is not None and soa.name != zone and soa.name.is_subdomain(zone):
        return soa.name
    return None


def _referral(
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


def _find(
    section: Iterable[dns.rrset.RRset],
    name: dns.name.Name,
    rdtype: dns.rdatatype.RdataType,
    covers: dns.rdatatype.RdataType = dns.rdatatype.NONE,
) -> dns.rrset.RRset | None:
    for rrset in section:
        if rrset.name == name and rrset.rdtype == rdtype and rrset.covers == covers:
            return rrset
    return None


def _matches(zone: dns.name.Name, key, ds) -> bool:
    if dns.dnssec.key_id(key) != ds.key_tag or key.algorithm != ds.algorithm:
        return False
    try:
        return dns.dnssec.make_ds(zone, key, ds.digest_type) == ds
    except (dns.dnssec.UnsupportedAlgorithm, ValueError):
        return False


class _Proof:
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
                return f"no NSEC record covers {_text(qname)}"
            owner, rdata = covering
            if qname.is_subdomain(owner) and _delegation_bits(rdata):
                return f"the NSEC record covering {_text(qname)} is a delegation's"
            encloser = max(
                (_common(qname, owner), _common(qname, rdata.next)), key=lambda name: len(name.labels)
            )
            if self._nsec_covering(dns.name.Name((b"*",)).concatenate(encloser)) is None:
                return f"no NSEC record rules out a wildcard at {_text(encloser)}"
            return None
        if self.nsec3:
            proven = self._closest_encloser(qname)
            if isinstance(proven, str):
                return proven
            closest, _ = proven
            wildcard = dns.name.Name((b"*",)).concatenate(closest)
            if self._nsec3_covering(wildcard) is None:
                return f"no NSEC3 record rules out a wildcard at {_text(closest)}"
            return None
        return "the denial carries no validated NSEC or NSEC3 record"

    def nodata(self, qname: dns.name.Name) -> str | None:
        for owner, rdata in self.nsec:
            if owner == qname:
                return (
                    None if not _types(rdata) & {NS, CNAME} else f"the NSEC record at {_text(qname)} lists NS"
                )
        covering = self._nsec_covering(qname)
        if covering is not None and covering[1].next.is_subdomain(qname) and covering[1].next != qname:
            return None  # an empty non-terminal: the name exists, with nothing of its own
        if self.nsec3:
            matching = self._nsec3_matching(qname)
            if matching is None:
                return f"no NSEC3 record matches {_text(qname)}"
            return (
                None if not _types(matching) & {NS, CNAME} else f"the NSEC3 record of {_text(qname)} lists NS"
            )
        return f"no NSEC or NSEC3 record proves that {_text(qname)} has no NS records"

    def no_ds(self, cut: dns.name.Name) -> str | None:
        """That a referral to `cut` rightly has no DS: the child zone is unsigned."""
        for owner, rdata in self.nsec:
            if owner == cut and NS in _types(rdata) and not _types(rdata) & {DS, SOA}:
                return None
        if self.nsec3:
            matching = self._nsec3_matching(cut)
            if matching is not None:
                types = _types(matching)
                return None if NS in types and not types & {DS, SOA} else f"{_text(cut)} has a DS"
            encloser = self._closest_encloser(cut)
            if isinstance(encloser, str):
                return encloser
            return None if self.opt_out else f"the NSEC3 record covering {_text(cut)} is not opt-out"
        return f"no NSEC or NSEC3 record proves that {_text(cut)} has no DS"

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
                return f"the closest encloser {_text(candidate)} is a delegation"
            covering = self._nsec3_covering(closer)
            if covering is None:
                return f"no NSEC3 record covers {_text(closer)}"
            self.opt_out = bool(covering.flags & _NSEC3_OPT_OUT)
            return candidate, closer
        return f"no NSEC3 record proves a closest encloser of {_text(qname)}"

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


def _text(name: dns.name.Name) -> str:
    return "." if name == dns.name.root else name.to_text(omit_final_dot=True)


def _zone_words(name: dns.name.Name) -> str:
    return "root zone" if name == dns.name.root else f"{_text(name)} zone"


def _where(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _listing(failures: dict[str, str]) -> str:
    return f": {'; '.join(f'{where} {why}' for where, why in failures.items())}" if failures else ""


# The bundled data and the local settings that replace it.


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
