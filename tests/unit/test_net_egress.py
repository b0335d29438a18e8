"""Where a lookup may connect: public addresses on the allowed ports; loopback only locally."""

import socket

import pytest

from lapsewatch.net import egress
from lapsewatch.net.egress import EgressPolicy, EgressRefused, parse_ports

STRICT = EgressPolicy()
LOCAL = EgressPolicy(allow_loopback=True)


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("100.64.0.1", "shared (CGNAT)"),
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.251", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("192.0.2.1", "private"),  # documentation (TEST-NET-1)
        ("198.18.0.1", "private"),  # benchmarking
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("fe80::1", "link-local"),
        ("ff02::1", "multicast"),
        ("::ffff:a9fe:a9fe", "169.254.169.254) is a link-local"),
        ("::ffff:10.1.2.3", "private"),
        ("64:ff9b::a9fe:a9fe", "link-local"),
        ("64:ff9b::7f00:1", "loopback"),
        ("64:ff9b:1::a00:1", "local-use NAT64"),
        ("2002:a9fe:a9fe::1", "link-local"),
        ("2002:0a00:0001::1", "private"),
        ("2001:db8::1", "private"),  # documentation
        ("not-an-address", "not an IP address"),
    ],
)
def test_internal_addresses_are_refused(address, why):
    assert why in STRICT.refusal(address, 443)


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "192.0.47.59"])
def test_public_addresses_on_443_are_allowed(address):
    assert STRICT.refusal(address, 443) is None


def test_other_ports_need_a_setting():
    assert "port 80 is not allowed (allowed: 443)" in STRICT.refusal("8.8.8.8", 80)
    assert EgressPolicy(ports=frozenset({443, 8443})).refusal("8.8.8.8", 8443) is None


@pytest.mark.parametrize("address", ["127.0.0.1", "127.0.0.2", "::1", "::ffff:127.0.0.1"])
def test_loopback_on_any_port_only_when_allowed(address):
    assert LOCAL.refusal(address, 54321) is None
    assert "loopback" in STRICT.refusal(address, 443)


def test_local_tools_still_refuse_private_addresses():
    assert "private" in LOCAL.refusal("10.0.0.1", 443)
    assert "link-local" in LOCAL.refusal("169.254.169.254", 443)


@pytest.mark.parametrize(("text", "ports"), [("443", {443}), ("443, 8443", {443, 8443}), ("8443,", {8443})])
def test_ports_parse(text, ports):
    assert parse_ports(text) == ports


@pytest.mark.parametrize("text", ["", ",", "0", "65536", "https", "-1", "44 3"])
def test_bad_ports_are_refused(text):
    with pytest.raises(ValueError):
        parse_ports(text)


def _resolver(*answers):
    """A getaddrinfo that answers each call with the next list of addresses, and counts calls."""
    calls = []

    def getaddrinfo(host, port, *args, **kwargs):
        calls.append(host)
        addresses = answers[min(len(calls), len(answers)) - 1]
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in addresses
        ]

    return getaddrinfo, calls


def test_a_name_resolving_to_internal_addresses_is_refused_before_any_socket(monkeypatch):
    getaddrinfo, calls = _resolver(["169.254.169.254", "10.0.0.1"])
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket, "socket", lambda *a: pytest.fail("a socket was opened"))
    with pytest.raises(EgressRefused, match=r"169\.254\.169\.254 is a link-local address; 10\.0\.0\.1"):
        egress.connect(("metadata.example", 443), 1.0, policy=STRICT)
    assert calls == ["metadata.example"]


def test_the_address_checked_is_the_address_connected(monkeypatch):
    """DNS rebinding: the name is resolved once, and the socket goes to what was checked. A
    second resolution (here: loopback) is never made."""
    getaddrinfo, calls = _resolver(["127.0.0.1"], ["10.0.0.1"])
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        sock = egress.connect(("rebinding.example", port), 1.0, policy=LOCAL)
        with sock:
            assert sock.getpeername() == ("127.0.0.1", port)
    assert calls == ["rebinding.example"]


def test_allowed_addresses_are_tried_and_refused_ones_skipped(monkeypatch):
    getaddrinfo, _ = _resolver(["10.0.0.1", "127.0.0.1"])
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        with egress.connect(("mixed.example", port), 1.0, policy=LOCAL) as sock:
            assert sock.getpeername()[0] == "127.0.0.1"
