"""The socket guard, in every Python process the tests start: see tests/socket_guard/guard.py."""

import os

if os.environ.get("LAPSEWATCH_SOCKET_GUARD_LOG"):
    import guard

    guard.install(os.environ["LAPSEWATCH_SOCKET_GUARD_LOG"])
