"""The sweep's configuration, read from the function's environment once per cold start.

template.yaml sets every variable below from the stack's parameters; `lapsewatch run` sets
them the same way from its options.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from importlib import resources

from lapsewatch.config import ProviderSettings
from lapsewatch.domains import InvalidDomain, registrable_domain, to_ascii
from lapsewatch.lifecycle import DEFAULT_UNSAFE, Lifecycle, parse_unsafe
from lapsewatch.registry.client import DEFAULT_MAX_PAGES
from lapsewatch.registry.contract import NOTICE_STAGES
from lapsewatch.secrets import SECRET_MAX_AGE
from lapsewatch.sweep.bounds import MAX_TEXT_CHARS, MAX_TOKEN_CHARS, MAX_TOKENS
from lapsewatch.sweep.notices import EVIDENCE_LIST_LIMIT, EVIDENCE_TEXT_LIMIT, NOTICE_INTERVAL
from lapsewatch.sweep.records import SUMMARY_DOMAINS
from lapsewatch.timefmt import parse_time

# Set in every Lambda function's environment by the Lambda runtime itself.
IN_LAMBDA = "AWS_LAMBDA_FUNCTION_NAME"
# Local runs only: settings that a deployed function refuses.
LOCAL_ONLY = ("LAPSEWATCH_ALLOW_LOOPBACK_HTTP", "LAPSEWATCH_LOCAL_NOW")
# Local runs only too: the loopback DNS servers that stand in for the root's (issue 19).
LOCAL_ONLY_DNS = ("LAPSEWATCH_DNS_ROOT", "LAPSEWATCH_DNS_TRUST_ANCHOR")
# A domain first seen in one of these stages earns its owners an early-warning notice.
DEFAULT_NOTICE_STAGES = frozenset({Lifecycle.GRACE, Lifecycle.HOLD})


class SettingsError(ValueError):
    """A variable is missing or malformed; the message names it."""


@dataclass(frozen=True, slots=True)
class SweepSettings:
    domains_table: str
    runs_table: str
    check_queue_url: str = ""
    final_queue_url: str = ""
    dispatch_queue_url: str = ""
    dispatch_reserve_seconds: int = 60
    registry_url: str = ""
    registry_token_secret_arn: str = ""
    # Local runs only; deployed, the token comes from the secret.
    registry_token: str = field(default="", repr=False)
    domainr_secret_arn: str = ""
    fastly_secret_arn: str = ""
    dry_run: bool = False
    unsafe: frozenset[Lifecycle] = DEFAULT_UNSAFE
    max_unverify: int = 50
    max_unverify_fraction: float = 0.01
    shard_size: int = 25
    max_receives: int = 3
    page_size: int = 500
    check_workers: int = 16
    max_addresses_per_domain: int = 100
    max_addresses_per_run: int = 1000
    protected_domains: frozenset[str] = frozenset()
    pending_recheck_days: int = 3
    unknown_streak_days: int = 7
    # The stages that earn the owners an early-warning notice; empty turns notices off.
    notice_stages: frozenset[Lifecycle] = DEFAULT_NOTICE_STAGES
    max_listing_pages: int = DEFAULT_MAX_PAGES
    # The final step begins no decision with less than this left before its deadline: a fresh
    # lookup (30 s) and a registry call with its Retry-After waits (5 tries, 60 s each) fit.
    final_reserve_seconds: int = 360
    # Local runs: plain http to loopback (the demo's servers), and the time the run's clock
    # starts at (`lapsewatch run --now`). A Lambda function refuses both.
    allow_loopback_http: bool = False
    local_now: datetime | None = None
    provider: ProviderSettings = field(default_factory=ProviderSettings)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SweepSettings:
        env = os.environ if env is None else env
        reader = _Reader(env)
        settings = cls(
            domains_table=reader.text("LAPSEWATCH_DOMAINS_TABLE"),
            runs_table=reader.text("LAPSEWATCH_RUNS_TABLE"),
            check_queue_url=reader.text("LAPSEWATCH_CHECK_QUEUE_URL", ""),
            final_queue_url=reader.text("LAPSEWATCH_FINAL_QUEUE_URL", ""),
            dispatch_queue_url=reader.text("LAPSEWATCH_DISPATCH_QUEUE_URL", ""),
            dispatch_reserve_seconds=reader.integer("LAPSEWATCH_DISPATCH_RESERVE_SECONDS", 60, minimum=0),
            registry_url=reader.text("LAPSEWATCH_REGISTRY_URL", ""),
            registry_token_secret_arn=reader.text("LAPSEWATCH_REGISTRY_TOKEN_SECRET_ARN", ""),
            registry_token=reader.text("LAPSEWATCH_REGISTRY_TOKEN", ""),
            domainr_secret_arn=reader.text("LAPSEWATCH_DOMAINR_SECRET_ARN", ""),
            fastly_secret_arn=reader.text("LAPSEWATCH_FASTLY_SECRET_ARN", ""),
            dry_run=reader.flag("LAPSEWATCH_DRY_RUN", False),
            unsafe=reader.unsafe("LAPSEWATCH_UNSAFE_LIFECYCLES"),
            max_unverify=reader.integer("LAPSEWATCH_MAX_UNVERIFY", 50, minimum=0),
            max_unverify_fraction=reader.fraction("LAPSEWATCH_MAX_UNVERIFY_FRACTION", 0.01),
            shard_size=reader.integer("LAPSEWATCH_SHARD_SIZE", 25, minimum=1, maximum=400),
            max_receives=reader.integer("LAPSEWATCH_CHECK_MAX_RECEIVES", 3, minimum=1),
            page_size=reader.integer("LAPSEWATCH_PAGE_SIZE", 500, minimum=1, maximum=1000),
            check_workers=reader.integer("LAPSEWATCH_CHECK_WORKERS", 16, minimum=1, maximum=256),
            max_addresses_per_domain=reader.integer("LAPSEWATCH_MAX_ADDRESSES_PER_DOMAIN", 100, minimum=1),
            max_addresses_per_run=reader.integer("LAPSEWATCH_MAX_ADDRESSES_PER_RUN", 1000, minimum=0),
            protected_domains=bundled_protected_domains() | reader.domains("LAPSEWATCH_PROTECTED_DOMAINS"),
            pending_recheck_days=reader.integer("LAPSEWATCH_PENDING_RECHECK_DAYS", 3, minimum=0),
            unknown_streak_days=reader.integer("LAPSEWATCH_UNKNOWN_STREAK_DAYS", 7, minimum=1),
            notice_stages=reader.notice_stages("LAPSEWATCH_NOTICE_STAGES"),
            max_listing_pages=reader.integer("LAPSEWATCH_MAX_LISTING_PAGES", DEFAULT_MAX_PAGES, minimum=1),
            final_reserve_seconds=reader.integer("LAPSEWATCH_FINAL_RESERVE_SECONDS", 360, minimum=0),
            allow_loopback_http=reader.flag("LAPSEWATCH_ALLOW_LOOPBACK_HTTP", False),
            local_now=reader.time("LAPSEWATCH_LOCAL_NOW"),
        )
        if env.get(IN_LAMBDA) and (settings.allow_loopback_http or settings.local_now):
            raise SettingsError(
                f"{' and '.join(LOCAL_ONLY)} are for local runs; a Lambda function refuses them"
            )
        if env.get(IN_LAMBDA) and any(env.get(name, "").strip() for name in LOCAL_ONLY_DNS):
            raise SettingsError(
                f"{' and '.join(LOCAL_ONLY_DNS)} are for local runs; a Lambda function refuses them"
            )
        try:
            provider = ProviderSettings.from_env(
                env,
                credentials_later=bool(settings.domainr_secret_arn or settings.fastly_secret_arn),
                allow_loopback_http=settings.allow_loopback_http,
            )
        except ValueError as exc:
            raise SettingsError(str(exc)) from None
        return replace(settings, provider=provider)

    def in_summary(self) -> dict:
        """The settings that decide what is unverified, as every run summary reports them."""
        return {
            "dry_run": self.dry_run,
            "unsafe_lifecycles": sorted(self.unsafe),
            "max_unverify": self.max_unverify,
            "max_unverify_fraction": self.max_unverify_fraction,
            "max_addresses_per_domain": self.max_addresses_per_domain,
            "max_addresses_per_run": self.max_addresses_per_run,
            "protected_domains": len(self.protected_domains),
            "pending_recheck_days": self.pending_recheck_days,
            "unknown_streak_days": self.unknown_streak_days,
            "notice_stages": sorted(self.notice_stages),
            "notice_interval_days": NOTICE_INTERVAL.days,
            "notice_evidence_max_chars": EVIDENCE_TEXT_LIMIT,
            "notice_evidence_max_items": EVIDENCE_LIST_LIMIT,
            "secret_max_age_seconds": SECRET_MAX_AGE,
            "providers": ",".join(self.provider.providers),
            "max_listing_pages": self.max_listing_pages,
            "final_reserve_seconds": self.final_reserve_seconds,
            "max_status_tokens": MAX_TOKENS,
            "max_token_chars": MAX_TOKEN_CHARS,
            "max_text_chars": MAX_TEXT_CHARS,
            "summary_domains": SUMMARY_DOMAINS,
            "dns_witness": self.provider.dns_witness,
        }


def bundled_protected_domains() -> frozenset[str]:
    """The large mailbox providers bundled in lapsewatch/data/protected_domains.txt."""
    text = (resources.files("lapsewatch") / "data" / "protected_domains.txt").read_text("utf-8")
    lines = (line.strip() for line in text.splitlines())
    return frozenset(line for line in lines if line and not line.startswith("#"))


class _Reader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def text(self, name: str, default: str | None = None) -> str:
        value = self.env.get(name, "").strip()
        if value:
            return value
        if default is None:
            raise SettingsError(f"{name} is not set")
        return default

    def flag(self, name: str, default: bool) -> bool:
        value = self.env.get(name, "").strip().lower()
        if not value:
            return default
        if value in ("1", "true", "yes", "on"):
            return True
        if value in ("0", "false", "no", "off"):
            return False
        raise SettingsError(f"{name} must be true or false, not {value!r}")

    def integer(self, name: str, default: int, *, minimum: int, maximum: int | None = None) -> int:
        value = self.env.get(name, "").strip()
        if not value:
            return default
        try:
            number = int(value)
        except ValueError:
            raise SettingsError(f"{name} must be a whole number, not {value!r}") from None
        if number < minimum or (maximum is not None and number > maximum):
            raise SettingsError(f"{name} must be between {minimum} and {maximum or 'any'}, not {number}")
        return number

    def fraction(self, name: str, default: float) -> float:
        value = self.env.get(name, "").strip()
        if not value:
            return default
        try:
            number = float(value)
        except ValueError:
            raise SettingsError(f"{name} must be a number, not {value!r}") from None
        if not 0 <= number <= 1:
            raise SettingsError(f"{name} must be between 0 and 1, not {number}")
        return number

    def domains(self, name: str) -> frozenset[str]:
        """A comma-separated list of registrable domains, each in any case or Unicode."""
        chosen = set()
        for text in filter(None, (part.strip() for part in self.env.get(name, "").split(","))):
            try:
                domain = registrable_domain(text)
            except InvalidDomain as exc:
                raise SettingsError(f"{name}: {text!r} is not a registrable domain: {exc}") from None
            if domain != to_ascii(text.rstrip(".")):
                raise SettingsError(f"{name}: {text!r} is not a registrable domain; did you mean {domain}?")
            chosen.add(domain)
        return frozenset(chosen)

    def notice_stages(self, name: str) -> frozenset[Lifecycle]:
        """grace and hold by default; an empty value (set, but blank) turns notices off."""
        if name not in self.env:
            return frozenset({Lifecycle.GRACE, Lifecycle.HOLD})
        chosen = set()
        for stage in filter(None, (part.strip() for part in self.env[name].split(","))):
            if stage not in NOTICE_STAGES:
                raise SettingsError(f"{name}: {stage!r} is not a notice stage; choose from grace, hold")
            chosen.add(Lifecycle(stage))
        return frozenset(chosen)

    def time(self, name: str) -> datetime | None:
        value = self.env.get(name, "").strip()
        if not value:
            return None
        try:
            return parse_time(value)
        except ValueError:
            raise SettingsError(f"{name} must be an ISO 8601 time, not {value!r}") from None

    def unsafe(self, name: str) -> frozenset[Lifecycle]:
        value = self.env.get(name, "").strip()
        if not value:
            return DEFAULT_UNSAFE
        try:
            return parse_unsafe(value)
        except ValueError as exc:
            raise SettingsError(f"{name}: {exc}") from None
