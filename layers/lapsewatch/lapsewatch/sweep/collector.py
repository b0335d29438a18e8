"""The dispatcher's collection of registrable domains, compact enough for tens of millions of
addresses in the dispatcher's memory.

A Python dict of a few million domain strings, each with its facts, costs about 0.45 KB a
domain: a 1 GB function runs out near eight million addresses. Instead the listing is kept as
text, compressed, in partitions by the domain's first character: each listed email domain is
one line (`domain TAB earliest TAB addresses TAB email domain`), appended to its partition's
buffer, and a full buffer is compressed into a blob. Only when the domains are planned is one
partition at a time decompressed and reduced (one entry per domain, sorted): every domain of
partition "a" sorts before every domain of partition "b", so the partitions, in order, give the
domains in the same sorted order as one sort of them all. The memory that grows with the
listing is its compressed text (about 15 bytes an email domain); the largest partition's
entries are held for a moment, never all of them.

The domains a run need not check (not due yet) are kept the same way, as names in their own
partitions, and left out as each partition is reduced. The checkpoint is the blobs as they are.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from lapsewatch.domains import InvalidDomain, registrable_domain
from lapsewatch.registry import EmailDomain
from lapsewatch.sweep.messages import PlannedDomain
from lapsewatch.sweep.records import EMAIL_DOMAIN_LIMIT

# Bytes of lines buffered in a partition before they are compressed into a blob: a few thousand
# lines compress well and keep the buffers of every partition together at a few megabytes.
FLUSH_BYTES = 128 * 1024
# Level 1: the listing's text compresses to about a third at a fraction of level 6's time.
COMPRESS_LEVEL = 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)
_LENGTH = struct.Struct(">I")
# The separators of the listing's text, escaped in the one field that could hold them: an email
# domain is checked to be a domain name, but leading and trailing white space is allowed.
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n"})


@dataclass
class _Partition:
    """One first character's share of the text: compressed blobs, then a buffer of lines.

    The buffer is bytes, not a list of strings: a few thousand small strings held for a while,
    each allocated among the objects of the page it came from, would keep those pages' memory
    from being reused (at millions of domains, hundreds of megabytes)."""

    blobs: list[bytes] = field(default_factory=list)
    buffer: bytearray = field(default_factory=bytearray)

    def add(self, line: str) -> None:
        self.buffer += line.encode()
        self.buffer += b"\n"
        if len(self.buffer) >= FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        if self.buffer:
            self.blobs.append(zlib.compress(self.buffer, COMPRESS_LEVEL))
            self.buffer = bytearray()

    def read(self) -> Iterator[str]:
        for blob in self.blobs:
            yield from _lines(zlib.decompress(blob))
        yield from _lines(self.buffer)


def _lines(text: bytes | bytearray) -> list[str]:
    """The lines of a blob or buffer, each written with its newline."""
    return text[:-1].decode().split("\n") if text else []


@dataclass
class DomainCollector:
    """Distinct registrable domains from the registry's listing, with each one's earliest
    verification, its first EMAIL_DOMAIN_LIMIT email domains (in listing order) and its verified
    addresses. Memory grows with the compressed listing, never with a dict of every domain."""

    listed: int = 0
    invalid: Counter = field(default_factory=Counter)
    # Listing pages read so far, across the invocations of a run: the budget that stops a
    # registry whose listing never ends.
    pages: int = 0
    # Counted as the domains are planned: every domain, and those left out as not due.
    distinct: int = 0
    skipped_not_due: int = 0
    _listing: dict[str, _Partition] = field(default_factory=dict)
    _not_due: dict[str, _Partition] = field(default_factory=dict)

    def add(self, item: EmailDomain) -> None:
        self.listed += 1
        try:
            domain = registrable_domain(item.domain)
        except InvalidDomain as exc:
            self.invalid[exc.kind] += 1
            return
        raw = item.domain
        if "\t" in raw or "\n" in raw or "\\" in raw:
            raw = raw.translate(_ESCAPES)
        earliest = "" if item.oldest_verified_at is None else str(_seconds(item.oldest_verified_at))
        partition = self._listing.get(domain[0])
        if partition is None:
            partition = self._listing[domain[0]] = _Partition()
        partition.add(f"{domain}\t{earliest}\t{item.verified_emails}\t{raw}")

    def add_all(self, items: Iterable[EmailDomain]) -> None:
        for item in items:
            self.add(item)

    def leave_out(self, domains: Iterable[str]) -> None:
        """Domains not to plan (not due yet): those the listing names are left out when planned
        and counted in `skipped_not_due`; the others are ignored."""
        for domain in domains:
            if not domain:
                continue
            partition = self._not_due.get(domain[0])
            if partition is None:
                partition = self._not_due[domain[0]] = _Partition()
            partition.add(domain)

    @property
    def invalid_count(self) -> int:
        return sum(self.invalid.values())

    def planned(self) -> Iterator[PlannedDomain]:
        """Every listed domain not left out, sorted by name; counts `distinct` and
        `skipped_not_due` afresh as it goes (a continuation plans the same domains again)."""
        self.distinct = self.skipped_not_due = 0
        for key in sorted(self._listing):
            entries = _reduce(self._listing[key].read())
            self.distinct += len(entries)
            not_due = self._not_due.get(key)
            if not_due is not None:
                for domain in not_due.read():
                    if entries.pop(domain, None) is not None:
                        self.skipped_not_due += 1
            for domain in sorted(entries):
                earliest, email_domains, addresses = entries[domain]
                when = None if earliest is None else datetime.fromtimestamp(earliest, UTC)
                if len(email_domains) > 1:
                    email_domains.sort()
                yield PlannedDomain(domain, when, tuple(email_domains), addresses)

    def to_bytes(self) -> bytes:
        """The collector's state for a dispatcher that continues in a new invocation: a header
        line (counts, and each partition's blob sizes), then the blobs as they are."""
        for partition in (*self._listing.values(), *self._not_due.values()):
            partition.flush()
        header = {
            "listed": self.listed,
            "invalid": dict(self.invalid),
            "pages": self.pages,
            "listing": {key: [len(b) for b in p.blobs] for key, p in self._listing.items()},
            "not_due": {key: [len(b) for b in p.blobs] for key, p in self._not_due.items()},
        }
        encoded = json.dumps(header, separators=(",", ":")).encode()
        blobs = [b for p in (*self._listing.values(), *self._not_due.values()) for b in p.blobs]
        return b"".join([_LENGTH.pack(len(encoded)), encoded, *blobs])

    @classmethod
    def from_bytes(cls, data: bytes) -> DomainCollector:
        (size,) = _LENGTH.unpack_from(data)
        header = json.loads(data[_LENGTH.size : _LENGTH.size + size])
        collector = cls(listed=header["listed"], invalid=Counter(header["invalid"]), pages=header["pages"])
        position = _LENGTH.size + size
        for name, partitions in (("listing", collector._listing), ("not_due", collector._not_due)):
            for key, sizes in header[name].items():
                blobs = []
                for length in sizes:
                    blobs.append(data[position : position + length])
                    position += length
                partitions[key] = _Partition(blobs)
        return collector


def _seconds(moment: datetime) -> int:
    """Whole seconds since 1970 (what a shard message carries); a naive time is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _SECOND


def _reduce(lines: Iterable[str]) -> dict[str, list]:
    """One entry per domain, [earliest seconds or None, email domains, addresses], from a
    partition's lines in listing order."""
    entries: dict[str, list] = {}
    for line in lines:
        domain, earliest_text, addresses_text, raw = line.split("\t")
        if "\\" in raw:
            raw = _unescape(raw)
        earliest = int(earliest_text) if earliest_text else None
        entry = entries.get(domain)
        if entry is None:
            entries[domain] = [earliest, [raw], int(addresses_text)]
            continue
        entry[2] += int(addresses_text)
        if earliest is not None and (entry[0] is None or earliest < entry[0]):
            entry[0] = earliest
        email_domains = entry[1]
        if len(email_domains) < EMAIL_DOMAIN_LIMIT and raw not in email_domains:
            email_domains.append(raw)
    return entries


def _unescape(text: str) -> str:
    out, escaped = [], False
    for char in text:
        if escaped:
            out.append({"t": "\t", "n": "\n"}.get(char, char))
            escaped = False
        elif char == "\\":
            escaped = True
        else:
            out.append(char)
    return "".join(out)
