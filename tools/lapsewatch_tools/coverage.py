"""`lapsewatch coverage`: which TLDs the provider chain serves, weighed by the addresses at each.

Offline: it asks the chain which provider would answer for each domain (`provider_for`) and
makes no lookup. A domain no provider serves is unprotected: a sweep can only ever say
`unknown` about it, so its addresses stay verified however its domain lapses.

Input is an address list (one email address or domain a line, each line one address) or the
registry's listing (each domain weighed by its `verified_emails`). Every input is reduced to its
registrable domain; inputs with none (localhost, IP literals, free text) are counted as invalid
and nowhere else.
"""

from __future__ import annotations

import json
import os
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lapsewatch.domains import parse_target, tld
from lapsewatch.providers.chain import ProviderChain
from lapsewatch.providers.factory import ProviderSettings
from lapsewatch.registry import RegistryClient, RegistryError
from lapsewatch_tools.errors import UsageError
from lapsewatch_tools.options import dns_arguments

NONE = "none"


@dataclass(frozen=True, slots=True)
class TldCoverage:
    """One TLD: its distinct registrable domains, their addresses, and the provider serving them
    (None when no provider in the chain does)."""

    tld: str
    domains: int
    addresses: int
    provider: str | None
    # The unsafe lifecycles its provider can show (redemption, pending_delete, unregistered,
    # reregistered): a TLD whose registry shows less is only partly protected.
    sees: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {
            "tld": self.tld,
            "domains": self.domains,
            "addresses": self.addresses,
            "provider": self.provider,
            "sees": list(self.sees),
        }


@dataclass(frozen=True, slots=True)
class Coverage:
    """Rows sorted by addresses (most first), then TLD. A TLD has one row, or one per provider
    when its domains are served differently (a bootstrap file naming `co.uk` but not `uk`)."""

    rows: list[TldCoverage]
    invalid: int = 0
    chain: str = ""
    # Unprotected TLDs that a bootstrap file does name, with why its entry was refused.
    refused: dict[str, str] = field(default_factory=dict)

    @property
    def domains(self) -> int:
        return sum(row.domains for row in self.rows)

    @property
    def addresses(self) -> int:
        return sum(row.addresses for row in self.rows)

    @property
    def unprotected(self) -> list[TldCoverage]:
        return [row for row in self.rows if row.provider is None]

    @property
    def unprotected_domains(self) -> int:
        return sum(row.domains for row in self.unprotected)

    @property
    def unprotected_addresses(self) -> int:
        return sum(row.addresses for row in self.unprotected)

    @property
    def unprotected_tlds(self) -> list[str]:
        return sorted({row.tld for row in self.unprotected})

    def totals(self) -> dict:
        totals = {
            "domains": self.domains,
            "addresses": self.addresses,
            "invalid": self.invalid,
            "unprotected_domains": self.unprotected_domains,
            "unprotected_addresses": self.unprotected_addresses,
            "unprotected_tlds": self.unprotected_tlds,
        }
        # Only when there are some: a refused bootstrap entry is rare, and worth its own key then.
        if self.refused:
            totals["refused_tlds"] = dict(sorted(self.refused.items()))
        return totals

    def json_lines(self) -> Iterator[str]:
        """One object per row, then the totals."""
        for row in self.rows:
            yield json.dumps(row.to_dict(), ensure_ascii=False)
        yield json.dumps(self.totals(), ensure_ascii=False)

    def table(self) -> str:
        from lapsewatch_tools.report import key_values, table

        rows = [
            (row.tld, row.domains, row.addresses, row.provider or NONE, ",".join(row.sees) or "-")
            for row in self.rows
        ]
        lines = [table(("tld", "domains", "addresses", "provider", "sees"), rows), ""]
        unprotected_tlds = ", ".join(f".{name}" for name in self.unprotected_tlds) or NONE
        lines.append(
            key_values(
                [
                    ("chain", self.chain or "-"),
                    ("domains", self.domains),
                    ("addresses", self.addresses),
                    ("invalid", f"{self.invalid} (no registrable domain; not counted above)"),
                    (
                        "unprotected",
                        f"{self.unprotected_domains} of {self.domains} domains "
                        f"({_share(self.unprotected_domains, self.domains)}), "
                        f"{self.unprotected_addresses} of {self.addresses} addresses "
                        f"({_share(self.unprotected_addresses, self.addresses)})",
                    ),
                    ("unprotected TLDs", unprotected_tlds),
                    *((f"refused .{name}", why) for name, why in sorted(self.refused.items())),
                ]
            )
        )
        return "\n".join(lines)


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def coverage(
    entries: Iterable[tuple[str, int]],
    provider_for: Callable[[str], str | None],
    *,
    chain: str = "",
    why_unserved: Callable[[str], str | None] = lambda domain: None,
    sees: Callable[[str], Sequence[str]] = lambda domain: (),
) -> Coverage:
    """Tally (email address or domain, addresses) entries by TLD and serving provider.

    `provider_for` names the provider answering for a registrable domain, or None; for a domain
    it does not serve, `why_unserved` may say why (a refused bootstrap entry).
    """
    domains: dict[str, int] = defaultdict(int)
    invalid = 0
    for text, addresses in entries:
        target = parse_target(text)
        if target.domain is None:
            invalid += addresses
        else:
            domains[target.domain] += addresses
    groups: dict[tuple[str, str | None], list[int]] = defaultdict(lambda: [0, 0])
    seen: dict[tuple[str, str | None], tuple[str, ...]] = {}
    refused: dict[str, str] = {}
    for domain, addresses in domains.items():
        provider = provider_for(domain)
        if provider is None and (why := why_unserved(domain)):
            refused.setdefault(tld(domain), why)
        group = groups[(tld(domain), provider)]
        group[0] += 1
        group[1] += addresses
        seen.setdefault((tld(domain), provider), tuple(sees(domain)))
    rows = [
        TldCoverage(name, count, addresses, provider, seen[(name, provider)])
        for (name, provider), (count, addresses) in groups.items()
    ]
    rows.sort(key=lambda row: (-row.addresses, row.tld, row.provider or ""))
    return Coverage(rows, invalid, chain, refused)


def psl_tlds() -> list[str]:
    """The TLDs of the bundled Public Suffix List's ICANN section, as A-labels, sorted."""
    from importlib import resources

    from lapsewatch.domains import to_ascii

    text = (resources.files("lapsewatch") / "data" / "public_suffix_list.dat").read_text(encoding="utf-8")
    icann = text.split("===END ICANN DOMAINS===", 1)[0]
    labels = set()
    for line in icann.splitlines():
        rule = line.strip()
        if rule and not rule.startswith("//"):
            labels.add(rule.lstrip("!*.").rsplit(".", 1)[-1])
    return sorted({label if label.isascii() else to_ascii(label) for label in labels})


def tld_coverage(
    tlds: Iterable[str],
    provider_for: Callable[[str], str | None],
    *,
    chain: str = "",
    why_unserved: Callable[[str], str | None] = lambda domain: None,
    sees: Callable[[str], Sequence[str]] = lambda domain: (),
) -> Coverage:
    """Which provider serves each TLD, asked of a name directly under it: one row a TLD, each
    counting one domain and no addresses (the Public Suffix List holds no addresses)."""
    rows, refused = [], {}
    for name in tlds:
        probe = f"example.{name}"
        provider = provider_for(probe)
        if provider is None and (why := why_unserved(probe)):
            refused[name] = why
        rows.append(TldCoverage(name, 1, 0, provider, tuple(sees(probe))))
    return Coverage(rows, 0, chain, refused)


def read_address_file(path: str) -> list[tuple[str, int]]:
    """The lines of an address list ("-" reads standard input), one address each, blanks skipped.

    Raises OSError or UnicodeDecodeError when it cannot be read.
    """
    text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    return [(line.strip(), 1) for line in text.splitlines() if line.strip()]


def registry_entries(client: RegistryClient) -> Iterator[tuple[str, int]]:
    """The registry's listing as (domain, verified_emails) entries, one page in memory at a time."""
    for item in client.iter_email_domains():
        yield item.domain, item.verified_emails


_NO_LOOKUPS = "placeholder: coverage makes no lookups"


class _RegistryReadFailed(Exception):
    """The registry's listing could not be read: exit 1, not a usage error."""


def coverage_command(args) -> int:
    """`lapsewatch coverage`: the table (or JSON Lines) for FILE or the registry's listing."""
    chain = _chain(args)

    def provider_for(domain: str) -> str | None:
        provider = chain.provider_for(domain)
        return None if provider is None else provider.name

    # What every kind of count is told of the chain.
    count: dict[str, Any] = {"chain": chain.name, "why_unserved": chain.why_unserved, "sees": chain.sees}
    try:
        if args.psl:
            if args.file is not None or args.registry_url:
                raise UsageError("give --psl, FILE or --registry-url, only one")
            result = tld_coverage(psl_tlds(), provider_for, **count)
        elif args.file is not None:
            if args.registry_url:
                raise UsageError("give FILE or --registry-url, not both")
            result = coverage(_address_file(args.file), provider_for, **count)
        else:
            result = _registry_coverage(args.registry_url, provider_for, count)
    except _RegistryReadFailed as exc:
        print(f"lapsewatch: error: reading the registry's listing failed: {exc}", file=sys.stderr)
        return 1
    if args.json:
        for line in result.json_lines():
            print(line, flush=True)
    else:
        print(result.table(), flush=True)
    return 0


def _chain(args: Any) -> ProviderChain:
    """The provider chain the arguments name; raises UsageError for a bad one."""
    try:
        settings = ProviderSettings.from_env(
            provider=args.provider,
            rdap_bootstrap=args.rdap_bootstrap,
            rdap_extra=args.rdap_extra,
            allow_loopback_http=True,
            credentials_later=True,
            whois_table=args.whois_table,
            whois_servers=args.whois_server,
            **dns_arguments(args),
        )
        # The chain is asked which provider serves each domain and never looks anything up, so a
        # provider needs no credentials here; the Fastly and Domainr classes refuse to be built
        # without, so a missing key is stood in for by a placeholder that is never sent.
        settings = replace(
            settings,
            fastly_api_key=settings.fastly_api_key or _NO_LOOKUPS,
            domainr_api_key=settings.domainr_api_key or (None if settings.domainr_client_id else _NO_LOOKUPS),
        )
        return settings.build()
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _address_file(path: str) -> list[tuple[str, int]]:
    try:
        return read_address_file(path)
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise UsageError(f"cannot read the address list {path}: {why}") from None


def _registry_coverage(
    registry_url: str | None, provider_for: Callable[[str], str | None], count: dict[str, Any]
) -> Coverage:
    """Coverage of the registry's listing; raises UsageError, or _RegistryReadFailed."""
    if not registry_url:
        raise UsageError("give FILE (an address list), or --registry-url to read the registry's listing")
    token = os.environ.get("LAPSEWATCH_REGISTRY_TOKEN")
    if not token:
        raise UsageError("with --registry-url, set LAPSEWATCH_REGISTRY_TOKEN to the registry's token")
    try:
        # The operator's own machine: the reference registry on loopback is theirs to use.
        client = RegistryClient(registry_url, token, allow_loopback_http=True)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    try:
        with client:
            return coverage(registry_entries(client), provider_for, **count)
    except RegistryError as exc:
        raise _RegistryReadFailed(str(exc)) from None
