"""The sweep's configuration, read from the function's environment once per cold start.

Each setting is declared once below (lapsewatch.setting): the variable it is read from, its
parser, its default and its help. template.yaml sets the variables from the stack's parameters
(tests/unit/test_template.py holds its defaults to these); `to_env` gives the environment that
reads back as a set of settings, for a local run.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from importlib import resources
from typing import Any

from lapsewatch import setting as s
from lapsewatch.domains import InvalidDomain, registrable_domain, to_ascii
from lapsewatch.lifecycle import DEFAULT_UNSAFE, Lifecycle, parse_unsafe
from lapsewatch.providers.factory import ProviderSettings
from lapsewatch.registry.client import DEFAULT_MAX_PAGES
from lapsewatch.registry.contract import DEFAULT_LIMIT, MAX_LIMIT, NOTICE_STAGES
from lapsewatch.secrets import SECRET_MAX_AGE
from lapsewatch.setting import IN_LAMBDA, setting
from lapsewatch.sweep.bounds import MAX_TEXT_CHARS, MAX_TOKEN_CHARS, MAX_TOKENS
from lapsewatch.sweep.notices import EVIDENCE_LIST_LIMIT, EVIDENCE_TEXT_LIMIT, NOTICE_INTERVAL
from lapsewatch.sweep.records import SUMMARY_DOMAINS
from lapsewatch.timefmt import parse_time, rfc3339

# Local runs only: settings that a deployed function refuses.
LOCAL_ONLY = ("LAPSEWATCH_ALLOW_LOOPBACK_HTTP", "LAPSEWATCH_LOCAL_NOW")
# Local runs only too: the loopback DNS servers that stand in for the root's (issue 19).
LOCAL_ONLY_DNS = ("LAPSEWATCH_DNS_ROOT", "LAPSEWATCH_DNS_TRUST_ANCHOR")
# A domain first seen in one of these stages earns its owners an early-warning notice.
DEFAULT_NOTICE_STAGES = frozenset({Lifecycle.GRACE, Lifecycle.HOLD})


class SettingsError(ValueError):
    """A variable is missing or malformed; the message names it."""


def bundled_protected_domains() -> frozenset[str]:
    """The large mailbox providers bundled in lapsewatch/data/protected_domains.txt."""
    text = (resources.files("lapsewatch") / "data" / "protected_domains.txt").read_text("utf-8")
    lines = (line.strip() for line in text.splitlines())
    return frozenset(line for line in lines if line and not line.startswith("#"))


def _protected(text: str, name: str) -> frozenset[str]:
    """The bundled list, and a comma-separated list of registrable domains, each in any case or
    Unicode."""
    chosen = set()
    for part in filter(None, (part.strip() for part in text.split(","))):
        try:
            domain = registrable_domain(part)
        except InvalidDomain as exc:
            raise ValueError(f"{name}: {part!r} is not a registrable domain: {exc}") from None
        if domain != to_ascii(part.rstrip(".")):
            raise ValueError(f"{name}: {part!r} is not a registrable domain; did you mean {domain}?")
        chosen.add(domain)
    return bundled_protected_domains() | chosen


def _write_protected(domains: frozenset[str]) -> str:
    return s.listed(domains - bundled_protected_domains())


def _stages(text: str, name: str) -> frozenset[Lifecycle]:
    """Notice stages, comma-separated; blank (set, but empty) turns notices off."""
    chosen = set()
    for stage in filter(None, (part.strip() for part in text.split(","))):
        if stage not in NOTICE_STAGES:
            raise ValueError(f"{name}: {stage!r} is not a notice stage; choose from grace, hold")
        chosen.add(Lifecycle(stage))
    return frozenset(chosen)


def _unsafe(text: str, name: str) -> frozenset[Lifecycle]:
    try:
        return parse_unsafe(text.strip())
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


def _time(text: str, name: str) -> datetime:
    value = text.strip()
    try:
        return parse_time(value)
    except ValueError:
        raise ValueError(f"{name} must be an ISO 8601 time, not {value!r}") from None


def _write_time(moment: datetime) -> str:
    return rfc3339(moment) or ""


def _sorted(values: frozenset[Any]) -> list[Any]:
    return sorted(values)


def _text(env: str, help: str, *, repr: bool = True, **declared: Any) -> Any:
    """A text setting, empty by default."""
    return setting(env, s.text, default="", help=help, repr=repr, **declared)


def _whole(
    env: str, default: int, help: str, *, minimum: int, maximum: int | None = None, **declared: Any
) -> Any:
    return setting(env, s.whole_number(minimum, maximum), default=default, help=help, **declared)


@dataclass(frozen=True, slots=True)
class SweepSettings:
    domains_table: str = setting("LAPSEWATCH_DOMAINS_TABLE", s.text, help="the domains table's name")
    runs_table: str = setting("LAPSEWATCH_RUNS_TABLE", s.text, help="the runs table's name")
    check_queue_url: str = _text("LAPSEWATCH_CHECK_QUEUE_URL", "the queue of shards for the checkers")
    final_queue_url: str = _text("LAPSEWATCH_FINAL_QUEUE_URL", "the queue of runs to finish")
    dispatch_queue_url: str = _text(
        "LAPSEWATCH_DISPATCH_QUEUE_URL", "the queue a dispatcher out of time hands its run over to"
    )
    # Leave this much of a dispatcher's time for saving a checkpoint and handing over.
    dispatch_reserve_seconds: int = _whole(
        "LAPSEWATCH_DISPATCH_RESERVE_SECONDS",
        60,
        "seconds a dispatcher keeps for saving its checkpoint and handing over",
        minimum=0,
    )
    registry_url: str = _text(
        "LAPSEWATCH_REGISTRY_URL", "the registry API's base URL", parameter="RegistryUrl"
    )
    registry_token_secret_arn: str = _text(
        "LAPSEWATCH_REGISTRY_TOKEN_SECRET_ARN",
        "the secret holding the registry's bearer token",
        parameter="RegistryTokenSecretArn",
    )
    # Local runs only; deployed, the token comes from the secret.
    registry_token: str = _text("LAPSEWATCH_REGISTRY_TOKEN", "the registry's bearer token", repr=False)
    domainr_secret_arn: str = _text(
        "LAPSEWATCH_DOMAINR_SECRET_ARN",
        "the secret holding Domainr's credentials",
        parameter="DomainrSecretArn",
    )
    fastly_secret_arn: str = _text(
        "LAPSEWATCH_FASTLY_SECRET_ARN", "the secret holding Fastly's API key", parameter="FastlySecretArn"
    )
    # From here, in the order the run summary reports them, the settings that decide what is
    # unverified.
    dry_run: bool = setting(
        "LAPSEWATCH_DRY_RUN",
        s.switch,
        default=False,
        help="decide, but unverify nothing",
        write=s.write_switch,
        parameter="DryRun",
        summary="dry_run",
    )
    unsafe: frozenset[Lifecycle] = setting(
        "LAPSEWATCH_UNSAFE_LIFECYCLES",
        _unsafe,
        default=DEFAULT_UNSAFE,
        help="the lifecycles that unverify",
        write=s.listed,
        parameter="UnsafeLifecycles",
        summary="unsafe_lifecycles",
        report=_sorted,
    )
    max_unverify: int = _whole(
        "LAPSEWATCH_MAX_UNVERIFY",
        50,
        "circuit breaker: a run that finds more unsafe domains than the larger of N and "
        "--max-unverify-fraction of the domains checked waits for approval",
        minimum=0,
        parameter="MaxUnverify",
        summary="max_unverify",
    )
    max_unverify_fraction: float = setting(
        "LAPSEWATCH_MAX_UNVERIFY_FRACTION",
        s.fraction,
        default=0.01,
        help="circuit breaker, relative part: a fraction of the domains checked, from 0 to 1; 0 leaves "
        "--max-unverify alone as the limit",
        write=s.write_number,
        parameter="MaxUnverifyFraction",
        summary="max_unverify_fraction",
    )
    max_addresses_per_domain: int = _whole(
        "LAPSEWATCH_MAX_ADDRESSES_PER_DOMAIN",
        100,
        "a decision that would unverify more addresses than this at one domain waits for an operator",
        minimum=1,
        parameter="MaxAddressesPerDomain",
        summary="max_addresses_per_domain",
    )
    max_addresses_per_run: int = _whole(
        "LAPSEWATCH_MAX_ADDRESSES_PER_RUN",
        1000,
        "a run whose decisions would unverify more addresses than this waits for an operator",
        minimum=0,
        parameter="MaxAddressesPerRun",
        summary="max_addresses_per_run",
    )
    # The bundled large mailbox providers, and the operator's own.
    protected_domains: frozenset[str] = setting(
        "LAPSEWATCH_PROTECTED_DOMAINS",
        _protected,
        default_factory=bundled_protected_domains,
        help="registrable domains whose decisions always wait for approval, comma-separated, beside "
        "the bundled list of large mailbox providers",
        write=_write_protected,
        parameter="ProtectedDomains",
        shown="the bundled list",
        summary="protected_domains",
        report=len,
    )
    pending_recheck_days: int = _whole(
        "LAPSEWATCH_PENDING_RECHECK_DAYS",
        3,
        "a decision unsent after this many days is sent only after a fresh lookup confirms it",
        minimum=0,
        parameter="PendingRecheckDays",
        summary="pending_recheck_days",
    )
    unknown_streak_days: int = _whole(
        "LAPSEWATCH_UNKNOWN_STREAK_DAYS",
        7,
        "a domain unknown on every lookup for this many days is named in the run summary",
        minimum=1,
        parameter="UnknownStreakDays",
        summary="unknown_streak_days",
    )
    # The stages that earn the owners an early-warning notice; empty turns notices off.
    notice_stages: frozenset[Lifecycle] = setting(
        "LAPSEWATCH_NOTICE_STAGES",
        _stages,
        default=DEFAULT_NOTICE_STAGES,
        help='stages that earn an early-warning notice; "" turns notices off',
        unset="absent",
        write=s.listed,
        parameter="NoticeStages",
        summary="notice_stages",
        report=_sorted,
    )
    max_listing_pages: int = _whole(
        "LAPSEWATCH_MAX_LISTING_PAGES",
        DEFAULT_MAX_PAGES,
        "a registry listing of more pages than this fails the dispatch",
        minimum=1,
        parameter="MaxListingPages",
        summary="max_listing_pages",
    )
    # The final step begins no decision with less than this left before its deadline: a fresh
    # lookup (30 s) and a registry call with its Retry-After waits (5 tries, 60 s each) fit.
    final_reserve_seconds: int = _whole(
        "LAPSEWATCH_FINAL_RESERVE_SECONDS",
        360,
        "seconds before its deadline from which the final step begins no decision",
        minimum=0,
        summary="final_reserve_seconds",
    )
    shard_size: int = _whole(
        "LAPSEWATCH_SHARD_SIZE", 25, "domains per SQS message", minimum=1, maximum=400, parameter="ShardSize"
    )
    # Deliveries of a shard before it is dead-lettered: the checker writes it off on the last.
    max_receives: int = _whole(
        "LAPSEWATCH_CHECK_MAX_RECEIVES", 3, "deliveries of a shard before it is dead-lettered", minimum=1
    )
    # The registry's own page size, at most the most it allows.
    page_size: int = _whole(
        "LAPSEWATCH_PAGE_SIZE",
        DEFAULT_LIMIT,
        "domains per page of the registry's listing",
        minimum=1,
        maximum=MAX_LIMIT,
    )
    check_workers: int = _whole(
        "LAPSEWATCH_CHECK_WORKERS",
        16,
        "the threads a checker looks its batch's domains up with",
        minimum=1,
        maximum=256,
    )
    # Local runs: plain http to loopback (the demo's servers), and the time the run's clock
    # starts at (`lapsewatch run --now`). A Lambda function refuses both.
    allow_loopback_http: bool = setting(
        "LAPSEWATCH_ALLOW_LOOPBACK_HTTP",
        s.switch,
        default=False,
        help="local runs only: plain http to loopback servers",
        write=s.write_switch,
    )
    local_now: datetime | None = setting(  # noqa: RUF009 - a field(), as dataclasses.field is
        "LAPSEWATCH_LOCAL_NOW",
        _time,
        default=None,
        help="local runs only: the time the functions' clock starts at",
        write=_write_time,
    )
    provider: ProviderSettings = field(default_factory=ProviderSettings)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SweepSettings:
        env = os.environ if env is None else env
        try:
            settings = cls(**s.read(cls, env))
        except ValueError as exc:
            raise SettingsError(str(exc)) from None
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

    def to_env(self) -> dict[str, str]:
        """The environment that reads back as these settings (from_env), the provider's
        included: what a local run sets for its functions."""
        return s.to_env(self) | self.provider.to_env()

    def in_summary(self) -> dict[str, Any]:
        """The settings that decide what is unverified, as every run summary reports them, and
        the fixed limits beside them."""
        return (
            s.summary_of(self)
            | s.summary_of(self.provider)
            | {
                "notice_interval_days": NOTICE_INTERVAL.days,
                "notice_evidence_max_chars": EVIDENCE_TEXT_LIMIT,
                "notice_evidence_max_items": EVIDENCE_LIST_LIMIT,
                "secret_max_age_seconds": SECRET_MAX_AGE,
                "max_status_tokens": MAX_TOKENS,
                "max_token_chars": MAX_TOKEN_CHARS,
                "max_text_chars": MAX_TEXT_CHARS,
                "summary_domains": SUMMARY_DOMAINS,
            }
        )
