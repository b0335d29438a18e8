"""Configuration, parsed and validated once, from arguments first and the environment second."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from lapsewatch.providers import StatusProvider

DEFAULT_RDAP_RATE = 5.0


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


@dataclass(frozen=True, slots=True)
class ProviderSettings:
    provider: str = "rdap"
    rdap_bootstrap: Path | None = None
    rdap_rate: float = DEFAULT_RDAP_RATE
    domainr_client_id: str | None = None
    domainr_api_key: str | None = None
    domainr_url: str | None = None
    # Plain http to this machine, for loopback servers: the CLI allows it, the Lambda functions
    # never do.
    allow_loopback_http: bool = False

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        provider: str | None = None,
        rdap_bootstrap: str | Path | None = None,
        rdap_rate: float | None = None,
        domainr_client_id: str | None = None,
        domainr_api_key: str | None = None,
        domainr_credentials_later: bool = False,
        allow_loopback_http: bool = False,
    ) -> ProviderSettings:
        """Arguments win over `env` (LAPSEWATCH_*; the process's environment when None); raises
        ValueError on bad values.

        `domainr_credentials_later`: the Domainr credentials come from a secret, read when the
        provider is built. `allow_loopback_http` is the caller's to give, never the
        environment's: a variable set by mistake must not open plain http in production.
        """
        env = os.environ if env is None else env
        name = (provider or env.get("LAPSEWATCH_PROVIDER") or "rdap").strip().lower()
        if name not in ("rdap", "domainr"):
            raise ValueError(f"unknown status provider {name!r}: choose rdap or domainr")
        bootstrap = rdap_bootstrap or env.get("LAPSEWATCH_RDAP_BOOTSTRAP") or None
        if bootstrap is not None and not Path(bootstrap).is_file():
            raise ValueError(f"RDAP bootstrap file not found: {bootstrap}")
        rate = rdap_rate or _env_float(env, "LAPSEWATCH_RDAP_RATE") or DEFAULT_RDAP_RATE
        settings = cls(
            provider=name,
            rdap_bootstrap=Path(bootstrap) if bootstrap else None,
            rdap_rate=rate,
            domainr_client_id=domainr_client_id or env.get("LAPSEWATCH_DOMAINR_CLIENT_ID") or None,
            domainr_api_key=domainr_api_key or env.get("LAPSEWATCH_DOMAINR_API_KEY") or None,
            domainr_url=env.get("LAPSEWATCH_DOMAINR_URL") or None,
            allow_loopback_http=allow_loopback_http,
        )
        has_credentials = settings.domainr_client_id or settings.domainr_api_key
        if name == "domainr" and not has_credentials and not domainr_credentials_later:
            raise ValueError(
                "the domainr provider needs LAPSEWATCH_DOMAINR_CLIENT_ID or LAPSEWATCH_DOMAINR_API_KEY"
            )
        return settings

    def build(self) -> StatusProvider:
        if self.provider == "domainr":
            from lapsewatch.providers.domainr import DomainrProvider

            return DomainrProvider(
                client_id=self.domainr_client_id,
                api_key=self.domainr_api_key,
                base_url=self.domainr_url,
                allow_loopback_http=self.allow_loopback_http,
            )
        from lapsewatch.providers.rdap import Bootstrap, RdapProvider

        return RdapProvider(
            Bootstrap.load(self.rdap_bootstrap),
            rate=self.rdap_rate,
            allow_loopback_http=self.allow_loopback_http,
        )
