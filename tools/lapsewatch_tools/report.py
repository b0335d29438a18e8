"""Readable tables for people at a terminal."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from lapsewatch.check import CheckResult


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
