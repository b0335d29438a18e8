"""The DNS witness: follows the referrals from the root (never the system's resolver) to the zone
that holds a domain's delegation, asks it for the domain's NS records without recursion, and
reads what it says, validating from the trust anchor down where the zones are signed."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.rrset

from lapsewatch.dns.dnssec import DenialProof, signed_by, validated_denials, validated_keys
from lapsewatch.dns.evidence import WITNESS_BUDGET, DnsEvidence
from lapsewatch.dns.messages import (
    AAAA,
    DNSKEY,
    DS,
    NS,
    A,
    deeper_zone,
    find_rrset,
    name_text,
    referral,
    unusable,
    zone_words,
)
from lapsewatch.net.egress import EgressPolicy

# One query's wait; a silent server is left for the next one after this.
TRY_TIMEOUT = 3.0
# Passes over a zone's servers before the zone is called silent.
PASSES = 2
# Referrals followed from the root: far more than any real chain of zone cuts.
MAX_REFERRALS = 12
# How deep the witness goes to find the address of a name server that came without glue.
MAX_GLUELESS_DEPTH = 2
DNS_PORT = 53

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
            deeper = deeper_zone(response, zone.name)
            if deeper is not None:
                # The server holds the child zone too (uk's servers hold co.uk) and answered from
                # it: its cut is crossed here, its DS asked of the parent's side of the server.
                zone = self._crossed(zone, deeper)
                continue
            if response.rcode() == dns.rcode.NXDOMAIN:
                return self._denial(zone, response, nxdomain=True)
            answer = find_rrset(response.answer, self.qname, NS)
            if answer is not None:
                return self._delegated(zone, answer)
            cut = referral(response, zone.name, self.qname)
            if cut is None:
                return self._denial(zone, response, nxdomain=False)
            if cut.name == self.qname:
                return self._delegated(zone, cut)
            zone = self._descend(zone, response, cut)
        raise NoAnswer(f"more than {MAX_REFERRALS} referrals from the root towards {name_text(self.qname)}")

    # What the zone said.

    def _delegated(self, zone: _Zone, ns: dns.rrset.RRset) -> DnsEvidence:
        servers = tuple(sorted(name_text(rdata.target) for rdata in ns))
        return DnsEvidence(
            delegated=True,
            servers_asked=self.servers_asked(),
            validated=zone.security == "secure",
            signed=zone.security != "insecure",
            zone=name_text(zone.name),
            name_servers=servers,
            reason=f"the {zone_words(zone.name)} still delegates {name_text(self.qname)} to "
            + ", ".join(servers),
        )

    def _denial(self, zone: _Zone, response: dns.message.Message, *, nxdomain: bool) -> DnsEvidence:
        what = "does not exist there (NXDOMAIN)" if nxdomain else "has no delegation there (NODATA)"
        said = f"the {zone_words(zone.name)} says {name_text(self.qname)} {what}"

        def denied(validated: bool, signed: bool, reason: str) -> DnsEvidence:
            return DnsEvidence(
                delegated=False,
                servers_asked=self.servers_asked(),
                zone=name_text(zone.name),
                validated=validated,
                signed=signed,
                reason=reason,
            )

        if zone.security == "insecure":
            return denied(False, False, f"{said}; the zone is unsigned")
        if zone.security == "bogus":
            return denied(False, True, f"{said}, but the zone's keys did not validate: {zone.why}")
        proof = DenialProof(self._validated_denials(zone, response), zone.name)
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
            ds = find_rrset(response.authority, cut.name, DS)
            if ds is not None and self._signed_by(zone, ds, response.authority):
                self._secure(child, ds)
            elif (
                ds is None
                and DenialProof(self._validated_denials(zone, response), zone.name).no_ds(cut.name) is None
            ):
                child.security = "insecure"
            else:
                child.security = "bogus"
                child.why = f"the referral to {name_text(cut.name)} has no validated DS, nor a proof of none"
        if not child.servers:
            raise NoAnswer(f"the {zone_words(cut.name)} has no name server that may be asked")
        return child

    def _crossed(self, zone: _Zone, child_name: dns.name.Name) -> _Zone:
        """The child zone a server answered from without a referral, on the same servers."""
        child = _Zone(child_name, zone.servers, "insecure")
        if zone.security == "bogus":
            child.security, child.why = "bogus", zone.why
        elif zone.security == "secure":
            response = self._ask(zone, child_name, DS)
            ds = find_rrset(response.answer, child_name, DS)
            if ds is not None and self._signed_by(zone, ds, response.answer):
                self._secure(child, ds)
            elif (
                ds is None
                and deeper_zone(response, zone.name) is None
                and DenialProof(self._validated_denials(zone, response), zone.name).no_ds(child_name) is None
            ):
                child.security = "insecure"
            else:
                child.security = "bogus"
                child.why = (
                    f"the {zone_words(zone.name)} signed no DS for {name_text(child_name)}, "
                    "nor a proof of none"
                )
        return child

    def _secure(self, zone: _Zone, ds: dns.rrset.RRset) -> None:
        """Fetch the zone's DNSKEY set and validate it against `ds`; the zone is secure after,
        or bogus with the reason."""
        zone.security = "bogus"
        # A zone whose servers are silent has nothing more to say: NoAnswer goes up from here.
        response = self._ask(zone, zone.name, DNSKEY)
        keys, why = validated_keys(zone.name, response, ds, wall_clock=self.witness._wall_clock)
        if keys is None:
            zone.why = why
            return
        zone.security, zone.keys = "secure", keys

    def _signed_by(self, zone: _Zone, rrset: dns.rrset.RRset, section: list[dns.rrset.RRset]) -> bool:
        return signed_by(zone.name, zone.keys, rrset, section, wall_clock=self.witness._wall_clock)

    def _validated_denials(self, zone: _Zone, response: dns.message.Message) -> list[dns.rrset.RRset]:
        return validated_denials(zone.name, zone.keys, response, wall_clock=self.witness._wall_clock)

    def _servers(self, cut: dns.rrset.RRset, response: dns.message.Message, depth: int = 0) -> list[Server]:
        targets = [rdata.target for rdata in cut]
        glue = [
            rdata.address
            for rtype in (A, AAAA)
            for target in targets
            if (rrset := find_rrset(response.additional, target, rtype)) is not None
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
            answer = find_rrset(response.answer, name, A)
            if answer is not None:
                return [rdata.address for rdata in answer]
            cut = referral(response, zone.name, name) if response.rcode() == dns.rcode.NOERROR else None
            if cut is None:
                break
            zone = _Zone(cut.name, self._servers(cut, response, depth), "insecure")
        raise NoAnswer(f"no address for the name server {name_text(name)}")

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
                        f"the DNS lookup ran out of time asking the {zone_words(zone.name)}"
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
                if why := unusable(response, zone.name, qname):
                    failures[where] = why
                    continue
                return response
            if all(why.startswith("refused") for why in failures.values()):
                break
        raise NoAnswer(f"no name server of the {zone_words(zone.name)} answered" + _listing(failures))


def _where(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _listing(failures: dict[str, str]) -> str:
    return f": {'; '.join(f'{where} {why}' for where, why in failures.items())}" if failures else ""
