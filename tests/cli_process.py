"""`lapsewatch` run as an operator runs it: a process of its own, from the checkout, with the
registry token (or none) in its environment."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def lapsewatch(*args, token=None, stdin=None, extra_env=None, timeout=240):
    env = {name: value for name, value in os.environ.items() if name != "LAPSEWATCH_REGISTRY_TOKEN"}
    env |= extra_env or {}
    if token:
        env["LAPSEWATCH_REGISTRY_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "lapsewatch", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        input=stdin,
    )
