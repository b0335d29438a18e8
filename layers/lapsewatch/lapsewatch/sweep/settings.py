"""The sweep's configuration, read from the function's environment once per cold start.

template.yaml sets every variable below from the stack's parameters; `lapsewatch run` sets
them the same way from its options.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from lapsewatch.config import ProviderSettings
from lapsewatch.lifecycle import DEFAULT_UNSAFE, Lifecycle, parse_unsafe


class SettingsError(ValueError):
    """A variable is missing or malformed; the message names it."""


@dataclass(frozen=True, slots=True)
class SweepSettings:
    domains_table: str
    runs_table: str
    idempotency_table: str = ""
    check_queue_url: str = ""
    final_queue_url: str = ""
    dispatch_queue_url: str = ""
    dispatch_reserve_seconds: int = 60
    registry_url: str = ""
    domainr_secret_arn: str = ""
    dry_run: bool = False
    unsafe: frozenset[Lifecycle] = DEFAULT_UNSAFE
    max_unverify: int = 50
    max_unverify_fraction: float = 0.01
    shard_size: int = 25
    max_receives: int = 3
    page_size: int = 500
    check_workers: int = 16
    provider: ProviderSettings = field(default_factory=ProviderSettings)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SweepSettings:
        env = os.environ if env is None else env
        reader = _Reader(env)
        settings = cls(
            domains_table=reader.text("LAPSEWATCH_DOMAINS_TABLE"),
            runs_table=reader.text("LAPSEWATCH_RUNS_TABLE"),
            idempotency_table=reader.text("LAPSEWATCH_IDEMPOTENCY_TABLE", ""),
            check_queue_url=reader.text("LAPSEWATCH_CHECK_QUEUE_URL", ""),
            final_queue_url=reader.text("LAPSEWATCH_FINAL_QUEUE_URL", ""),
            dispatch_queue_url=reader.text("LAPSEWATCH_DISPATCH_QUEUE_URL", ""),
            dispatch_reserve_seconds=reader.integer("LAPSEWATCH_DISPATCH_RESERVE_SECONDS", 60, minimum=0),
            registry_url=reader.text("LAPSEWATCH_REGISTRY_URL", ""),
            domainr_secret_arn=reader.text("LAPSEWATCH_DOMAINR_SECRET_ARN", ""),
            dry_run=reader.flag("LAPSEWATCH_DRY_RUN", False),
            unsafe=reader.unsafe("LAPSEWATCH_UNSAFE_LIFECYCLES"),
            max_unverify=reader.integer("LAPSEWATCH_MAX_UNVERIFY", 50, minimum=0),
            max_unverify_fraction=reader.fraction("LAPSEWATCH_MAX_UNVERIFY_FRACTION", 0.01),
            shard_size=reader.integer("LAPSEWATCH_SHARD_SIZE", 25, minimum=1, maximum=400),
            max_receives=reader.integer("LAPSEWATCH_CHECK_MAX_RECEIVES", 3, minimum=1),
            page_size=reader.integer("LAPSEWATCH_PAGE_SIZE", 500, minimum=1, maximum=1000),
            check_workers=reader.integer("LAPSEWATCH_CHECK_WORKERS", 16, minimum=1, maximum=256),
        )
        try:
            provider = ProviderSettings.from_env(domainr_credentials_later=bool(settings.domainr_secret_arn))
        except ValueError as exc:
            raise SettingsError(str(exc)) from None
        return replace(settings, provider=provider)


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

    def unsafe(self, name: str) -> frozenset[Lifecycle]:
        value = self.env.get(name, "").strip()
        if not value:
            return DEFAULT_UNSAFE
        try:
            return parse_unsafe(value)
        except ValueError as exc:
            raise SettingsError(f"{name}: {exc}") from None
