"""The demo's world on loopback, for `lapsewatch run` (`make run`) without --registry-url: the
reference registry seeded with the demo data set, and stand-ins for everything the functions
would reach on the Internet, each answering for the demo's domains as the data set says:

- an RDAP server for the TLDs of IANA's bootstrap, and another for those of the bundled extra
  file (.de, .io, .me), reached through a bootstrap and an extra file of the same shapes;
- a WHOIS server for the TLDs of the bundled WHOIS table (.it, .jp), with a table that names
  those TLDs alone;
- a DNS (a root and the demo's TLDs) that delegates the demo's registered domains and no lapsed
  one.

A TLD none of them serves (.gr) is unprotected, as it would be deployed. No demo name reaches a
real server: every file the functions are given names loopback servers only.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from lapsewatch.domains import tld
from lapsewatch_tools.registry.demo import (
    DemoPopulation,
    demo_population,
    extra_rdap_tlds,
    rdap_tlds,
    whois_table,
    whois_tlds,
)

# The demo registry's database, in the state folder when there is one.
DEMO_DATABASE = "registry.sqlite3"
# Our own loopback RDAP server can take far more than a real registry's 5 requests a second.
DEMO_RDAP_RATE = 200.0
# Out of their TLD's zone: what the DNS witness must see denied for the demo's lapses.
_OUT_OF_ZONE = ("redemption", "pending_delete", "unregistered", "unknown")
# The loopback WHOIS server's state for each lifecycle (`whois_answers`' words).
_WHOIS_STATES = {
    "active": "registered",
    "reregistered": "registered",
    "grace": "grace",
    "hold": "hold",
    "redemption": "redemption",
    "pending_delete": "pending_delete",
    "unregistered": "unregistered",
}


@dataclass
class DemoWorld:
    """The demo registry, and the environment that sends the functions to the stand-ins."""

    registry_url: str
    token: str
    environment: dict[str, str] = field(default_factory=dict)


@contextmanager
def demo_world(
    workdir: Path, *, state_dir: Path | None, with_rdap: bool, with_whois: bool, with_dns: bool
) -> Iterator[DemoWorld]:
    """The demo registry and the stand-ins asked for. With a state folder the registry's
    database is kept there, seeded on the first run only."""
    from lapsewatch_tools.registry.app import RegistryApp
    from lapsewatch_tools.registry.server import RegistryServer

    population = demo_population()
    db_path = (state_dir or workdir) / DEMO_DATABASE
    token_path = (state_dir or workdir) / "registry-token"
    first_run = not db_path.exists()
    if first_run or not token_path.is_file():
        token_path.write_text(secrets.token_urlsafe(24))
    with ExitStack() as stack:
        app = RegistryApp(db_path, token=token_path.read_text().strip(), address_reads=True)
        registry = stack.enter_context(RegistryServer(app))
        if first_run:
            registry.load_seed(json.dumps(record) for record in population.records)
        world = DemoWorld(registry.url, registry.token)
        if with_rdap:
            world.environment.update(stack.enter_context(_demo_rdap(population, workdir)))
        if with_whois:
            world.environment.update(stack.enter_context(_demo_whois(population, workdir)))
        if with_dns:
            world.environment.update(stack.enter_context(_demo_dns(population, workdir)))
        yield world


@contextmanager
def _demo_rdap(population: DemoPopulation, workdir: Path) -> Iterator[dict[str, str]]:
    from lapsewatch_tools.local.rdap_server import DomainAnswer, LoopbackRdap

    suffixes = {tld(domain) for domain in population.domains}
    iana, extra = sorted(suffixes & rdap_tlds()), sorted(suffixes & extra_rdap_tlds())
    with LoopbackRdap() as rdap:
        # A name the data set does not know (example.com in a hand-made event) is a held name
        # here: the demo must never call free what it was not told is free.
        rdap.add_registry("demo", tlds=iana, default=DomainAnswer.for_lifecycle("active"))
        # The extra file's registries: named in an extra file, as the bundled one names them.
        rdap.add_registry("extra", default=DomainAnswer.for_lifecycle("active"))
        for domain, spec in population.domains.items():
            where = "demo" if tld(domain) in iana else "extra" if tld(domain) in extra else None
            if where is None:
                continue
            if spec.lifecycle == "unknown":
                # Its registry's firewall refuses the lookup: doubt, as it would be deployed.
                answer = DomainAnswer.error_page(403)
            else:
                answer = DomainAnswer.for_lifecycle(
                    spec.lifecycle, registered_at=spec.registered_at, expires_at=spec.expires_at
                )
            rdap.set_domain(domain, answer, registry=where)
        extra_file = workdir / "rdap_extra.json"
        extra_file.write_text(json.dumps({"services": [[extra, [rdap.base_url("extra")]]] if extra else []}))
        yield {
            "LAPSEWATCH_RDAP_BOOTSTRAP": str(rdap.bootstrap_file(workdir / "dns.json")),
            "LAPSEWATCH_RDAP_EXTRA": str(extra_file),
            "LAPSEWATCH_RDAP_RATE": str(DEMO_RDAP_RATE),
        }


@contextmanager
def _demo_whois(population: DemoPopulation, workdir: Path) -> Iterator[dict[str, str]]:
    """The WHOIS server for the demo's WHOIS TLDs, and a table naming those TLDs alone: the
    bundled one would send the others to the registries' real servers."""
    from lapsewatch_tools.local.whois_server import LoopbackWhois

    suffixes = sorted({tld(domain) for domain in population.domains} & whois_tlds())
    bundled = whois_table()
    table = {**bundled, "tlds": {suffix: bundled["tlds"][suffix] for suffix in suffixes}}
    table_file = workdir / "whois.json"
    table_file.write_text(json.dumps(table, ensure_ascii=False))
    with LoopbackWhois() as whois:
        for domain, spec in population.domains.items():
            if tld(domain) not in suffixes:
                continue
            if spec.lifecycle == "unknown":
                # A record of another name: doubt, without the refusal that benches the server.
                whois.set_fault(domain, "other_name")
            elif spec.registered_at is not None:
                whois.set_state(domain, _WHOIS_STATES[spec.lifecycle], spec.registered_at)
            else:
                whois.set_state(domain, _WHOIS_STATES[spec.lifecycle])
        yield {
            "LAPSEWATCH_WHOIS_TABLE": str(table_file),
            "LAPSEWATCH_WHOIS_SERVERS": ",".join(f"{suffix}={whois.endpoint()}" for suffix in suffixes),
        }


@contextmanager
def _demo_dns(population: DemoPopulation, workdir: Path) -> Iterator[dict[str, str]]:
    from dns.name import from_text as dns_name

    from lapsewatch_tools.local.dns_server import LoopbackDns

    server = LoopbackDns()
    server.add_zone(".")
    for suffix in sorted({tld(domain) for domain in population.domains}):
        server.add_zone(suffix, nsec3=True, opt_out=True)
    # A public suffix below its TLD (co.uk) is a zone of its own, as in the real DNS: the witness
    # finds its zone cut by the referrals.
    for domain in population.domains:
        suffix = domain.split(".", 1)[1]
        if suffix != tld(domain) and dns_name(suffix) not in server.zones:
            server.add_zone(suffix, signed=False)
    for domain, spec in population.domains.items():
        if spec.lifecycle not in _OUT_OF_ZONE:
            server.delegate(domain)
    with server:
        yield server.environment(workdir / "dns-root.ds")
