"""No test sends traffic beyond loopback: not a connection, not a datagram, not a DNS lookup.

Installed in the test process (conftest) and, through `sitecustomize`, in every Python process a
test starts. A connection or datagram to any address outside 127.0.0.0/8 and ::1 is refused
with an OSError, as an unreachable network would be, and recorded; a name other than localhost
is not resolved at all (as if it did not exist), so no query reaches the machine's resolver.
The conftest fails the test in which anything was recorded, so code that would swallow the
OSError (a lookup turning it into doubt) cannot hide the attempt.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import threading

_lock = threading.Lock()
_violations: list[str] = []
_log: str | None = None


def _loopback(host: object) -> bool:
    if not isinstance(host, str):
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _record(what: str) -> None:
    with _lock:
        _violations.append(what)
        if _log:
            with open(_log, "a", encoding="utf-8") as log:
                log.write(f"{os.getpid()}: {what}\n")


def _check_address(address: object, what: str) -> None:
    if isinstance(address, tuple) and address and not _loopback(address[0]):
        _record(f"{what} {address[0]}:{address[1] if len(address) > 1 else ''}")
        raise OSError(errno.ENETUNREACH, f"socket guard: {address[0]} is not loopback")


def install(log: str | None = None) -> None:
    """Guard this process; `log` also receives each violation, for processes started later."""
    global _log
    _log = log
    if getattr(socket, "_lapsewatch_guarded", False):
        return
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    real_sendto, real_getaddrinfo = socket.socket.sendto, socket.getaddrinfo

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _check_address(address, "connect to")
        return real_connect(self, address)

    def connect_ex(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _check_address(address, "connect to")
        return real_connect_ex(self, address)

    def sendto(self, data, *args):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _check_address(args[-1], "datagram to")
        return real_sendto(self, data, *args)

    def getaddrinfo(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host
        if name is not None and not _loopback(name) and not _is_address(name):
            raise socket.gaierror(socket.EAI_NONAME, f"socket guard: {name} is not resolved in tests")
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    socket.socket.sendto = sendto  # type: ignore[method-assign]
    socket.getaddrinfo = getaddrinfo
    socket._lapsewatch_guarded = True  # type: ignore[attr-defined]


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    return True


def take_violations() -> list[str]:
    """What was recorded in this process since the last call, and forget it."""
    with _lock:
        taken = list(_violations)
        _violations.clear()
    return taken
