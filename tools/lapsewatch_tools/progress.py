"""No silent wait longer than about two seconds: a run's progress through its shards
(`RunProgress`), and a step that takes a while, such as an approval of many held decisions
(`Ticker`). On a terminal a live line, rewritten in place; elsewhere plain lines, so that a log
shows the step went on."""

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
# A run's progress bar's width, in characters.
_BAR = 30


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


class RunProgress:
    """A progress bar on a terminal, a line now and then otherwise; the log's lines (a registry
    retry, from any thread) each on a line of their own, the bar drawn again below them."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self._last = (-1, -1)
        self._bar_shown = False
        self._lock = threading.Lock()

    def update(self, done: int, total: int) -> None:
        with self._lock:
            if total <= 0 or ((done, total) == self._last and (self._bar_shown or not self.tty)):
                return
            finished_now = done == total and self._last != (done, total)
            self._last = (done, total)
            if self.tty:
                filled = _BAR * done // total
                self.stream.write(
                    f"\r\033[Kchecking [{'#' * filled}{'-' * (_BAR - filled)}] {done}/{total} shards"
                )
                self._bar_shown = True
            elif done == total or done % max(1, total // 10) == 0:
                self.stream.write(f"checking: {done}/{total} shards\n")
            if finished_now:
                self._line(f"all {total} shards checked: the final step weighs the decisions and sends them")
            self.stream.flush()

    def log(self, line: str) -> None:
        with self._lock:
            self._line(line)
            self.stream.flush()

    def _line(self, line: str) -> None:
        self.stream.write(("\r\033[K" if self._bar_shown else "") + line + "\n")
        self._bar_shown = False

    def done(self) -> None:
        with self._lock:
            if self._bar_shown:
                self.stream.write("\n")
                self._bar_shown = False
            self.stream.flush()
