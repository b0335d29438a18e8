"""The reference registry: the registry API v1 (docs/registry-api.yaml) served from SQLite.

It stands in for PyPI or npm in local runs, the demo and the tests, so it implements the
contract to the letter, plus two read-only endpoints for operators and tests (`/v1/emails` and
`/v1/audit`) and a fault plan that makes chosen calls fail on purpose.

Everything is the standard library: sqlite3 (store.py), a WSGI app (app.py) and, here,
wsgiref's server with one thread per connection, which RegistryServer runs on a loopback port
and `lapsewatch registry serve` runs in the foreground. Faults live in faults.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import sqlite3
import sys
import threading
from collections.abc import Iterable
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from lapsewatch.net.urls import is_loopback
from lapsewatch_tools.registry.app import RegistryApp
from lapsewatch_tools.registry.store import SeedReport

# Seconds a connection may take over each read or write of a request: a client that trickles its
# request (slowloris) is cut off instead of holding a thread for ever.
REQUEST_TIMEOUT = 10.0


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    # Daemon threads: a slow answer (a fault, a stuck client) never holds up shutdown.
    daemon_threads = True
    quiet = True
    request_timeout = REQUEST_TIMEOUT


class _RequestHandler(WSGIRequestHandler):
    def setup(self) -> None:
        self.request.settimeout(self.server.request_timeout)  # type: ignore[attr-defined]
        super().setup()

    def handle(self) -> None:
        try:
            super().handle()
        except TimeoutError:
            self.close_connection = True

    def get_environ(self) -> dict:
        environ = super().get_environ()
        environ["lapsewatch.drop_connection"] = self._drop_connection
        return environ

    def _drop_connection(self) -> None:
        # The client sees the connection close with no answer; wsgiref ignores the broken pipe
        # when it then tries to write.
        self.connection.shutdown(socket.SHUT_RDWR)

    def log_message(self, format: str, *args) -> None:
        if not self.server.quiet:  # type: ignore[attr-defined]
            super().log_message(format, *args)


class RegistryServer:
    """Serve a RegistryApp on a loopback port from a background thread, one thread per connection.

    with RegistryServer() as registry:
        registry.load_seed(["{...}"])
        client = RegistryClient(registry.url, registry.token, allow_loopback_http=True)
    """

    def __init__(
        self,
        app: RegistryApp | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        quiet: bool = True,
        request_timeout: float = REQUEST_TIMEOUT,
    ) -> None:
        # Without an app: the tests' registry, whose token may read addresses, as the demo's may.
        self.app = app or RegistryApp(token=secrets.token_urlsafe(24), address_reads=True)
        self._httpd = _ThreadingWSGIServer((host, port), _RequestHandler)
        self._httpd.request_timeout = request_timeout
        self._httpd.quiet = quiet
        self._httpd.set_app(self.app)
        self.url = f"http://{host}:{self._httpd.server_port}"
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    @property
    def token(self) -> str:
        return self.app.token

    def load_seed(self, source: str | os.PathLike | Iterable[str]) -> SeedReport:
        return self.app.load_seed(source)

    def start(self) -> RegistryServer:
        # A short poll keeps stop() quick: tests start and stop a registry each.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="registry", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> RegistryServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def serve_command(args) -> int:
    """`lapsewatch registry serve`: serve until Ctrl-C, with the users of --seed or --demo."""
    token = args.token or secrets.token_urlsafe(24)
    demo = getattr(args, "demo", False)
    # With a database file, the demo data set is loaded once, into a new file: loaded again it
    # would give every user a second copy of each address.
    new_database = args.db == ":memory:" or not Path(args.db).exists()
    try:
        # Only the demo's token reads addresses (/v1/emails, /v1/notices).
        app = RegistryApp(args.db, token=token, address_reads=demo)
    except sqlite3.Error as exc:
        print(f"lapsewatch: error: cannot open the database {args.db}: {exc}", file=sys.stderr)
        return 2
    if args.seed:
        if not _load_seed(app, args.seed):
            return 2
    elif demo and new_database:
        from lapsewatch_tools.registry.demo import demo_population

        report = app.load_seed(json.dumps(record) for record in demo_population().records)
        print(f"loaded the demo data set: {report.loaded} addresses", file=sys.stderr)
    elif demo:
        print(f"the demo data set is already in {args.db}", file=sys.stderr)
    if not is_loopback(args.host):
        print(
            f"lapsewatch: warning: serving plain http on {args.host}: the token and every address "
            "travel unencrypted to anyone on the network",
            file=sys.stderr,
        )
    try:
        server = RegistryServer(app, host=args.host, port=args.port, quiet=False)
    except OSError as exc:
        why = exc.strerror or str(exc)
        print(f"lapsewatch: error: cannot listen on {args.host}:{args.port}: {why}", file=sys.stderr)
        return 2
    with server:
        _announce(server, token, given_token=bool(args.token), demo=demo)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


def _load_seed(app: RegistryApp, seed: str) -> bool:
    """Load the users of the seed file, saying how many; False, the error said, when it cannot be
    read or is mostly bad lines."""
    try:
        report = app.load_seed(Path(seed))
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        print(f"lapsewatch: error: cannot read the seed {seed}: {why}", file=sys.stderr)
        return False
    for line_no, reason in report.errors:
        print(f"{seed}:{line_no}: {reason}", file=sys.stderr)
    if len(report.errors) > report.loaded:
        # Mostly errors: the wrong file, or the wrong format. Serving what little loaded
        # would look like a registry with almost no users.
        print(
            f"lapsewatch: error: {seed} is mostly bad lines ({len(report.errors)} bad, "
            f"{report.loaded} loaded): not serving it",
            file=sys.stderr,
        )
        return False
    print(f"loaded {report.loaded} addresses, {len(report.errors)} bad lines skipped", file=sys.stderr)
    return True


def _announce(server: RegistryServer, token: str, *, given_token: bool, demo: bool) -> None:
    """Where the registry listens, its token (unless the user gave it), and what to try."""
    print(f"lapsewatch registry listening on {server.url}", flush=True)
    if given_token:
        print("token: the one given (--token or LAPSEWATCH_REGISTRY_TOKEN)", flush=True)
    else:
        print(f"token: {token}", flush=True)
    if demo:
        command = f"lapsewatch coverage --registry-url {server.url}"
        print(
            f"try: {command}" if given_token else f"try: LAPSEWATCH_REGISTRY_TOKEN={token} {command}",
            flush=True,
        )
    print("Ctrl-C stops it", file=sys.stderr, flush=True)
