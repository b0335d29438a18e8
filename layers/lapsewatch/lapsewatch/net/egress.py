"""Where a status lookup may connect: public addresses, on the allowed ports.

A redirect, a bootstrap entry or a DNS answer could point a lookup at the machine's own
network: a cloud metadata service (169.254.169.254), a VPC's private services, the host's
loopback. TLS verification is not enough of a barrier (an internal service may hold a valid
certificate). So every connection of a status lookup is checked at the moment it is made,
against the addresses the name resolved to for that very connection: a name that resolves to a
public address for a check and to a private one for the connect (DNS rebinding) cannot pass,
because the socket connects to the address that was checked and to no other.

Refused: loopback, private (RFC 1918, IPv6 ULA), link-local, shared (CGNAT, 100.64.0.0/10),
multicast, reserved, unspecified, and every other address IANA does not call globally
reachable, also when written as an IPv4-mapped, NAT64 or 6to4 IPv6 address. Loopback, on any
port, only for the local tools (the CLI and the local runner), whose tests and demo servers run
there; the Lambda functions never.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field

DEFAULT_PORTS = frozenset({443})
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_SHARED = ipaddress.ip_network("100.64.0.0/10")

type IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class EgressRefused(Exception):
    """A connection the egress rules refuse; the message names the address and why.

    Not an OSError on purpose: urllib3 and requests would wrap one as a connection failure worth
    another try, and a refusal is final.
    """


def parse_ports(text: str) -> frozenset[int]:
    """An operator's list of allowed ports ("443,8443"); raises ValueError."""
    ports = set()
    for part in filter(None, (p.strip() for p in text.split(","))):
        if not part.isdigit() or not 1 <= int(part) <= 65535:
            raise ValueError(f"{part!r} is not a port (1 to 65535)")
        ports.add(int(part))
    if not ports:
        raise ValueError("the list of allowed ports is empty")
    return frozenset(ports)


@dataclass(frozen=True, slots=True)
class EgressPolicy:
    allow_loopback: bool = False
    ports: frozenset[int] = field(default=DEFAULT_PORTS)

    def refusal(self, address: str, port: int) -> str | None:
        """Why a connection to `address`:`port` is refused, or None when it may go ahead."""
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return f"{address} is not an IP address"
        embedded = _embedded_ipv4(ip)
        if self.allow_loopback and (ip.is_loopback or (embedded is not None and embedded.is_loopback)):
            return None
        if isinstance(ip, ipaddress.IPv6Address) and ip in _NAT64_LOCAL:
            return f"{address} is a local-use NAT64 address"
        written = f"{address} ({embedded})" if embedded is not None else address
        if why := internal(embedded if embedded is not None else ip):
            return f"{written} is {why}"
        if port not in self.ports:
            allowed = ", ".join(map(str, sorted(self.ports)))
            return f"port {port} is not allowed (allowed: {allowed})"
        return None


STRICT = EgressPolicy()


def internal(ip: IpAddress) -> str | None:
    """What kind of non-public address `ip` is, in words; None for a globally reachable one."""
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED:
        return "a shared (CGNAT) address"
    if ip.is_reserved:
        return "a reserved address"
    if ip.is_private:
        return "a private address"
    if not ip.is_global:
        return "not a public address"
    return None


def _embedded_ipv4(ip: IpAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for: IPv4-mapped, NAT64 (64:ff9b::/96), 6to4."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


def connect(
    address: tuple[str, int],
    timeout: float | None,
    *,
    policy: EgressPolicy,
    source_address: tuple[str, int] | None = None,
    socket_options: Iterable[tuple[int, int, int]] | None = None,
) -> socket.socket:
    """urllib3's create_connection, but only to addresses `policy` allows.

    Resolves the name once and connects to the checked addresses alone. Raises EgressRefused
    when every address is refused, socket.gaierror when the name does not resolve, OSError when
    no allowed address could be reached.
    """
    host, port = address
    host = host.strip("[]")
    refusals = []
    error: OSError | None = None
    for family, kind, proto, _, sockaddr in socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM):
        why = policy.refusal(str(sockaddr[0]), port)
        if why is not None:
            refusals.append(why)
            continue
        sock = socket.socket(family, kind, proto)
        try:
            for option in socket_options or ():
                sock.setsockopt(*option)
            if timeout is not None:
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            error = exc
            sock.close()
    if error is not None:
        raise error
    if refusals:
        raise EgressRefused(f"refused to connect to {host}: {'; '.join(dict.fromkeys(refusals))}")
    raise OSError(f"{host} resolves to no address")
