"""Progress for a step that takes a while (an approval of many held decisions): no silent wait
longer than about two seconds. On a terminal a live line, rewritten each second; elsewhere a
plain line every few seconds, so that a log shows the step went on."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import TextIO

# Quiet for this long: a step that ends sooner says nothing.
SILENT_SECONDS = 2.0
LIVE_EVERY = 1.0
PLAIN_EVERY = 5.0


class Ticker:
    """`with Ticker("approving 8 decisions", sys.stderr, count=...)`: `count`, if given, says how
    far the step has got ("3 of 8 settled"); an exception from it leaves the line without."""

    def __init__(self, what: str, stream: TextIO, *, count: Callable[[], str] | None = None) -> None:
        self.what = what
        self.stream = stream
        self.count = count
        self.live = stream.isatty()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._shown = False
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._tick, daemon=True)

    def __enter__(self) -> Ticker:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        with self._lock:
            if self.live and self._shown:
                self.stream.write("\n")
            self.stream.flush()

    def _tick(self) -> None:
        if self._stop.wait(SILENT_SECONDS):
            return
        while True:
            line = f"{self.what}: {time.monotonic() - self._started:.0f} s"
            if self.count is not None:
                # A count that cannot be read leaves the line without it.
                with contextlib.suppress(Exception):
                    line += f", {self.count()}"
            with self._lock:
                if self._stop.is_set():
                    return
                self.stream.write(f"\r\033[K{line}" if self.live else f"{line}\n")
                self._shown = True
                self.stream.flush()
            if self._stop.wait(LIVE_EVERY if self.live else PLAIN_EVERY):
                return
