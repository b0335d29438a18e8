"""A loopback authoritative DNS server standing in for the root and TLD servers, faults included.

Tests, the offline demo (`make run`) and the benchmarks point the DNS witness at it with
`--dns-root` and `--dns-trust-anchor`. Each zone is served on its own loopback address
(127.53.0.x), all of them at one unprivileged port, over UDP and TCP; a parent's referral to a
child zone carries glue naming the child's address, and a signed child's DS::

    with LoopbackDns() as server:
        server.add_zone(".")
        server.add_zone("test", nsec3=True, opt_out=True)
        server.delegate("healthy.test")
        server.trust_anchor_file(tmp_path / "root.ds")
        server.root  # "127.53.0.1:PORT"

Names nobody delegated are denied (NXDOMAIN, with NSEC or NSEC3 proofs in a signed zone).
Signed zones use one ECDSA P-256 key each, made afresh when the server starts. Faults, per
zone: `timeout` (no answer over UDP), `servfail`, `refused`, `forged_denial` (an unsigned
NXDOMAIN from a signed zone, as an on-path forger would send), `lie_referral` (referrals whose
glue points at an internal address).
"""

from __future__ import annotations

import base64
import contextlib
import errno
import socket
import socketserver
import struct
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dns.dnssec
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
from cryptography.hazmat.primitives.asymmetric import ec
from dns.rdtypes.ANY.DNSKEY import DNSKEY

FAULTS = ("timeout", "servfail", "refused", "forged_denial", "lie_referral")
# Where a lying referral sends its glue: the cloud metadata service.
LYING_GLUE = "169.254.169.254"
_TTL = 3600
_IN = dns.rdataclass.IN
T = dns.rdatatype


@dataclass
class LocalZone:
    name: dns.name.Name
    address: str
    signed: bool
    nsec3: bool
    opt_out: bool
    fault: str | None = None
    # Registered names: their NS targets (out of the zone, no glue needed).
    delegations: dict[dns.name.Name, list[str]] = field(default_factory=dict)
    key: ec.EllipticCurvePrivateKey | None = None
    dnskey: DNSKEY | None = None
    # Built from the above: every rrset by (owner, type), the zone cuts, the denial chain.
    rrsets: dict[tuple[dns.name.Name, int], dns.rrset.RRset] = field(default_factory=dict)
    signatures: dict[tuple[dns.name.Name, int], dns.rrset.RRset] = field(default_factory=dict)
    cuts: set[dns.name.Name] = field(default_factory=set)
    existing: set[dns.name.Name] = field(default_factory=set)
    chain: list[tuple[dns.name.Name, dns.rrset.RRset]] = field(default_factory=list)
    # The zone's name server; in another zone, its parent's referral carries no glue for it.
    name_server: str | None = None

    @property
    def ns_name(self) -> dns.name.Name:
        if self.name_server is not None:
            return dns.name.from_text(self.name_server)
        return dns.name.from_text(
            "a.root-servers" if self.name == dns.name.root else "ns1." + self.name.to_text()
        )


class LoopbackDns:
    def __init__(self, *, prefix: str = "127.53.0.") -> None:
        self._prefix = prefix
        self.zones: dict[dns.name.Name, LocalZone] = {}
        # The zones each address serves: one, or a parent and a child on the same server.
        self._by_address: dict[str, list[LocalZone]] = {}
        self._lock = threading.Lock()
        self._dirty = True
        self._servers: list[socketserver.BaseServer] = []
        self._started = False
        self.port = 0
        # Queries received, by zone name.
        self.queries: Counter[str] = Counter()

    # Building the zones.

    def add_zone(
        self,
        name: str,
        *,
        signed: bool = True,
        nsec3: bool = False,
        opt_out: bool = False,
        name_server: str | None = None,
        served_with: str | None = None,
    ) -> str:
        """A zone on an address of its own; returns the address. `name_server`: its server's
        name (ns1.<zone> by default); the zone holding that name serves its address.
        `served_with`: a zone whose server serves this one too (as uk's serve co.uk), answering
        from the deepest zone it holds."""
        zone_name = dns.name.from_text(name)
        address = f"{self._prefix}{len(self._by_address) + 1}"
        if served_with is not None:
            host = self.zones[dns.name.from_text(served_with)]
            address, name_server = host.address, host.ns_name.to_text()
        zone = LocalZone(zone_name, address, signed, nsec3, opt_out, name_server=name_server)
        if signed:
            zone.key = ec.generate_private_key(ec.SECP256R1())
            zone.dnskey = dns.dnssec.make_dnskey(
                zone.key.public_key(), dns.dnssec.Algorithm.ECDSAP256SHA256, flags=257
            )
        with self._lock:
            self.zones[zone_name] = zone
            new_address = address not in self._by_address
            self._by_address.setdefault(address, []).append(zone)
            self._dirty = True
        if self._started and new_address:
            self._listen(address)
        return address

    def delegate(
        self, domain: str, name_servers: tuple[str, ...] = ("ns1.dns-host.example", "ns2.dns-host.example")
    ) -> None:
        """The zone above `domain` delegates it (a registered domain)."""
        name = dns.name.from_text(domain)
        with self._lock:
            self._parent(name).delegations[name] = list(name_servers)
            self._dirty = True

    def remove(self, domain: str) -> None:
        """The zone above `domain` stops delegating it (redemption, deletion)."""
        name = dns.name.from_text(domain)
        with self._lock:
            self._parent(name).delegations.pop(name, None)
            self._dirty = True

    def set_fault(self, zone: str, fault: str | None) -> None:
        if fault is not None and fault not in FAULTS:
            raise ValueError(f"no such fault {fault!r}: choose from {', '.join(FAULTS)}")
        with self._lock:
            self.zones[dns.name.from_text(zone)].fault = fault

    @property
    def root(self) -> str:
        """The root server, as `--dns-root` takes it."""
        return f"{self.zones[dns.name.root].address}:{self.port}"

    def trust_anchor(self) -> str:
        """The root's DS, as `--dns-trust-anchor` reads it."""
        root = self.zones[dns.name.root]
        if root.dnskey is None:
            raise ValueError("the root zone is unsigned: it has no trust anchor")
        ds = dns.dnssec.make_ds(dns.name.root, root.dnskey, "SHA256")
        return f"; the loopback root's key\n. 86400 IN DS {ds.to_text()}\n"

    def trust_anchor_file(self, path: Path) -> Path:
        path.write_text(self.trust_anchor())
        return path

    def environment(self, anchor: Path) -> dict[str, str]:
        """The variables that point lapsewatch at this server."""
        return {
            "LAPSEWATCH_DNS_ROOT": self.root,
            "LAPSEWATCH_DNS_TRUST_ANCHOR": str(self.trust_anchor_file(anchor)),
        }

    def _parent(self, name: dns.name.Name) -> LocalZone:
        candidates = [
            zone for zone in self.zones.values() if name.is_subdomain(zone.name) and name != zone.name
        ]
        if not candidates:
            raise ValueError(f"no zone holds {name}")
        return max(candidates, key=lambda zone: len(zone.name.labels))

    def _build(self) -> None:
        for zone in self.zones.values():
            _build_zone(zone, self.zones)
        self._dirty = False

    # Serving.

    def __enter__(self) -> LoopbackDns:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        for _ in range(20):
            probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            probe.bind((f"{self._prefix}1", 0))
            self.port = probe.getsockname()[1]
            probe.close()
            try:
                for address in list(self._by_address):
                    self._listen(address)
                self._started = True
                return
            except OSError as exc:
                self.stop()
                if exc.errno != errno.EADDRINUSE:
                    raise
        raise OSError("no free port for the loopback DNS server")

    def _listen(self, address: str) -> None:
        for kind in (_UdpServer, _TcpServer):
            server = kind((address, self.port), _UdpHandler if kind is _UdpServer else _TcpHandler)
            server.dns, server.address = self, address
            self._servers.append(server)
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()

    def stop(self) -> None:
        self._started = False
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self._servers.clear()

    def respond(self, address: str, query: dns.message.Message) -> dns.message.Message | None:
        """The answer to `query` sent to `address`; None for no answer at all."""
        with self._lock:
            if self._dirty:
                self._build()
            if not query.question:
                return None
            question = query.question[0]
            zone = _serving_zone(self._by_address.get(address, []), question.name, question.rdtype)
            if zone is None:
                return None
            self.queries[zone.name.to_text()] += 1
            return _answer(zone, query, question.name, question.rdtype)


def _serving_zone(zones: list[LocalZone], qname: dns.name.Name, qtype: int) -> LocalZone | None:
    """The deepest zone that holds `qname`; a DS set is its parent's to give."""
    holding = sorted(
        (zone for zone in zones if qname.is_subdomain(zone.name)), key=lambda zone: -len(zone.name.labels)
    )
    if len(holding) > 1 and qtype == T.DS and qname == holding[0].name:
        return holding[1]
    return holding[0] if holding else (zones[0] if zones else None)


def _answer(
    zone: LocalZone, query: dns.message.Message, qname: dns.name.Name, qtype: int
) -> dns.message.Message | None:
    response = dns.message.make_response(query)
    if zone.fault == "timeout":
        return None
    if zone.fault in ("servfail", "refused") or not qname.is_subdomain(zone.name):
        response.set_rcode(dns.rcode.REFUSED if zone.fault != "servfail" else dns.rcode.SERVFAIL)
        return response
    dnssec = bool(query.ednsflags & dns.flags.DO)
    if zone.fault == "forged_denial" and qtype == T.NS and qname != zone.name:
        response.flags |= dns.flags.AA
        response.set_rcode(dns.rcode.NXDOMAIN)
        response.authority.append(zone.rrsets[(zone.name, T.SOA)])
        return response
    cut = max(
        (c for c in zone.cuts if qname.is_subdomain(c) and not (qname == c and qtype == T.DS)),
        key=lambda c: len(c.labels),
        default=None,
    )
    if cut is not None:
        _referral(zone, response, cut, dnssec)
        return response
    response.flags |= dns.flags.AA
    if (qname, qtype) in zone.rrsets:
        _add(zone, response.answer, qname, qtype, dnssec)
        return response
    _add(zone, response.authority, zone.name, T.SOA, dnssec)
    if qname in zone.existing:
        if dnssec and zone.signed:
            _add_denial(zone, response, _matching(zone, qname))
        return response
    response.set_rcode(dns.rcode.NXDOMAIN)
    if dnssec and zone.signed:
        for proof in _name_error_proofs(zone, qname):
            _add_denial(zone, response, proof)
    return response


def _name_error_proofs(zone: LocalZone, qname: dns.name.Name) -> list:
    """The NSEC or NSEC3 records that prove `qname` does not exist, nor a wildcard that would
    answer for it."""
    if zone.nsec3:
        encloser, closer = _closest_encloser(zone, qname)
        return [
            _matching(zone, encloser),
            _covering(zone, closer),
            _covering(zone, _wildcard(encloser)),
        ]
    encloser = max((n for n in zone.existing if qname.is_subdomain(n)), key=lambda n: len(n.labels))
    return [_covering(zone, qname), _covering(zone, _wildcard(encloser))]


def _referral(zone: LocalZone, response: dns.message.Message, cut: dns.name.Name, dnssec: bool) -> None:
    ns = zone.rrsets[(cut, T.NS)]
    response.authority.append(ns)
    if dnssec and zone.signed:
        if (cut, T.DS) in zone.rrsets:
            _add(zone, response.authority, cut, T.DS, dnssec)
        elif zone.nsec3:
            matching = _matching(zone, cut)
            if matching is not None:
                _add_denial(zone, response, matching)
            else:  # opt-out: the closest encloser proof, with the next closer name covered
                encloser, closer = _closest_encloser(zone, cut)
                _add_denial(zone, response, _matching(zone, encloser))
                _add_denial(zone, response, _covering(zone, closer))
        else:
            _add_denial(zone, response, _matching(zone, cut))
    for rdata in ns:
        # Glue only for names within the delegated zone, as the root's and TLDs' servers give it.
        glue = zone.rrsets.get((rdata.target, T.A)) if rdata.target.is_subdomain(cut) else None
        if glue is None:
            continue
        if zone.fault == "lie_referral":
            glue = dns.rrset.from_text(rdata.target, _TTL, _IN, T.A, LYING_GLUE)
        response.additional.append(glue)


def _add(zone: LocalZone, section: list, name: dns.name.Name, rdtype: int, dnssec: bool) -> None:
    section.append(zone.rrsets[(name, rdtype)])
    if dnssec and (name, rdtype) in zone.signatures:
        section.append(zone.signatures[(name, rdtype)])


def _add_denial(zone: LocalZone, response: dns.message.Message, entry) -> None:
    if entry is None:
        return
    owner, rrset = entry
    rdtype = rrset.rdtype
    if any(r.name == owner and r.rdtype == rdtype for r in response.authority):
        return
    response.authority.append(rrset)
    response.authority.append(zone.signatures[(owner, rdtype)])


# The zone's data, signed.


def _build_zone(zone: LocalZone, zones: dict[dns.name.Name, LocalZone]) -> None:
    origin = zone.name
    rrsets: dict[tuple[dns.name.Name, int], dns.rrset.RRset] = {}
    _put(rrsets, origin, T.SOA, f"{zone.ns_name} hostmaster.{zone.ns_name} 1 7200 900 1209600 300")
    _put(rrsets, origin, T.NS, zone.ns_name.to_text())
    # Every server name this zone holds has its address here (glue, when below a cut).
    for other in zones.values():
        if other.ns_name.is_subdomain(origin):
            _put(rrsets, other.ns_name, T.A, other.address)
    if zone.dnskey is not None:
        rrsets[(origin, T.DNSKEY)] = dns.rrset.from_rdata_list(origin, _TTL, [zone.dnskey])
    zone.cuts = cuts = _delegate(zone, zones, rrsets)
    # Authoritative names: everything but the glue below a cut.
    owners = {name for name, _ in rrsets if not any(name.is_subdomain(c) and name != c for c in cuts)}
    zone.existing = existing = _with_ancestors(owners, origin)
    zone.chain = []
    zone.signatures = {}
    if zone.signed:
        if zone.nsec3:
            rrsets[(origin, T.NSEC3PARAM)] = dns.rrset.from_text(origin, 0, _IN, T.NSEC3PARAM, "1 0 0 -")
            _nsec3_chain(zone, rrsets, existing)
        else:
            _nsec_chain(zone, rrsets, sorted(owners))
        _sign(zone, rrsets, cuts)
    zone.rrsets = rrsets


def _put(rrsets: dict, name: dns.name.Name, rdtype: dns.rdatatype.RdataType, *texts: str) -> None:
    rrsets[(name, rdtype)] = dns.rrset.from_text_list(name, _TTL, _IN, rdtype, list(texts))


def _delegate(zone: LocalZone, zones: dict[dns.name.Name, LocalZone], rrsets: dict) -> set[dns.name.Name]:
    """The zone's cuts, each with its NS set (and a DS set for a signed child) put in `rrsets`:
    its child zones among `zones`, and the delegations to servers of their own."""
    cuts = set()
    for child in zones.values():
        if child.name != zone.name and _parent_of(child.name, zones) is zone:
            cuts.add(child.name)
            _put(rrsets, child.name, T.NS, child.ns_name.to_text())
            if child.dnskey is not None:
                rrsets[(child.name, T.DS)] = dns.rrset.from_rdata_list(
                    child.name, _TTL, [dns.dnssec.make_ds(child.name, child.dnskey, "SHA256")]
                )
    for name, targets in zone.delegations.items():
        cuts.add(name)
        _put(rrsets, name, T.NS, *(dns.name.from_text(t).to_text() for t in targets))
    return cuts


def _with_ancestors(owners: set[dns.name.Name], origin: dns.name.Name) -> set[dns.name.Name]:
    """The names that exist in the zone: its owners and every name between them and its origin."""
    existing = set(owners)
    for name in owners:
        while name != origin:
            name = name.parent()
            existing.add(name)
    return existing


def _parent_of(name: dns.name.Name, zones: dict[dns.name.Name, LocalZone]) -> LocalZone | None:
    above = [z for z in zones.values() if name.is_subdomain(z.name) and name != z.name]
    return max(above, key=lambda z: len(z.name.labels), default=None)


def _types_at(rrsets: dict, name: dns.name.Name, signed_here: bool) -> list[str]:
    types = {dns.rdatatype.to_text(rdtype) for owner, rdtype in rrsets if owner == name}
    if signed_here:
        types.add("RRSIG")
    return sorted(types)


def _nsec_chain(zone: LocalZone, rrsets: dict, names: list[dns.name.Name]) -> None:
    for index, name in enumerate(names):
        following = names[(index + 1) % len(names)]
        types = [*_types_at(rrsets, name, True), "NSEC"]
        rrset = dns.rrset.from_text(name, 300, _IN, T.NSEC, f"{following} {' '.join(types)}")
        zone.chain.append((name, rrset))
    for name, rrset in zone.chain:
        rrsets[(name, T.NSEC)] = rrset


def _nsec3_chain(zone: LocalZone, rrsets: dict, existing: set[dns.name.Name]) -> None:
    insecure = {c for c in zone.cuts if (c, T.DS) not in rrsets}
    names = [n for n in existing if not (zone.opt_out and n in insecure)]
    hashed = sorted((_hash(n), n) for n in names)
    flags = 1 if zone.opt_out else 0
    for index, (digest, name) in enumerate(hashed):
        following = hashed[(index + 1) % len(hashed)][0]
        signed_here = any(owner == name for owner, _ in rrsets) and name not in insecure
        types = " ".join(_types_at(rrsets, name, signed_here))
        owner = dns.name.from_text(digest, zone.name)
        rrset = dns.rrset.from_text(owner, 300, _IN, T.NSEC3, f"1 {flags} 0 - {following} {types}".strip())
        zone.chain.append((owner, rrset))
    for owner, rrset in zone.chain:
        rrsets[(owner, T.NSEC3)] = rrset


def _sign(zone: LocalZone, rrsets: dict, cuts: set[dns.name.Name]) -> None:
    assert zone.key is not None and zone.dnskey is not None
    inception = datetime.now(UTC) - timedelta(hours=1)
    expiration = inception + timedelta(days=30)
    for (name, rdtype), rrset in rrsets.items():
        below_cut = any(name.is_subdomain(c) for c in cuts) and not (
            name in cuts and rdtype in (T.DS, T.NSEC, T.NSEC3)
        )
        if below_cut:
            continue  # a delegation's NS set and the glue are the child's, not signed here
        rrsig = dns.dnssec.sign(
            rrset, zone.key, zone.name, zone.dnskey, inception=inception, expiration=expiration
        )
        zone.signatures[(name, rdtype)] = dns.rrset.from_rdata_list(name, rrset.ttl, [rrsig])


def _hash(name: dns.name.Name) -> str:
    return dns.dnssec.nsec3_hash(name, None, 0, 1).lower()


def _wildcard(name: dns.name.Name) -> dns.name.Name:
    return dns.name.Name((b"*",)).concatenate(name)


def _closest_encloser(zone: LocalZone, qname: dns.name.Name) -> tuple[dns.name.Name, dns.name.Name]:
    closer = qname
    while closer.parent() not in zone.existing or (zone.opt_out and closer.parent() in zone.cuts):
        closer = closer.parent()
    return closer.parent(), closer


def _matching(zone: LocalZone, name: dns.name.Name):
    if zone.nsec3:
        owner = dns.name.from_text(_hash(name), zone.name)
        return next(((o, r) for o, r in zone.chain if o == owner), None)
    return next(((o, r) for o, r in zone.chain if o == name), None)


def _covering(zone: LocalZone, name: dns.name.Name):
    key = _hash(name) if zone.nsec3 else name
    for owner, rrset in zone.chain:
        rdata = rrset[0]
        start = owner.labels[0].decode().lower() if zone.nsec3 else owner
        end = base64.b32hexencode(rdata.next).decode().lower().rstrip("=") if zone.nsec3 else rdata.next
        if start < key < end or (end <= start and (key > start or key < end)):  # type: ignore[operator]
            return owner, rrset
    return None


# The wire.


class _Serving:
    """What a handler needs of its server: the zones, and the address it listens on."""

    dns: LoopbackDns
    address: str


class _UdpServer(_Serving, socketserver.ThreadingUDPServer):
    daemon_threads = True
    allow_reuse_address = False


class _TcpServer(_Serving, socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def _reply(server: _Serving, wire: bytes, limit: int | None) -> bytes | None:
    try:
        query = dns.message.from_wire(wire)
    except dns.exception.DNSException:
        return None
    response = server.dns.respond(server.address, query)
    if response is None:
        return None
    if limit is None:
        return response.to_wire()
    try:
        return response.to_wire(max_size=max(512, query.payload if query.edns >= 0 else 512))
    except dns.exception.TooBig:
        truncated = dns.message.make_response(query)
        truncated.flags |= dns.flags.TC
        return truncated.to_wire()


class _Handler(socketserver.BaseRequestHandler):
    def _serving(self) -> _Serving:
        assert isinstance(self.server, _Serving)
        return self.server


class _UdpHandler(_Handler):
    def handle(self) -> None:
        data, sock = self.request
        wire = _reply(self._serving(), data, limit=512)
        if wire is not None:
            with contextlib.suppress(OSError):
                sock.sendto(wire, self.client_address)


class _TcpHandler(_Handler):
    def handle(self) -> None:
        with contextlib.suppress(OSError, struct.error):
            size = struct.unpack("!H", _read(self.request, 2))[0]
            wire = _reply(self._serving(), _read(self.request, size), limit=None)
            if wire is not None:
                self.request.sendall(struct.pack("!H", len(wire)) + wire)


def _read(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise OSError("the client hung up")
        data += chunk
    return data
