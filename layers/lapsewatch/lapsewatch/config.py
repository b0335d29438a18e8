"""Configuration, parsed and validated once, from arguments first and the environment second."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lapsewatch.dns.roots import build_witness, parse_roots, parse_trust_anchor
from lapsewatch.dns.walker import DnsWitness
from lapsewatch.net import egress
from lapsewatch.providers import StatusProvider
from lapsewatch.providers.chain import ProviderChain

DEFAULT_RDAP_RATE = 5.0
# Requests a second to Fastly's Domain Research API, per process (LAPSEWATCH_FASTLY_RATE).
DEFAULT_FASTLY_RATE = 10.0


def _env_float(env: Mapping[str, str], name: str) -> float | None:
    text = env.get(name)
    if text is None or not text.strip():
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name} must be a number, not {text!r}") from None
    if not value > 0:
        raise ValueError(f"{name} must be greater than 0, not {text!r}")
    return value


def _env_ports(env: Mapping[str, str], name: str) -> frozenset[int]:
    text = env.get(name)
    if text is None or not text.strip():
        return egress.DEFAULT_PORTS
    try:
        return egress.parse_ports(text)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


PROVIDER_NAMES = ("rdap", "whois", "fastly", "domainr")
# RDAP wherever a TLD has it, WHOIS for the TLDs its table names.
DEFAULT_CHAIN = "rdap,whois"
# Set in every deployed Lambda function: what is for local runs only is refused there.
IN_LAMBDA = "AWS_LAMBDA_FUNCTION_NAME"


def parse_switch(text: str, name: str) -> bool:
    """on/off, as an operator writes it (true/false, yes/no, 1/0 too); raises ValueError."""
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name} must be on or off, not {text!r}")


def parse_chain(text: str) -> tuple[str, ...]:
    """A provider chain as an operator writes it ("rdap,fastly"); raises ValueError."""
    names = tuple(name.strip().lower() for name in text.split(",") if name.strip())
    if not names:
        raise ValueError("the provider chain is empty")
    for name in names:
        if name not in PROVIDER_NAMES:
            raise ValueError(f"unknown status provider {name!r}: choose from {', '.join(PROVIDER_NAMES)}")
    if len(set(names)) != len(names):
        raise ValueError(f"a provider is named twice in {text!r}")
    return names


@dataclass(frozen=True, slots=True)
class ProviderSettings:
    # The chain, in order: each domain is answered by the first provider that serves its TLD.
    providers: tuple[str, ...] = tuple(DEFAULT_CHAIN.split(","))
    rdap_bootstrap: Path | None = None
    # Servers missing from IANA's file (bundled when None); IANA's entry wins where both have one.
    rdap_extra: Path | None = None
    rdap_rate: float = DEFAULT_RDAP_RATE
    domainr_client_id: str | None = None
    domainr_api_key: str | None = None
    domainr_url: str | None = None
    fastly_api_key: str | None = field(default=None, repr=False)
    fastly_url: str | None = None
    fastly_rate: float = DEFAULT_FASTLY_RATE
    # The WHOIS table (bundled when None), and TLDs whose WHOIS queries go to another server
    # (local runs only: a loopback stand-in), as {tld: (host, port)}.
    whois_table: Path | None = None
    whois_servers: tuple[tuple[str, tuple[str, int]], ...] = ()
    # The ports status lookups may connect to, beyond loopback (LAPSEWATCH_EGRESS_PORTS).
    egress_ports: frozenset[int] = egress.DEFAULT_PORTS
    # Plain http to this machine, for loopback servers: the CLI allows it, the Lambda functions
    # never do.
    allow_loopback_http: bool = False
    # The DNS witness (issue 19): asked before a lapse is believed. Local runs and tests replace
    # the bundled root hints and trust anchor with their own loopback servers' (local only).
    dns_witness: bool = True
    dns_roots: tuple[tuple[str, int | None], ...] | None = None
    dns_trust_anchor: Path | None = None

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
        chain = parse_chain(
            provider or env.get("LAPSEWATCH_PROVIDERS") or env.get("LAPSEWATCH_PROVIDER") or DEFAULT_CHAIN
        )
        bootstrap = _file(rdap_bootstrap or env.get("LAPSEWATCH_RDAP_BOOTSTRAP"), "RDAP bootstrap file")
        extra = _file(rdap_extra or env.get("LAPSEWATCH_RDAP_EXTRA"), "extra RDAP bootstrap file")
        settings = cls(
            providers=chain,
            rdap_bootstrap=bootstrap,
            rdap_extra=extra,
            rdap_rate=rdap_rate or _env_float(env, "LAPSEWATCH_RDAP_RATE") or DEFAULT_RDAP_RATE,
            domainr_client_id=domainr_client_id or env.get("LAPSEWATCH_DOMAINR_CLIENT_ID") or None,
            domainr_api_key=domainr_api_key or env.get("LAPSEWATCH_DOMAINR_API_KEY") or None,
            domainr_url=env.get("LAPSEWATCH_DOMAINR_URL") or None,
            fastly_api_key=env.get("LAPSEWATCH_FASTLY_API_KEY") or None,
            fastly_url=env.get("LAPSEWATCH_FASTLY_URL") or None,
            fastly_rate=_env_float(env, "LAPSEWATCH_FASTLY_RATE") or DEFAULT_FASTLY_RATE,
            egress_ports=_env_ports(env, "LAPSEWATCH_EGRESS_PORTS"),
            allow_loopback_http=allow_loopback_http,
            **_whois_settings(env, whois_table, whois_servers, chain),
            **_dns_settings(env, dns_witness, dns_roots, dns_trust_anchor),
        )
        if not credentials_later:
            if "domainr" in chain and not (settings.domainr_client_id or settings.domainr_api_key):
                raise ValueError(
                    "the domainr provider needs LAPSEWATCH_DOMAINR_CLIENT_ID or LAPSEWATCH_DOMAINR_API_KEY"
                )
            if "fastly" in chain and not settings.fastly_api_key:
                raise ValueError("the fastly provider needs LAPSEWATCH_FASTLY_API_KEY")
        return settings

    def build_witness(self) -> DnsWitness | None:
        """The DNS witness, or None when it is turned off."""
        if not self.dns_witness:
            return None
        return build_witness(self.dns_roots, self.dns_trust_anchor, allow_loopback=self.allow_loopback_http)

    def build(self) -> ProviderChain:
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


def _whois_settings(
    env: Mapping[str, str], table: str | Path | None, servers: Sequence[str] | None, chain: tuple[str, ...]
) -> dict:
    """The WHOIS table and server overrides, from arguments or LAPSEWATCH_WHOIS_TABLE and
    LAPSEWATCH_WHOIS_SERVERS (TLD=HOST[:PORT], comma-separated); raises ValueError.

    An override names a TLD the table serves; it is for local runs (a loopback stand-in), and a
    deployed function refuses it, as it refuses a local clock.
    """
    from lapsewatch.providers.whois import parse_server
    from lapsewatch.providers.whois_rules import WhoisTable

    path = _file(table or env.get("LAPSEWATCH_WHOIS_TABLE"), "WHOIS table")
    texts = list(servers or []) or [
        t for t in (env.get("LAPSEWATCH_WHOIS_SERVERS") or "").split(",") if t.strip()
    ]
    if texts and env.get(IN_LAMBDA):
        raise ValueError("LAPSEWATCH_WHOIS_SERVERS is for local runs; a Lambda function refuses it")
    overrides = dict(parse_server(text) for text in texts)
    if overrides:
        if "whois" not in chain:
            raise ValueError("a WHOIS server is named, but whois is not in the provider chain")
        served = WhoisTable.load(path).rules
        for tld in overrides:
            if tld not in served:
                raise ValueError(f"the WHOIS table does not serve .{tld}: no server of its can be replaced")
    return {"whois_table": path, "whois_servers": tuple(sorted(overrides.items()))}


def _dns_settings(
    env: Mapping[str, str],
    switch: bool | None,
    roots: Sequence[str] | None,
    anchor: str | Path | None,
) -> dict:
    """The DNS witness's settings, arguments first (LAPSEWATCH_DNS_WITNESS, _DNS_ROOT, _DNS_TRUST_ANCHOR)."""
    if switch is None:
        text = env.get("LAPSEWATCH_DNS_WITNESS", "").strip()
        switch = parse_switch(text, "LAPSEWATCH_DNS_WITNESS") if text else True
    root_text = ",".join(roots) if roots else env.get("LAPSEWATCH_DNS_ROOT", "").strip()
    anchor_path = _file(anchor or env.get("LAPSEWATCH_DNS_TRUST_ANCHOR"), "DNS trust anchor file")
    if anchor_path is not None:
        try:
            parse_trust_anchor(anchor_path.read_text("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValueError(f"DNS trust anchor file {anchor_path}: {exc}") from None
    try:
        parsed_roots = parse_roots(root_text) if root_text else None
    except ValueError as exc:
        raise ValueError(f"DNS root: {exc}") from None
    return {"dns_witness": switch, "dns_roots": parsed_roots, "dns_trust_anchor": anchor_path}


def _file(path: str | Path | None, what: str) -> Path | None:
    if not path:
        return None
    if not Path(path).is_file():
        raise ValueError(f"{what} not found: {path}")
    return Path(path)
