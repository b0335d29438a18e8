"""The demo data set: a registry's users and what each of their domains' registry shows.

`make run` sweeps it offline: the reference registry is seeded with `records`, and loopback
stand-ins answer for each domain as `domains` says: an RDAP server for the TLDs of IANA's
bootstrap and of the bundled extra file (.de, .io, .me), a WHOIS server for the TLDs of the
bundled WHOIS table (.it, .jp). A TLD none of them serves (.gr) is unprotected, as it would be.

It looks like a real registry: most users at big mailbox providers, the rest at a few hundred
company domains, with subdomain, Unicode, mixed-case and junk addresses, a few unverified ones,
and a handful of domains in each lifecycle.

Everything follows from the seed and `now` (by default, today's midnight UTC), so every call on
the same day sees the same data.
"""

from __future__ import annotations

import json
import random
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib import resources
from typing import NamedTuple

from lapsewatch.domains import parse_target, tld
from lapsewatch.lifecycle import Lifecycle

USERS = 3000
COMPANY_DOMAINS = 220
DAY = timedelta(days=1)
YEAR = timedelta(days=365)
# Addresses were verified at most this long ago, and active domains registered before that, so
# that only the domains meant to be re-registered look it.
OLDEST_VERIFICATION = 8 * YEAR

# Mailbox providers and how many users, relatively, have an address there.
MAILBOX_PROVIDERS = {
    "gmail.com": 30,
    "outlook.com": 9,
    "hotmail.com": 8,
    "yahoo.com": 8,
    "icloud.com": 5,
    "proton.me": 3,
    "protonmail.com": 2,
    "aol.com": 2,
    "live.com": 2,
    "gmx.de": 2,
    "qq.com": 2,
    "163.com": 1,
    "naver.com": 1,
    "fastmail.com": 1,
    "zoho.com": 1,
    "yahoo.co.uk": 1,
    "btinternet.com": 1,
    "orange.fr": 1,
    "free.fr": 1,
    "laposte.net": 1,
    "hey.com": 1,
    "me.com": 1,
}
# Word lists, as text: one name a word.
_COMPANY_WORDS = """
    acme globex initech umbrella hooli vandelay wonka stark wayne tyrell cyberdyne soylent aperture
    oscorp monarch nakatomi dunder sterling bluth oceanic dharma weyland virtucon yoyodyne rekall
    axiom nimbus quill fjord lumen harbor cobalt ember pylon tandem vertex juniper saffron granite
    orchid falcon meridian polaris cascade summit riverbend northstar bluefin redwood copperleaf
""".split()  # noqa: SIM905
_COMPANY_SUFFIXES = (
    "",
    "labs",
    "systems",
    "data",
    "cloud",
    "works",
    "software",
    "analytics",
    "studio",
    "group",
)
# Company top-level domains and their weights; io and de have no RDAP server in IANA's
# bootstrap: the bundled extra file serves them.
_COMPANY_SUFFIX_WEIGHTS = {
    "com": 40,
    "org": 8,
    "net": 8,
    "dev": 5,
    "app": 3,
    "co.uk": 6,
    "fr": 3,
    "nl": 3,
    "ca": 3,
    "com.au": 2,
    "com.br": 2,
    "pl": 2,
    "tech": 2,
    "ai": 2,
    "io": 2,
    "de": 2,
}
_FIRST_NAMES = """
    alice bob carol dave erin frank grace heidi ivan judy mallory nina oscar peggy rupert sybil trent
    victor wendy xavier yusuf zoe amara bjorn chen dmitri elif farah goran hana ines jonas kenji leila
    mateo noor olga priya quentin rosa sven tariq uma vera wei ximena yara zane
""".split()  # noqa: SIM905
_LAST_NAMES = """
    smith jones garcia muller rossi dubois novak tanaka kim silva nowak jensen okafor haddad ivanova
    schmidt lopez martin brown wilson taylor moreau kowalski andersen nakamura patel singh cohen
""".split()  # noqa: SIM905

# The domains the demo names, with the addresses at each (local part, or a full address when
# it sits on a subdomain or is spelt oddly). `unknown`: the registry's server refuses their
# lookups (a firewall's error page), or no provider serves their TLD at all (.gr: unprotected).
_NAMED = {
    Lifecycle.ACTIVE: {
        "例え.jp": ["taro"],
    },
    Lifecycle.GRACE: {
        "brightside-dental.com": ["reception", "dr.lee"],
        "kestrel-analytics.net": ["team", "ops", "jo"],
        "larkspur-design.org": ["hello"],
    },
    Lifecycle.HOLD: {
        "fastcoin-exchange.com": ["support", "founder"],
        "mirthful-games.net": ["dev"],
    },
    Lifecycle.REDEMPTION: {
        "corp.co.uk": ["admin", "dev@mail.corp.co.uk", "build@ci.eng.corp.co.uk", "Ops@MAIL.Corp.co.uk"],
        "pixelforge.com": ["maintainer", "releases"],
        "bäckerei-müller.com": ["info", "anna@Bäckerei-Müller.COM"],
        "vecchia-trattoria.it": ["prenotazioni"],
    },
    Lifecycle.PENDING_DELETE: {
        "sunset-startup.com": ["cto", "eng"],
        "driftwood-apps.net": ["hello"],
        "café-lumière.fr": ["contact"],
    },
    Lifecycle.UNREGISTERED: {
        "gone-forever.dev": ["me"],
        "abandoned-blog.org": ["author", "editor"],
        "tinyshop.xyz": ["orders"],
    },
    Lifecycle.REREGISTERED: {
        "recycled-name.com": ["old.maintainer", "packager"],
        "oldstartup.net": ["founders"],
        "second-life.org": ["webmaster"],
    },
    Lifecycle.UNKNOWN: {
        "bücher.de": ["kunde", "service@mail.bücher.de"],
        "beispiel-gmbh.de": ["it"],
        "startup.io": ["hi"],
        "kafeneio.gr": ["info"],
    },
}
# How long ago the lapsed domains expired: typical points in each stage (grace up to 45 days,
# redemption 30 more, pending delete the last 5).
_EXPIRED_FOR = {
    Lifecycle.GRACE: 12 * DAY,
    Lifecycle.REDEMPTION: 40 * DAY,
    Lifecycle.PENDING_DELETE: 77 * DAY,
}
# An address verified after its domain's re-registration: it must stay verified.
_VERIFIED_SINCE_REREGISTRATION = "new.owner@recycled-name.com"
_REREGISTERED_AGO = 60 * DAY
# Addresses whose domain is junk: the registry stores them, lists them, and never matches them.
_JUNK = [
    "root@localhost",
    "admin@[10.0.0.1]",
    "someone@co.uk",
    "hello@not a domain",
    "nobody@",
    "ops@intranet",
    "x@-bad-.com",
]
# The same domains spelt as people type them: listed apart, checked as one. The last is
# GMAIL.COM in fullwidth letters and an ideographic full stop, as typed with a CJK input method.
_ODD_SPELLINGS = [
    "Alice.Smith@GMAIL.COM",
    "bob@Gmail.com.",
    "carol@Outlook.com",
    "dave@\uff27\uff2d\uff21\uff29\uff2c\u3002\uff23\uff2f\uff2d",
]


@dataclass(frozen=True, slots=True)
class DemoDomain:
    """What a registrable domain's registry shows (through RDAP or WHOIS).

    `reregistered`: registered_at falls after its addresses were verified. `unknown`: its
    registry refuses the lookup, or no provider serves its TLD. `unregistered`: the registry has
    no record (RDAP's 404, WHOIS's "no match"; no dates).
    """

    lifecycle: Lifecycle
    registered_at: datetime | None
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class DemoPopulation:
    # Seed lines for the reference registry: {"user", "email", "verified", "verified_at"}.
    records: list[dict]
    # Every registrable A-label domain in the records.
    domains: dict[str, DemoDomain]


def demo_population(seed: int = 7, now: datetime | None = None) -> DemoPopulation:
    rng = random.Random(seed)
    if now is None:
        # Today's midnight (UTC), so that every call on one day agrees.
        now = datetime.now(UTC).replace(hour=0, minute=0, second=0)
    now = now.astimezone(UTC).replace(microsecond=0)
    people = _People(rng, now)

    companies = _company_domains(rng)
    providers = list(MAILBOX_PROVIDERS)
    weights = list(MAILBOX_PROVIDERS.values())
    for _ in range(USERS):
        user = people.new_user()
        for _ in range(rng.choices((1, 2, 3), weights=(85, 13, 2))[0]):
            if rng.random() < 0.65:
                domain = rng.choices(providers, weights=weights)[0]
            else:
                domain = rng.choice(companies)
            people.add(user, f"{people.local_part(user)}@{domain}")

    for lifecycle, domains in _NAMED.items():
        for domain, addresses in domains.items():
            for address in addresses:
                email = address if "@" in address else f"{address}@{domain}"
                verified_at = None
                if lifecycle is Lifecycle.REREGISTERED:
                    # Verified well before the domain changed hands.
                    verified_at = now - _REREGISTERED_AGO - rng.randint(200, 2500) * DAY
                people.add(people.new_user(), email, verified=True, verified_at=verified_at)
            # An address already unverified at each of them, which no unverify touches.
            people.add(people.new_user(), f"former@{domain}", verified=False)
    people.add(people.new_user(), _VERIFIED_SINCE_REREGISTRATION, verified=True, verified_at=now - 10 * DAY)
    for email in _JUNK + _ODD_SPELLINGS:
        people.add(people.new_user(), email, verified=True)

    return DemoPopulation(people.records, _domain_states(rng, now, people.records))


class _User(NamedTuple):
    name: str
    first: str
    last: str


class _People:
    def __init__(self, rng: random.Random, now: datetime) -> None:
        self.rng = rng
        self.now = now
        self.records: list[dict] = []
        self._names: set[str] = set()

    def new_user(self) -> _User:
        first, last = self.rng.choice(_FIRST_NAMES), self.rng.choice(_LAST_NAMES)
        name = self.rng.choice(
            (f"{first}{last}", f"{first}-{last}", f"{first[0]}{last}", f"{first}_{last[0]}")
        )
        while name in self._names:
            name = f"{name}{self.rng.randint(0, 9)}"
        self._names.add(name)
        return _User(name, first, last)

    def local_part(self, user: _User) -> str:
        return self.rng.choice(
            (f"{user.first}.{user.last}", user.first, f"{user.first[0]}{user.last}", user.name)
        )

    def add(
        self, user: _User, email: str, *, verified: bool | None = None, verified_at: datetime | None = None
    ) -> None:
        if verified is None:
            # A few addresses were never verified, or were unverified since.
            verified = self.rng.random() >= 0.04
        if verified and verified_at is None:
            age = self.rng.randint(int(DAY.total_seconds()), int(OLDEST_VERIFICATION.total_seconds()))
            verified_at = self.now - timedelta(seconds=age)
        self.records.append(
            {
                "user": user.name,
                "email": email,
                "verified": verified,
                "verified_at": _text(verified_at) if verified and verified_at else None,
            }
        )


def _company_domains(rng: random.Random) -> list[str]:
    suffixes = list(_COMPANY_SUFFIX_WEIGHTS)
    weights = list(_COMPANY_SUFFIX_WEIGHTS.values())
    domains: dict[str, None] = {}  # ordered, for determinism
    while len(domains) < COMPANY_DOMAINS:
        word, extra = rng.choice(_COMPANY_WORDS), rng.choice(_COMPANY_SUFFIXES)
        name = rng.choice((f"{word}{extra}", f"{word}-{extra}")) if extra else word
        domains[f"{name}.{rng.choices(suffixes, weights=weights)[0]}"] = None
    return list(domains)


def _domain_states(rng: random.Random, now: datetime, records: list[dict]) -> dict[str, DemoDomain]:
    planned = {
        parse_target(domain).domain: lifecycle for lifecycle, domains in _NAMED.items() for domain in domains
    }
    registrable = sorted({target for r in records if (target := parse_target(r["email"]).domain)})
    states = {}
    for domain in registrable:
        lifecycle = planned.get(domain)
        if lifecycle is None:
            lifecycle = Lifecycle.ACTIVE if served(domain) else Lifecycle.UNKNOWN
        states[domain] = _state(rng, now, lifecycle)
    return states


def _state(rng: random.Random, now: datetime, lifecycle: Lifecycle) -> DemoDomain:
    if lifecycle in (Lifecycle.UNKNOWN, Lifecycle.UNREGISTERED):
        return DemoDomain(lifecycle, None, None)
    if lifecycle is Lifecycle.REREGISTERED:
        return DemoDomain(lifecycle, now - _REREGISTERED_AGO, now - _REREGISTERED_AGO + YEAR)
    registered_at = now - OLDEST_VERIFICATION - rng.randint(365, 15 * 365) * DAY
    if lifecycle in _EXPIRED_FOR:
        return DemoDomain(lifecycle, registered_at, now - _EXPIRED_FOR[lifecycle])
    return DemoDomain(lifecycle, registered_at, now + rng.randint(30, 700) * DAY)


@cache
def _bootstrap_tlds(name: str) -> frozenset[str]:
    """The TLDs with an RDAP server in a bundled bootstrap file (IANA's, or the extra one)."""
    bootstrap = json.loads((resources.files("lapsewatch") / "data" / name).read_text("utf-8"))
    return frozenset(suffix for names, _urls in bootstrap["services"] for suffix in names)


def rdap_tlds() -> frozenset[str]:
    """The TLDs IANA's bootstrap gives an RDAP server."""
    return _bootstrap_tlds("rdap_dns.json")


def extra_rdap_tlds() -> frozenset[str]:
    """The TLDs only the bundled extra file gives an RDAP server (.de, .io, .me, …)."""
    return _bootstrap_tlds("rdap_extra.json") - rdap_tlds()


@cache
def whois_table() -> dict:
    """The bundled WHOIS table, as its file holds it."""
    return json.loads((resources.files("lapsewatch") / "data" / "whois.json").read_text("utf-8"))


def whois_tlds() -> frozenset[str]:
    """The TLDs no RDAP server serves and the bundled WHOIS table does (.it, .jp, …)."""
    return frozenset(whois_table()["tlds"]) - rdap_tlds() - extra_rdap_tlds()


def served(domain: str) -> bool:
    """Whether the default chain (rdap, whois) with the bundled files serves the domain's TLD."""
    return tld(domain) in rdap_tlds() | extra_rdap_tlds() | whois_tlds()


def _text(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def demo_data_command(args) -> int:
    """`lapsewatch registry demo-data`: write the demo records as JSON Lines."""
    records = demo_population().records
    if args.output == "-":
        _write(records, sys.stdout)
    else:
        with open(args.output, "w", encoding="utf-8") as out:
            _write(records, out)
    return 0


def _write(records: list[dict], out) -> None:
    for record in records:
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
