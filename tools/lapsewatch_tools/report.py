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
# The email domains shown beside a domain's address count; the rest are counted.
EMAIL_DOMAINS_SHOWN = 3


def for_terminal(text: str, stream: TextIO) -> str:
    """`text` with its loud words in colour when `stream` is a terminal that wants colour."""
    if "NO_COLOR" in os.environ or not stream.isatty():
        return text
    return _LOUD.sub(lambda match: f"{_COLOURS[match[1]]}{match[1]}{_RESET}", text)


def shown(value: object) -> str:
    """`value` as text fit for a terminal: a registry's statuses and errors are its own words,
    so a control or formatting character in them (an escape sequence, a bidi override) is shown
    escaped, never sent to the terminal to act on."""
    text = "" if value is None else str(value)
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    cells = [[shown(h) for h in headers]] + [[shown(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def key_values(rows: Iterable[tuple[str, object]]) -> str:
    """Two aligned columns, for a summary of named figures."""
    rows = list(rows)
    width = max(len(key) for key, _ in rows)
    return "\n".join(f"{key.ljust(width)}  {shown(value)}" for key, value in rows)


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


def summary_table(summary: dict) -> str:
    domains, unverify = summary["domains"], summary["unverify"]
    rows: list[tuple[str, object]] = [
        ("run", summary["run_id"]),
        ("status", summary["status"] + (" (dry run)" if summary["dry_run"] else "")),
    ]
    rows += [("WARNING", warning) for warning in summary.get("warnings", [])]
    # The counts add up: each indented group sums to the line above it.
    rows += [
        ("email domains listed", domains["listed"]),
        ("  invalid", domains["invalid"]),
        ("  merged into a listed domain", domains.get("merged", 0)),
        ("  registrable domains", domains["distinct"]),
        ("    not due", domains["skipped_not_due"]),
        ("    checked", domains["checked"]),
    ]
    rows += [(f"      {lifecycle}", count) for lifecycle, count in summary["by_lifecycle"].items()]
    rows += [
        (f"    {label}", domains.get(key, 0))
        for key, label in (
            ("refused", "refused (not registrable)"),
            ("dead_lettered", "in dead-lettered shards"),
            ("not_checked", "never reported"),
        )
        if domains.get(key)
    ]
    rows += [
        ("unsafe domains", _count(summary.get("unsafe_count", len(summary["unsafe"])))),
        ("unverify calls", unverify["requested"]),
        ("addresses unverified", unverify["emails_unverified"]),
        ("unverify calls failed", unverify["failed"]),
        *_withheld_rows(summary["withheld"]),
        (
            "held",
            "no" if not summary["held"] else _count(summary.get("held_count", len(summary["held_domains"]))),
        ),
        ("unprotected domains", _unprotected(summary["unprotected"])),
        ("unknown for days on end", summary["unknown_streaks"]["count"]),
        ("notices", _notices(summary["notices"])),
    ]
    rows += [
        ("  held because", f"{group['reason']} ({group.get('count', len(group['domains']))} domains)")
        for group in summary["held_groups"]
    ]
    return key_values(rows)


def _withheld_rows(withheld: dict) -> list[tuple[str, object]]:
    """The decisions not sent, by why: always the stale and the deferred, the rest when any."""
    rows: list[tuple[str, object]] = [
        ("decisions cancelled (stale)", withheld["cancelled"]),
        ("decisions deferred", withheld["deferred"]),
    ]
    return rows + [
        (label, withheld.get(key, 0))
        for key, label in (
            ("superseded", "decisions superseded (a later one sent)"),
            ("held", "decisions held at sending"),
            ("unsent", "decisions left for the next run (time)"),
            ("errors", "decisions the final step failed on"),
        )
        if withheld.get(key)
    ]


def _count(domains: int) -> str:
    """How many domains, and where each is told of (the per-domain table beside the summary)."""
    return "none" if not domains else f"{domains} (a row each in the domains' table)"


def _notices(notices: dict) -> str:
    told = f"{notices['sent']} sent, {notices['failed']} failed"
    return told + (", not supported by the registry" if notices["unsupported"] else "")


def _unprotected(unprotected: dict) -> str:
    if not unprotected["domains"]:
        return "none"
    tlds = ", ".join(f".{entry['tld']}" for entry in unprotected["top_tlds"])
    addresses = unprotected["addresses"]
    return (
        f"{unprotected['domains']} ({addresses} address{'' if addresses == 1 else 'es'}; {tlds}): "
        "no provider serves them"
    )


def domains_table(rows: Iterable[dict]) -> str:
    """One line per domain a run decided about (`lapsewatch_tools.decisions` rows): the domain (its
    Unicode form beside an IDN), its lifecycle, the addresses at stake, what became of the
    decision and why, and the evidence that decided it. Why a decision is held (often the same
    words for many: the breaker holds a run whole) is told once, under the table, by number."""
    rows = list(rows)
    reasons = list(dict.fromkeys(row["why"] for row in rows if row["outcome"] == "held" and row.get("why")))
    lines = table(
        ("domain", "lifecycle", "addresses", "outcome", "evidence"),
        [
            (
                row["domain"] + (f" ({row['unicode']})" if row.get("unicode") else ""),
                row["lifecycle"],
                _addresses(row),
                _outcome(row, reasons),
                row["evidence"],
            )
            for row in rows
        ],
    )
    return "\n".join([lines, *(f"  [{number}] held: {why}" for number, why in enumerate(reasons, 1))])


def _addresses(row: dict) -> str:
    at, shown = row.get("email_domains") or [], EMAIL_DOMAINS_SHOWN
    where = ", ".join(at[:shown]) + (f" +{len(at) - shown}" if len(at) > shown else "")
    count = row.get("addresses")
    if count is None:
        return f"at {where}" if where else ""
    return f"{count} at {where}" if where else str(count)


def _outcome(row: dict, reasons: list[str]) -> str:
    if not row.get("why"):
        return "HELD" if row["outcome"] == "held" else row["outcome"]
    if row["outcome"] == "held":
        # HELD in capitals: for_terminal colours it, as in the summary.
        return f"HELD [{reasons.index(row['why']) + 1}]"
    return (
        f"{row['outcome']} {row['why']}"
        if row["outcome"] == "unverified"
        else f"{row['outcome']}: {row['why']}"
    )


def domain_sections(rows: list[dict]) -> str:
    """A run's domains in tables: the decisions that wait for an operator, the others, and the
    early warnings; only those the run has."""
    decisions = [row for row in rows if row["kind"] == "decision"]
    waiting = [row for row in decisions if row["state"] == "held"]
    sections = (
        ("waiting for approval", waiting),
        ("unsafe domains" if not waiting else "other decisions", [r for r in decisions if r not in waiting]),
        ("early warnings (notices)", [row for row in rows if row["kind"] == "notice"]),
    )
    return "\n\n".join(
        f"{title} ({len(section)}):\n{domains_table(section)}" for title, section in sections if section
    )
