"""A loopback stand-in for Fastly's Domain Research status API, for tests and local runs.

It answers ``GET /domain-management/v1/tools/status?domain=D`` on 127.0.0.1 as Fastly does,
and its faults on demand::

    with LoopbackFastly() as fastly:
        fastly.set_status("lapsed.com", "undelegated inactive")
        fastly.set_answer("broken.com", 400, {"errors": [{"code": "400", "message": "bad"}]})
        provider = FastlyProvider(api_key=fastly.api_key, base_url=fastly.url, allow_loopback_http=True)

Names nobody set are registered: they answer ``"status": "active"``, so that a lapse is always
one a test asked for. A request without the right ``Fastly-Key`` header answers 401 with an
error body, as Fastly does (unless the server was made with ``require_key=False``, to play a
server a redirect leads to). Every request's path and headers are kept in `requests`.

Run it alone for a local run (``python -m lapsewatch_tools.local.fastly_server --status
lapsed.com="undelegated inactive"``), then point lapsewatch at it with LAPSEWATCH_FASTLY_URL and
LAPSEWATCH_FASTLY_API_KEY.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import secrets
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from lapsewatch_tools.local.loopback import LoopbackHandler, LoopbackServer

STATUS_PATH = "/domain-management/v1/tools/status"
KEY_HEADER = "Fastly-Key"


def errors_body(code: int | str, message: str, detail: str) -> dict:
    """Fastly's error document."""
    return {"errors": [{"code": str(code), "message": message, "detail": detail}]}


def status_body(domain: str, status: str, *, zone: str | None = None, tags: str = "generic") -> dict:
    """Fastly's answer for `domain` in `status` (space-separated tokens)."""
    return {"domain": domain, "zone": zone or _zone(domain), "status": status, "tags": tags}


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    body: bytes | object = b""  # bytes as they are, else a JSON value to encode
    headers: Mapping[str, str] = field(default_factory=dict)
    # Status tokens: the answer is then Fastly's status document for the domain asked.
    tokens: str | None = None


class _Server(LoopbackServer):
    def __init__(self, owner: LoopbackFastly) -> None:
        self.owner = owner
        super().__init__(_Handler)


class _Handler(LoopbackHandler):
    server: _Server

    def do_GET(self) -> None:
        try:
            self.server.owner._serve(self)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def send(self, status: int, body: bytes | object, headers: Mapping[str, str] | None = None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass  # tests want quiet


class LoopbackFastly:
    """Fastly's status endpoint on a 127.0.0.1 port. Use as a context manager, or start/close."""

    def __init__(self, api_key: str | None = None, *, require_key: bool = True) -> None:
        self.api_key = api_key or f"loopback-fastly-{secrets.token_hex(8)}"
        self.require_key = require_key
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._lock = threading.Lock()
        self._answers: dict[str, _Answer] = {}
        # Every request received: its path (with the query) and its headers.
        self.requests: list[tuple[str, dict[str, str]]] = []

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def url(self) -> str:
        """The status endpoint: FastlyProvider's base_url, LAPSEWATCH_FASTLY_URL."""
        return self.origin + STATUS_PATH

    def start(self) -> LoopbackFastly:
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> LoopbackFastly:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def set_status(self, domain: str, status: str) -> None:
        """Answer 200 with `status` (Fastly's tokens, such as "undelegated inactive") for `domain`."""
        self._set(domain, _Answer(200, tokens=status))

    def set_answer(
        self,
        domain: str,
        status_code: int,
        body: bytes | object = b"",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Answer exactly this for `domain`: a status code, a body (bytes as they are, or a JSON
        value to encode) and headers; "{domain}" in a header (a redirect's Location) is filled in."""
        self._set(domain, _Answer(status_code, body, dict(headers or {})))

    def reset(self) -> None:
        """Forget every answer set and every request seen."""
        with self._lock:
            self._answers.clear()
            self.requests.clear()

    def asked(self, domain: str) -> list[dict[str, str]]:
        """The headers of every request received for `domain`."""
        with self._lock:
            seen = list(self.requests)
        return [headers for path, headers in seen if _domain_of(path) == _key(domain)]

    def _set(self, domain: str, answer: _Answer) -> None:
        with self._lock:
            self._answers[_key(domain)] = answer

    def _serve(self, handler: _Handler) -> None:
        with self._lock:
            self.requests.append((handler.path, dict(handler.headers.items())))
        parts = urlsplit(handler.path)
        if parts.path != STATUS_PATH:
            handler.send(404, errors_body(404, "Not Found", f"no such endpoint: {parts.path}"))
            return
        if self.require_key and handler.headers.get(KEY_HEADER) != self.api_key:
            handler.send(401, errors_body(401, "Unauthorized", "Provided credentials are missing or invalid"))
            return
        domains = parse_qs(parts.query).get("domain", [])
        if len(domains) != 1 or not domains[0].strip():
            handler.send(400, errors_body(400, "Bad Request", "one domain parameter is required"))
            return
        domain = domains[0]
        with self._lock:
            answer = self._answers.get(_key(domain))
        if answer is None:
            handler.send(200, status_body(domain, "active"))
        elif answer.tokens is not None:
            handler.send(answer.status, status_body(domain, answer.tokens))
        else:
            headers = {name: value.replace("{domain}", domain) for name, value in answer.headers.items()}
            handler.send(answer.status, answer.body, headers)


def _key(domain: str) -> str:
    return domain.strip().lower().removesuffix(".")


def _zone(domain: str) -> str:
    return _key(domain).partition(".")[2] or _key(domain)


def _domain_of(path: str) -> str | None:
    domains = parse_qs(urlsplit(path).query).get("domain", [])
    return _key(domains[0]) if domains else None


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--api-key", help="the Fastly-Key to require (a random one when unset)")
    parser.add_argument(
        "--status",
        action="append",
        default=[],
        metavar="DOMAIN=STATUS",
        help='a domain\'s status tokens, e.g. lapsed.com="undelegated inactive" (repeatable)',
    )
    options = parser.parse_args(argv)
    with LoopbackFastly(options.api_key) as server:
        for item in options.status:
            domain, sep, status = item.partition("=")
            if not sep or not domain.strip():
                parser.error(f"--status takes DOMAIN=STATUS, not {item!r}")
            server.set_status(domain, status)
        print(f"LAPSEWATCH_FASTLY_URL={server.url}")
        print(f"LAPSEWATCH_FASTLY_API_KEY={server.api_key}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
