"""Readable tables for people at a terminal."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from typing import TextIO

from lapsewatch.check import CheckResult

# The words an operator must not miss, in colour on a terminal: never when piped, never with
# NO_COLOR set (https://no-color.org).
_COLOURS = {"UNSAFE": "\033[1;31m", "HELD": "\033[1;33m", "WARNING": "\033[1;33m"}
_LOUD = re.compile(r"\b(" + "|".join(_COLOURS) + r")\b")
_RESET = "\033[0m"


def for_terminal(text: str, stream: TextIO) -> str:
    """`text` with its loud words in colour when `stream` is a terminal that wants colour."""
    if "NO_COLOR" in os.environ or not stream.isatty():
        return text
    return _LOUD.sub(lambda match: f"{_COLOURS[match[1]]}{match[1]}{_RESET}", text)


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def key_values(rows: Iterable[tuple[str, object]]) -> str:
    """Two aligned columns, for a summary of named figures."""
    rows = list(rows)
    width = max(len(key) for key, _ in rows)
    return "\n".join(f"{key.ljust(width)}  {value}" for key, value in rows)


def check_table(results: Iterable[CheckResult]) -> str:
    rows = [
        (
            r.input,
            r.domain or "-",
            r.lifecycle,
            "UNSAFE" if r.unsafe else "",
            r.expires_at.date() if r.expires_at else "",
            r.reason,
        )
        for r in results
    ]
    return table(("input", "domain", "lifecycle", "unsafe", "expires", "reason"), rows)
