"""Benchmark 1's registry double: the listing of 250,000 email domains behind 1,000,000 addresses,
made page by page from a seed. Heavy-tailed, as a registry's users are: a few mailbox providers
hold most addresses, then a Zipf tail of company domains, subdomains, case variants, Unicode and
junk."""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import accumulate

ADDRESSES = 1_000_000
EMAIL_DOMAINS = 250_000
SEED = 20240601

# Mailbox providers and the addresses each holds; gmail.com takes what the long tail leaves, so
# the listing adds up to exactly ADDRESSES. Case variants are rows of their own, as a registry
# that stores domains as typed lists them.
PROVIDERS = {
    "yahoo.com": 52_000,
    "hotmail.com": 45_000,
    "outlook.com": 38_000,
    "icloud.com": 27_000,
    "qq.com": 16_000,
    "163.com": 11_000,
    "proton.me": 9_000,
    "protonmail.com": 8_000,
    "gmx.de": 8_000,
    "web.de": 6_000,
    "yandex.ru": 6_000,
    "mail.ru": 5_000,
    "aol.com": 4_000,
    "live.com": 4_000,
    "me.com": 3_000,
    "fastmail.com": 2_000,
    "googlemail.com": 2_000,
    "Gmail.com": 900,
    "GMAIL.COM": 300,
    "hotmail.co.uk": 3_000,
    "yahoo.co.jp": 2_500,
    "naver.com": 2_000,
    "seznam.cz": 1_000,
    "orange.fr": 1_500,
}
# Registrable suffixes of company domains, weighted roughly as the web's.
SUFFIXES = {
    "com": 46,
    "net": 6,
    "org": 6,
    "de": 6,
    "co.uk": 4,
    "io": 3,
    "fr": 3,
    "nl": 3,
    "com.au": 2,
    "jp": 2,
    "ca": 2,
    "it": 2,
    "es": 2,
    "ch": 2,
    "com.br": 2,
    "ru": 2,
    "pl": 1,
    "se": 1,
    "in": 1,
    "co": 1,
    "us": 1,
    "edu": 1,
    "ac.uk": 1,
    "dev": 1,
    "cz": 1,
    "be": 1,
    "at": 1,
}
_SUFFIX_NAMES = list(SUFFIXES)
_SUFFIX_CUMULATIVE = list(accumulate(SUFFIXES.values()))
_SYLLABLES = [
    "ka",
    "lo",
    "mi",
    "ne",
    "ru",
    "ta",
    "vo",
    "zi",
    "ber",
    "dan",
    "fel",
    "gor",
    "hal",
    "jin",
    "kor",
    "lum",
    "mar",
    "nor",
    "pex",
    "quo",
    "ras",
    "sol",
    "tev",
    "ul",
    "var",
    "wex",
    "yon",
    "zen",
    "bri",
    "cla",
    "dro",
    "fu",
]
_SUBDOMAINS = ["mail", "eng", "corp", "us", "eu", "staff", "alumni", "students", "dev", "it"]
_UNICODE = [
    "bücher{}.de",
    "müller-{}.at",
    "例え{}.jp",
    "пример{}.рф",
    "café{}.fr",
    "ørsted{}.dk",
    "bücher{}。de",
]
_JUNK = [
    "localhost",
    "[192.168.0.{}]",
    "10.0.{}.1",
    "co.uk",
    "com",
    "intranet",
    "foo..bar{}.com",
    "-bad{}.com",
    "free text {}",
    "{}",
    "a{}" + "a" * 70 + ".com",
    "mail.local",
    "xn--{}.com",
    "user{}@",
    "under_score{}.com",
]
_MASK = (1 << 64) - 1
_EPOCH = datetime(2015, 1, 1, tzinfo=UTC)
_SPAN_SECONDS = 10 * 365 * 86_400


def mix(x: int) -> int:
    """splitmix64's finaliser: a row's random bits from its index, with no generator state."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


class RegistryDouble:
    """The registry API's listing (RegistryClient's `page`, `pages`, `iter_email_domains`), made page
    by page from a seed instead of read from a server: nothing is held between pages, so the
    dispatcher process's memory is the dispatcher's.

    Heavy-tailed, as a registry's users are: a few mailbox providers hold most addresses; a long
    tail of company domains hold one or a few (a Zipf law by rank), with subdomains of them,
    case variants, some Unicode names and a little junk.
    """

    def __init__(self, *, addresses: int = ADDRESSES, rows: int = EMAIL_DOMAINS, seed: int = SEED) -> None:
        from lapsewatch.registry import EmailDomain

        self._email_domain = EmailDomain
        self.rows = rows
        self.seed = seed
        self._providers = list(PROVIDERS.items())
        self._tail_start = len(self._providers) + 1  # row 0 is gmail.com
        self.gmail = addresses - sum(PROVIDERS.values()) - self._tail_total()
        if self.gmail < 1:
            raise ValueError("the long tail alone holds more than the addresses asked for")
        self.addresses = addresses
        self.generate_seconds = 0.0  # CPU spent making rows, to subtract from the dispatcher's
        self.served = 0  # rows served so far: where the listing has got to

    # The RegistryClient surface the dispatcher uses ----------------------------------------------
    def page(self, cursor: str | None = None, limit: int = 500):
        from lapsewatch.registry import Page

        started = time.process_time()
        start = int(cursor or 0)
        end = min(start + limit, self.rows)
        items = [self.row(i) for i in range(start, end)]
        self.served = end
        self.generate_seconds += time.process_time() - started
        return Page(items, str(end) if end < self.rows else None)

    def pages(self, limit: int = 500, cursor: str | None = None, *, max_pages: int | None = None) -> Iterator:
        # The double's listing always ends, far within the dispatcher's page budget (`max_pages`).
        while True:
            page = self.page(cursor, limit)
            yield page
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def iter_email_domains(self, limit: int = 500) -> Iterator:
        for page in self.pages(limit):
            yield from page.items

    # Rows -----------------------------------------------------------------------------------------
    def row(self, index: int):
        bits = mix(self.seed * 1_000_003 + index)
        verified = _EPOCH + timedelta(seconds=bits % _SPAN_SECONDS)
        if (bits >> 40) % 200 == 0:
            verified = None  # an unreadable date: the client keeps the domain, undated
        if index == 0:
            return self._email_domain("gmail.com", self.gmail, verified)
        if index < self._tail_start:
            name, count = self._providers[index - 1]
            return self._email_domain(name, count, verified)
        return self._email_domain(self._tail_name(index, bits), self._tail_count(index), verified)

    def _tail_total(self) -> int:
        """The addresses of every tail row: row by row while the counts fall, then one each
        (the count never rises again), so that ten million rows are not counted one by one."""
        total = 0
        for index in range(self._tail_start, self.rows):
            count = self._tail_count(index)
            if count == 1:
                return total + self.rows - index
            total += count
        return total

    def _tail_count(self, index: int) -> int:
        rank = index - self._tail_start + 1
        return max(1, int(3000 / rank**0.75))

    def _tail_name(self, index: int, bits: int) -> str:
        kind = (bits >> 8) % 1000
        if kind < 80:  # a subdomain of an earlier company
            return f"{_SUBDOMAINS[(bits >> 20) % len(_SUBDOMAINS)]}.{self._company(1 + (bits >> 24) % index)}"
        if kind < 110:  # an earlier company, typed in another case
            return self._company(1 + (bits >> 24) % index).upper()
        if kind < 120:
            return _UNICODE[(bits >> 20) % len(_UNICODE)].format(index)
        if kind < 125:
            return _JUNK[(bits >> 20) % len(_JUNK)].format(index)
        return self._company(index)

    def _company(self, index: int) -> str:
        word, n = [], index
        while True:
            word.append(_SYLLABLES[n % 32])
            n //= 32
            if not n:
                break
        bits = mix(self.seed + index * 7919)
        suffix = _SUFFIX_NAMES[bisect.bisect_right(_SUFFIX_CUMULATIVE, bits % _SUFFIX_CUMULATIVE[-1])]
        return "".join(word) + f".{suffix}"
