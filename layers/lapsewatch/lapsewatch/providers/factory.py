"""The status providers and the DNS witness, built from their settings: the provider factory.

`ProviderSettings` declares each setting once (lapsewatch.setting): the variable it is read
from, its parser, its default and its help. `from_env` reads them, arguments first; `build` and
`build_witness` make the providers and the witness they name. Nothing heavy is imported until
a provider, or the witness, is built: the command line reads these declarations while it builds
its parser.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lapsewatch import setting as s
from lapsewatch.net import egress
from lapsewatch.setting import IN_LAMBDA, setting

if TYPE_CHECKING:
    from lapsewatch.dns.walker import DnsWitness
    from lapsewatch.providers import StatusProvider
    from lapsewatch.providers.chain import ProviderChain

# Requests a second to each RDAP server, per process (LAPSEWATCH_RDAP_RATE).
DEFAULT_RDAP_RATE = 5.0
# Requests a second to Fastly's Domain Research API, per process (LAPSEWATCH_FASTLY_RATE).
DEFAULT_FASTLY_RATE = 10.0
PROVIDER_NAMES = ("rdap", "whois", "fastly", "domainr")


def parse_switch(text: str, name: str) -> bool:
    """on/off, as an operator writes it (true/false, yes/no, 1/0 too); raises ValueError."""
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name} must be on or off, not {text!r}")


def parse_chain(text: str, name: str = "") -> tuple[str, ...]:
    """A provider chain as an operator writes it ("rdap,fastly"); raises ValueError."""
    names = tuple(part.strip().lower() for part in text.split(",") if part.strip())
    if not names:
        raise ValueError("the provider chain is empty")
    for provider in names:
        if provider not in PROVIDER_NAMES:
            raise ValueError(f"unknown status provider {provider!r}: choose from {', '.join(PROVIDER_NAMES)}")
    if len(set(names)) != len(names):
        raise ValueError(f"a provider is named twice in {text!r}")
    return names


def _file(what: str) -> s.Parser:
    def parse(path: str, name: str) -> Path:
        if not Path(path).is_file():
            raise ValueError(f"{what} not found: {path}")
        return Path(path)

    return parse


def _ports(text: str, name: str) -> frozenset[int]:
    try:
        return egress.parse_ports(text)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


def _whois_servers(text: str, name: str) -> tuple[tuple[str, tuple[str, int]], ...]:
    return _servers([part for part in text.split(",") if part.strip()])


def _servers(texts: Sequence[str]) -> tuple[tuple[str, tuple[str, int]], ...]:
    """TLD=HOST[:PORT] overrides of the WHOIS table's servers, as {tld: (host, port)} items."""
    from lapsewatch.providers.whois import parse_server

    return tuple(sorted(dict(parse_server(text) for text in texts).items()))


def _write_servers(servers: tuple[tuple[str, tuple[str, int]], ...]) -> str:
    return ",".join(f"{tld}={_host_port(host, port)}" for tld, (host, port) in servers)


def _roots(text: str, name: str) -> tuple[tuple[str, int | None], ...]:
    from lapsewatch.dns.roots import parse_roots

    try:
        return parse_roots(text)
    except ValueError as exc:
        raise ValueError(f"DNS root: {exc}") from None


def _write_roots(roots: tuple[tuple[str, int | None], ...]) -> str:
    return ",".join(address if port is None else _host_port(address, port) for address, port in roots)


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _trust_anchor(path: str, name: str) -> Path:
    from lapsewatch.dns.roots import parse_trust_anchor

    anchor = _file("DNS trust anchor file")(path, name)
    try:
        parse_trust_anchor(anchor.read_text("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"DNS trust anchor file {anchor}: {exc}") from None
    return anchor


@dataclass(frozen=True, slots=True)
class ProviderSettings:
    # The chain, in order: each domain is answered by the first provider that serves its TLD.
    # LAPSEWATCH_PROVIDER, one name, is read when LAPSEWATCH_PROVIDERS is unset.
    providers: tuple[str, ...] = setting(
        "LAPSEWATCH_PROVIDERS",
        parse_chain,
        default=("rdap", "whois"),
        help="status providers, in order, each domain answered by the first that serves its TLD: "
        f"{', '.join(PROVIDER_NAMES)}, comma-separated, e.g. rdap,whois,fastly",
        unset="empty",
        aliases=("LAPSEWATCH_PROVIDER",),
        write=s.listed,
        parameter="StatusProviders",
        summary="providers",
        report=s.listed,
    )
    rdap_bootstrap: Path | None = setting(  # noqa: RUF009 - a field(), as dataclasses.field is
        "LAPSEWATCH_RDAP_BOOTSTRAP",
        _file("RDAP bootstrap file"),
        default=None,
        help="IANA RDAP bootstrap file (dns.json) to use instead of the bundled snapshot",
        unset="empty",
        shown="the bundled snapshot",
    )
    # Servers missing from IANA's file (bundled when None); IANA's entry wins where both have one.
    rdap_extra: Path | None = setting(  # noqa: RUF009 - a field(), as dataclasses.field is
        "LAPSEWATCH_RDAP_EXTRA",
        _file("extra RDAP bootstrap file"),
        default=None,
        help="RDAP servers for TLDs missing from IANA's file, in the same shape; IANA's file wins "
        "where both name one",
        unset="empty",
        shown="the bundled list",
    )
    rdap_rate: float = setting(
        "LAPSEWATCH_RDAP_RATE",
        s.positive_number,
        default=DEFAULT_RDAP_RATE,
        help="requests per second per RDAP server",
        write=s.write_number,
        parameter="RdapRatePerServer",
    )
    domainr_client_id: str | None = setting(
        "LAPSEWATCH_DOMAINR_CLIENT_ID",
        s.raw_text,
        default=None,
        help="Domainr's RapidAPI client id",
        unset="empty",
    )
    domainr_api_key: str | None = setting(
        "LAPSEWATCH_DOMAINR_API_KEY", s.raw_text, default=None, help="Domainr's API key", unset="empty"
    )
    domainr_url: str | None = setting(
        "LAPSEWATCH_DOMAINR_URL", s.raw_text, default=None, help="Domainr's status URL", unset="empty"
    )
    fastly_api_key: str | None = setting(
        "LAPSEWATCH_FASTLY_API_KEY",
        s.raw_text,
        default=None,
        help="a Fastly API token allowed to use Domain Research",
        unset="empty",
        repr=False,
    )
    fastly_url: str | None = setting(
        "LAPSEWATCH_FASTLY_URL", s.raw_text, default=None, help="Fastly's status URL", unset="empty"
    )
    fastly_rate: float = setting(
        "LAPSEWATCH_FASTLY_RATE",
        s.positive_number,
        default=DEFAULT_FASTLY_RATE,
        help="requests per second to Fastly's Domain Research API",
        write=s.write_number,
        parameter="FastlyRate",
    )
    # The WHOIS table (bundled when None), and TLDs whose WHOIS queries go to another server
    # (local runs only: a loopback stand-in), as {tld: (host, port)}.
    whois_table: Path | None = setting(  # noqa: RUF009 - a field(), as dataclasses.field is
        "LAPSEWATCH_WHOIS_TABLE",
        _file("WHOIS table"),
        default=None,
        help="WHOIS servers and reading rules to use instead of the bundled table",
        unset="empty",
        shown="the bundled table",
    )
    whois_servers: tuple[tuple[str, tuple[str, int]], ...] = setting(
        "LAPSEWATCH_WHOIS_SERVERS",
        _whois_servers,
        default=(),
        help="send a TLD's WHOIS queries to another server, keeping its reading rules; repeatable",
        write=_write_servers,
        shown="the table's servers",
    )
    # The ports status lookups may connect to, beyond loopback.
    egress_ports: frozenset[int] = setting(
        "LAPSEWATCH_EGRESS_PORTS",
        _ports,
        default=egress.DEFAULT_PORTS,
        help="the ports status lookups may connect to, comma-separated",
        write=s.listed,
        parameter="EgressPorts",
    )
    # Plain http to this machine, for loopback servers: the CLI allows it, the Lambda functions
    # never do. The caller's to give, never the environment's.
    allow_loopback_http: bool = False
    # The DNS witness (issue 19): asked before a lapse is believed. Local runs and tests replace
    # the bundled root hints and trust anchor with their own loopback servers' (local only).
    dns_witness: bool = setting(
        "LAPSEWATCH_DNS_WITNESS",
        lambda text, name: parse_switch(text.strip(), name),
        default=True,
        help="ask the zone above a domain whether it still delegates it before a lapse is believed",
        write=s.write_switch,
        parameter="DnsWitness",
        shown="on",
        summary="dns_witness",
    )
    dns_roots: tuple[tuple[str, int | None], ...] | None = setting(
        "LAPSEWATCH_DNS_ROOT",
        lambda text, name: _roots(text.strip(), name),
        default=None,
        help="local only: a root name server to start resolution from, instead of the bundled root "
        "hints; with a port, every server reached is asked at that port",
        write=_write_roots,
        shown="the bundled hints",
    )
    dns_trust_anchor: Path | None = setting(  # noqa: RUF009 - a field(), as dataclasses.field is
        "LAPSEWATCH_DNS_TRUST_ANCHOR",
        _trust_anchor,
        default=None,
        help="local only: the root's DS records, one a line as dig prints them, instead of the "
        "bundled root trust anchor",
        unset="empty",
        shown="the bundled anchor",
    )

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        provider: str | None = None,
        rdap_bootstrap: str | Path | None = None,
        rdap_extra: str | Path | None = None,
        rdap_rate: float | None = None,
        domainr_client_id: str | None = None,
        domainr_api_key: str | None = None,
        credentials_later: bool = False,
        allow_loopback_http: bool = False,
        whois_table: str | Path | None = None,
        whois_servers: Sequence[str] | None = None,
        dns_witness: bool | None = None,
        dns_roots: Sequence[str] | None = None,
        dns_trust_anchor: str | Path | None = None,
    ) -> ProviderSettings:
        """Arguments win over `env` (LAPSEWATCH_*; the process's environment when None); raises
        ValueError on bad values.

        `provider` is a chain ("rdap,fastly"), as is LAPSEWATCH_PROVIDERS (LAPSEWATCH_PROVIDER,
        one name, is read when that is unset). `credentials_later`: the Domainr and Fastly
        credentials come from secrets, read when the provider is built. `allow_loopback_http` is
        the caller's to give, never the environment's: a variable set by mistake must not open
        plain http in production.
        """
        env = os.environ if env is None else env
        if provider is not None and not provider.strip():
            raise ValueError("the provider chain is empty: name at least one of " + ", ".join(PROVIDER_NAMES))
        arguments = {
            "providers": provider,
            "rdap_bootstrap": rdap_bootstrap,
            "rdap_extra": rdap_extra,
            "domainr_client_id": domainr_client_id,
            "domainr_api_key": domainr_api_key,
            "whois_table": whois_table,
            "dns_roots": ",".join(dns_roots) if dns_roots else None,
            "dns_trust_anchor": dns_trust_anchor,
        }
        # Each argument as the environment's text would read (a falsy one is not given).
        given: dict[str, Any] = {
            name: _declared(name).parse(str(value), _declared(name).env)
            for name, value in arguments.items()
            if value
        }
        if rdap_rate:
            given["rdap_rate"] = rdap_rate
        if whois_servers:
            given["whois_servers"] = _servers(whois_servers)
        if dns_witness is not None:
            given["dns_witness"] = dns_witness
        settings = cls(**s.read(cls, env, given), allow_loopback_http=allow_loopback_http)
        settings._check_whois(in_lambda=bool(env.get(IN_LAMBDA)))
        if not credentials_later:
            settings._check_credentials()
        return settings

    def _check_whois(self, *, in_lambda: bool) -> None:
        """A WHOIS server override is for local runs (a loopback stand-in), as a local clock is,
        and names a TLD the table serves."""
        if not self.whois_servers:
            return
        if in_lambda:
            raise ValueError("LAPSEWATCH_WHOIS_SERVERS is for local runs; a Lambda function refuses it")
        if "whois" not in self.providers:
            raise ValueError("a WHOIS server is named, but whois is not in the provider chain")
        from lapsewatch.providers.whois_rules import WhoisTable

        served = WhoisTable.load(self.whois_table).rules
        for tld, _ in self.whois_servers:
            if tld not in served:
                raise ValueError(f"the WHOIS table does not serve .{tld}: no server of its can be replaced")

    def _check_credentials(self) -> None:
        if "domainr" in self.providers and not (self.domainr_client_id or self.domainr_api_key):
            raise ValueError(
                "the domainr provider needs LAPSEWATCH_DOMAINR_CLIENT_ID or LAPSEWATCH_DOMAINR_API_KEY"
            )
        if "fastly" in self.providers and not self.fastly_api_key:
            raise ValueError("the fastly provider needs LAPSEWATCH_FASTLY_API_KEY")

    def to_env(self) -> dict[str, str]:
        """The environment that reads back as these settings (`allow_loopback_http` aside:
        never the environment's)."""
        return s.to_env(self)

    def build_witness(self) -> DnsWitness | None:
        """The DNS witness, or None when it is turned off."""
        if not self.dns_witness:
            return None
        from lapsewatch.dns.roots import build_witness

        return build_witness(self.dns_roots, self.dns_trust_anchor, allow_loopback=self.allow_loopback_http)

    def build(self) -> ProviderChain:
        from lapsewatch.providers.chain import ProviderChain

        return ProviderChain([self._build(name) for name in self.providers])

    def _build(self, name: str) -> StatusProvider:
        if name == "domainr":
            from lapsewatch.providers.domainr import DomainrProvider

            return DomainrProvider(
                client_id=self.domainr_client_id,
                api_key=self.domainr_api_key,
                base_url=self.domainr_url,
                allow_loopback_http=self.allow_loopback_http,
                egress_ports=self.egress_ports,
            )
        if name == "fastly":
            from lapsewatch.providers.fastly import FastlyProvider

            return FastlyProvider(
                api_key=self.fastly_api_key or "",
                base_url=self.fastly_url,
                rate=self.fastly_rate,
                allow_loopback_http=self.allow_loopback_http,
                egress_ports=self.egress_ports,
            )
        if name == "whois":
            from lapsewatch.providers.whois import WhoisProvider
            from lapsewatch.providers.whois_rules import WhoisTable

            return WhoisProvider(
                WhoisTable.load(self.whois_table),
                servers=dict(self.whois_servers),
                allow_loopback=self.allow_loopback_http,
            )
        from lapsewatch.providers.rdap import RdapProvider
        from lapsewatch.providers.rdap_bootstrap import Bootstrap

        return RdapProvider(
            Bootstrap.load(self.rdap_bootstrap, extra=self.rdap_extra),
            rate=self.rdap_rate,
            allow_loopback_http=self.allow_loopback_http,
            egress_ports=self.egress_ports,
        )


def _declared(name: str) -> s.Setting:
    return s.declaration(ProviderSettings, name)
