"""lapsewatch as a registry engineer installs it: the wheel in a fresh venv, run from a folder
outside the checkout. `make installed-check` builds the wheel and the venv, then runs this with
the venv's Python; it exits non-zero, saying which command failed, if any does.

Each command is one an operator runs first: --version, check, registry serve --demo with
registry conformance against it, and one whole run.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def lapsewatch(*args: str, env: dict[str, str] | None = None, ok: tuple[int, ...] = (0,)) -> str:
    command = [str(Path(sys.executable).parent / "lapsewatch"), *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    if result.returncode not in ok:
        sys.exit(f"`lapsewatch {' '.join(args)}` exited {result.returncode}:\n{result.stdout}{result.stderr}")
    print(f"ok: lapsewatch {' '.join(args)}")
    return result.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(port: int) -> None:
    for _ in range(100):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    sys.exit(f"`lapsewatch registry serve` did not listen on port {port}")


def main() -> None:
    os.chdir(tempfile.mkdtemp(prefix="lapsewatch-outside-"))
    lapsewatch("--version")
    # An unserved TLD: an answer (unknown, exit 3) with no lookup leaving the machine.
    lapsewatch("check", "--json", "maintainer@example.invalid", ok=(3,))
    port, token = free_port(), secrets.token_hex(8)
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "lapsewatch"), "registry", "serve", "--demo", "--port", str(port)],
        env={**os.environ, "LAPSEWATCH_REGISTRY_TOKEN": token},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(port)
        lapsewatch(
            "registry",
            "conformance",
            "--url",
            f"http://127.0.0.1:{port}",
            env={**os.environ, "LAPSEWATCH_REGISTRY_TOKEN": token},
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
    lapsewatch("run", "--state", "state")


if __name__ == "__main__":
    main()
