"""Read a parallel Scan's segments at once, in threads, and hand their pages to one consumer.

A Scan of millions of items is hundreds of 1 MB pages, each a round trip: reading several
segments at once overlaps the waits. The consumer takes the pages as they come (in no fixed
order) and memory holds at most a few pages, however large the table."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

# A page read from one segment, and the key to read the next from (None after the last).
ReadPage = Callable[[int, Any], tuple[list, Any]]
# Pages waiting for the consumer, per segment: enough to keep every reader busy.
_WAITING = 2
_POLL_SECONDS = 0.5
_DONE = object()


def parallel_pages(read_page: ReadPage, segments: int) -> Iterator[list]:
    """Every page of `segments` segments, `read_page(segment, start_key)` reading each in a
    thread of its own. A reader's error is raised here; a consumer that stops early stops them."""
    readers = _Readers(read_page, segments)
    try:
        yield from readers.pages()
    finally:
        readers.stop()


class _Readers:
    def __init__(self, read_page: ReadPage, segments: int) -> None:
        self._read_page = read_page
        self._queue: queue.Queue = queue.Queue(maxsize=_WAITING * segments)
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._read, args=(n,), daemon=True) for n in range(segments)]
        for thread in self._threads:
            thread.start()

    def pages(self) -> Iterator[list]:
        finished = 0
        while finished < len(self._threads):
            page = self._queue.get()
            if page is _DONE:
                finished += 1
            elif isinstance(page, Exception):
                raise page
            else:
                yield page

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def _read(self, segment: int) -> None:
        try:
            start_key = None
            while True:
                items, start_key = self._read_page(segment, start_key)
                if not self._put(items) or start_key is None:
                    break
        except Exception as exc:  # handed to the consumer, which raises it
            self._put(exc)
        self._put(_DONE)

    def _put(self, value: object) -> bool:
        """Wait for room in the queue, unless the consumer has stopped: then False."""
        while not self._stop.is_set():
            try:
                self._queue.put(value, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False
