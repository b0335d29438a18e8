"""A loopback stand-in for registries' WHOIS servers (port 43), for tests and local runs.

It reads one query line, answers, and closes, as a registry's server does; and it plays hostile
servers on demand::

    with LoopbackWhois() as whois:
        whois.set_state("lapsed.it", "redemption")          # .it's own format
        whois.set_answer("odd.it", b"Domain: odd.it\\nStatus: weird\\n")
        whois.set_fault("slow.it", "trickle")
        # lapsewatch check lapsed.it --whois-server it=127.0.0.1:<whois.port>

Names nobody set are registered, in their TLD's format (`whois_answers`). Faults: `no_match`
(the "no match" answer for the name, whatever it is), `rate_limit` (a refusal text), `trickle`
(a byte at a time, slower than a query may take), `endless` (an answer that never ends),
`wrong_encoding` (the registered answer in UTF-16), `other_name` (a record of another name),
`referral` (a referral to a registrar's server), `silent` (never answers), `close` (hangs up).
`fault_all` applies one fault to every name. Every query line received, as bytes, is kept in
`queries`, one per connection. With a `limit` (queries a second, a token bucket holding `burst`),
it refuses the queries beyond it as a registry does, with a rate-limit text, and counts them in
`refused`.

Run it alone for a local run (``python -m lapsewatch_tools.local.whois_server --state
lapsed.it=redemption``) and point lapsewatch at it with ``--whois-server it=127.0.0.1:PORT``.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime

from lapsewatch_tools.local.whois_answers import DEFAULT_CREATED, REGISTERED, answer

FAULTS = frozenset(
    {
        "no_match",
        "rate_limit",
        "trickle",
        "endless",
        "wrong_encoding",
        "other_name",
        "referral",
        "silent",
        "close",
    }
)
RATE_LIMIT_TEXT = b"%% Maximum query rate reached\r\n"


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, owner: LoopbackWhois) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], OSError):  # clients hanging up are part of the job
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class _Handler(socketserver.StreamRequestHandler):
    timeout = 15

    def handle(self) -> None:
        line = self.rfile.readline(1024)
        owner: LoopbackWhois = self.server.owner  # type: ignore[attr-defined]
        with owner.lock:
            owner.queries.append(line)
        owner.respond(self.connection, line)


class LoopbackWhois:
    def __init__(self, *, tld: str | None = None, limit: float | None = None, burst: int = 1) -> None:
        # The TLD whose format names nobody set answer in, when a name's own TLD has none.
        self.tld = tld
        self.lock = threading.Lock()
        self.queries: list[bytes] = []
        self.limit = limit
        self.burst = burst
        self.refused = 0
        self._tokens = float(burst)
        self._refilled = time.monotonic()
        self._states: dict[str, tuple[str, datetime]] = {}
        self._answers: dict[str, bytes] = {}
        self._faults: dict[str, str] = {}
        self.fault_all: str | None = None
        self._closing = threading.Event()
        self._server = _Server(self)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> LoopbackWhois:
        self._thread.start()
        return self

    def close(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> LoopbackWhois:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def set_state(self, domain: str, state: str, created: datetime = DEFAULT_CREATED) -> None:
        with self.lock:
            self._states[domain.lower()] = (state, created)

    def set_answer(self, domain: str, body: bytes) -> None:
        with self.lock:
            self._answers[domain.lower()] = body

    def set_fault(self, domain: str, fault: str) -> None:
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}: choose from {', '.join(sorted(FAULTS))}")
        with self.lock:
            self._faults[domain.lower()] = fault

    def asked(self, domain: str) -> list[bytes]:
        with self.lock:
            return [line for line in self.queries if domain.lower().encode() in line.lower()]

    def respond(self, connection: socket.socket, line: bytes) -> None:
        query = line.decode("ascii", "replace").strip()
        domain = query.split()[-1].split("/")[0].lower() if query.split() else ""
        if not self._admitted():
            connection.sendall(RATE_LIMIT_TEXT)
            return
        with self.lock:
            fault = self._faults.get(domain) or self.fault_all
            body = self._answers.get(domain)
            state, created = self._states.get(domain, (REGISTERED, DEFAULT_CREATED))
        if fault is None:
            connection.sendall(body if body is not None else self._text(domain, state, created).encode())
        else:
            self._fault(connection, fault, domain, created)

    def _admitted(self) -> bool:
        """Whether a query keeps to the limit (always, without one); a refused one is counted."""
        if self.limit is None:
            return True
        with self.lock:
            now = time.monotonic()
            self._tokens = min(float(self.burst), self._tokens + (now - self._refilled) * self.limit)
            self._refilled = now
            if self._tokens >= 1:
                self._tokens -= 1
                return True
            self.refused += 1
            return False

    def _text(self, domain: str, state: str, created: datetime) -> str:
        tld = domain.rsplit(".", 1)[-1]
        try:
            return answer(tld, domain, state, created)
        except KeyError:
            if self.tld is None:
                raise
            return answer(self.tld, domain, state, created)

    def _fault(self, connection: socket.socket, fault: str, domain: str, created: datetime) -> None:
        body = self._fault_body(fault, domain, created)
        if body is not None:
            connection.sendall(body)
        elif fault == "trickle":
            for byte in self._text(domain, REGISTERED, created).encode():
                if self._closing.wait(0.5):
                    return
                connection.sendall(bytes([byte]))
        elif fault == "endless":
            chunk = b"% still talking\r\n" * 512
            while not self._closing.is_set():
                connection.sendall(chunk)
        elif fault == "silent":
            self._closing.wait(30)
        # "close": hang up without a word

    def _fault_body(self, fault: str, domain: str, created: datetime) -> bytes | None:
        """The whole answer a fault sends at once; None for the faults that stream or say nothing."""
        other_name = "someone-else." + domain.rsplit(".", 1)[-1]
        bodies: dict[str, Callable[[], bytes]] = {
            "no_match": lambda: self._text(domain, "unregistered", created).encode(),
            "rate_limit": lambda: RATE_LIMIT_TEXT,
            "wrong_encoding": lambda: self._text(domain, REGISTERED, created).encode("utf-16"),
            "other_name": lambda: self._text(other_name, REGISTERED, created).encode(),
            "referral": lambda: (
                f"Domain Name: {domain}\r\nRegistrar WHOIS Server: whois.registrar.example\r\n".encode()
            ),
        }
        make = bodies.get(fault)
        return None if make is None else make()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A loopback WHOIS server playing registries' formats.")
    parser.add_argument("--state", action="append", default=[], metavar="DOMAIN=STATE")
    parser.add_argument("--fault", action="append", default=[], metavar="DOMAIN=FAULT")
    args = parser.parse_args(argv)
    with LoopbackWhois() as whois:
        for text in args.state:
            domain, _, state = text.partition("=")
            whois.set_state(domain, state)
        for text in args.fault:
            domain, _, fault = text.partition("=")
            whois.set_fault(domain, fault)
        print(f"WHOIS on {whois.endpoint()}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)


if __name__ == "__main__":
    main()
