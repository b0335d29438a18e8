"""Wire the sweep's parts from its settings, once per cold start.

Tests and the local run build a Runtime with other parts (a loopback registry, a provider of
their own) instead of patching anything.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import cache, cached_property
from typing import Any

import boto3

from lapsewatch.check import CONFIRM_DELAY, DomainChecker
from lapsewatch.dns.evidence import DelegationWitness
from lapsewatch.providers import Observation, StatusProvider
from lapsewatch.providers.factory import ProviderSettings
from lapsewatch.registry import RegistryClient
from lapsewatch.secrets import domainr_credentials, fastly_api_key, registry_token
from lapsewatch.sweep.apply import Applier
from lapsewatch.sweep.breaker import BreakerLimits
from lapsewatch.sweep.checking import ShardChecker
from lapsewatch.sweep.dispatch import Dispatcher
from lapsewatch.sweep.finalize import Finalizer
from lapsewatch.sweep.manual import ManualCheck
from lapsewatch.sweep.notices import Notifier
from lapsewatch.sweep.observability import adopt_library_loggers, emit_run_summary
from lapsewatch.sweep.queues import CheckQueue, DispatchQueue, FinalQueue
from lapsewatch.sweep.settings import SweepSettings
from lapsewatch.sweep.store import RunStore

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    """Every part a function needs, each one built: `from_env` for a function, the parts of
    their own for tests and the local run."""

    settings: SweepSettings
    clock: Callable[[], datetime]
    provider: StatusProvider
    registry_client: Callable[[], RegistryClient]
    sqs: Any
    store: RunStore
    confirm_delay: float = CONFIRM_DELAY
    # The DNS witness; None when it is turned off (and for tests' own parts, unless they give one).
    witness: DelegationWitness | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Runtime:
        """The parts as deployed, from `env` (the function's environment when None)."""
        settings = SweepSettings.from_env(env)
        adopt_library_loggers()
        clock = _now
        if settings.local_now is not None:
            # A local run "on another day" (`lapsewatch run --now`): the clock starts there and runs.
            offset = settings.local_now - _now()
            clock = lambda: _now() + offset  # noqa: E731 - a clock is a callable value
        return cls(
            settings=settings,
            clock=clock,
            provider=ProvidersFromSecrets(settings),
            # Built on first use: a held or dry run never needs the registry's token.
            registry_client=cache(lambda: _registry_client(settings)),
            sqs=boto3.client("sqs"),
            store=RunStore(domains_table=settings.domains_table, runs_table=settings.runs_table, clock=clock),
            witness=_witness(settings),
        )

    @cached_property
    def checker(self) -> DomainChecker:
        return DomainChecker(
            self.provider,
            unsafe=self.settings.unsafe,
            confirm=self.settings.notice_stages,
            clock=self.clock,
            confirm_delay=self.confirm_delay,
            witness=self.witness,
        )

    @cached_property
    def final_queue(self) -> FinalQueue:
        return FinalQueue(self.sqs, self.settings.final_queue_url)

    @cached_property
    def dispatcher(self) -> Dispatcher:
        return Dispatcher(
            registry=self.registry_client,
            store=self.store,
            queue=CheckQueue(self.sqs, self.settings.check_queue_url),
            start_final=self.final_queue.send,
            dispatch_later=DispatchQueue(self.sqs, self.settings.dispatch_queue_url).send,
            clock=self.clock,
            shard_size=self.settings.shard_size,
            reserve_seconds=self.settings.dispatch_reserve_seconds,
            page_size=self.settings.page_size,
            max_pages=self.settings.max_listing_pages,
            dry_run=self.settings.dry_run,
        )

    @cached_property
    def shard_checker(self) -> ShardChecker:
        return ShardChecker(
            checker=self.checker,
            store=self.store,
            start_final=self.final_queue.send,
            clock=self.clock,
            workers=self.settings.check_workers,
            unknown_streak=timedelta(days=self.settings.unknown_streak_days),
            notice_stages=self.settings.notice_stages,
            protected=self.settings.protected_domains,
            max_receives=self.settings.max_receives,
        )

    @cached_property
    def applier(self) -> Applier:
        return Applier(
            store=self.store,
            registry=self.registry_client,
            checker=self.checker,
            clock=self.clock,
            recheck_after=timedelta(days=self.settings.pending_recheck_days),
            limits=self.limits,
            reserve_seconds=self.settings.final_reserve_seconds,
        )

    @cached_property
    def limits(self) -> BreakerLimits:
        settings = self.settings
        return BreakerLimits(
            max_unverify=settings.max_unverify,
            max_unverify_fraction=settings.max_unverify_fraction,
            max_addresses_per_domain=settings.max_addresses_per_domain,
            max_addresses_per_run=settings.max_addresses_per_run,
            protected=settings.protected_domains,
        )

    @cached_property
    def finalizer(self) -> Finalizer:
        settings = self.settings
        return Finalizer(
            store=self.store,
            applier=self.applier,
            notifier=Notifier(
                store=self.store,
                registry=self.registry_client,
                stages=settings.notice_stages,
                protected=settings.protected_domains,
                clock=self.clock,
            ),
            limits=self.limits,
            clock=self.clock,
            settings=settings.in_summary(),
            emit=emit_run_summary,
            dry_run=settings.dry_run,
        )

    @cached_property
    def manual(self) -> ManualCheck:
        return ManualCheck(
            checker=self.checker,
            store=self.store,
            applier=self.applier,
            registry=self.registry_client,
            limits=self.limits,
            clock=self.clock,
            max_listing_pages=self.settings.max_listing_pages,
            dry_run=self.settings.dry_run,
        )


class ProvidersFromSecrets:
    """The status providers, built on first use and built again whenever a provider secret's
    value changes. Nothing is read until a lookup needs it, so a function that looks nothing up
    (the dispatcher) never reads a provider's secret; Powertools Parameters keeps each secret for
    SECRET_MAX_AGE, so a rotated key is in use within five minutes."""

    def __init__(self, settings: SweepSettings) -> None:
        self.settings = settings
        self.name = ",".join(settings.provider.providers)
        self._lock = threading.Lock()
        self._built: tuple[ProviderSettings, StatusProvider] | None = None

    def current(self, *, fresh: bool = False) -> StatusProvider:
        wanted = _provider_settings(self.settings, fresh=fresh)
        with self._lock:
            if self._built is None or self._built[0] != wanted:
                self._built = (wanted, wanted.build())
            return self._built[1]

    def serves(self, domain: str) -> bool:
        return self.current().serves(domain)

    def why_unserved(self, domain: str) -> str | None:
        return self.current().why_unserved(domain)

    def lookup(self, domain: str, *, deadline: float | None = None) -> Observation:
        provider = self.current()
        observation = provider.lookup(domain, deadline=deadline)
        if observation.credentials_refused:
            # Refused: the key may have been rotated. Read the secrets again, past their cache,
            # and try once more only with a key that changed.
            renewed = self.current(fresh=True)
            if renewed is not provider:
                return renewed.lookup(domain, deadline=deadline)
        return observation


def _provider_settings(settings: SweepSettings, *, fresh: bool = False) -> ProviderSettings:
    """The provider settings with the keys the secrets hold now (`fresh`: past the cache)."""
    provider_settings = settings.provider
    if "domainr" in provider_settings.providers and settings.domainr_secret_arn:
        client_id, api_key = domainr_credentials(settings.domainr_secret_arn, fresh=fresh)
        provider_settings = replace(
            provider_settings,
            domainr_client_id=client_id or provider_settings.domainr_client_id,
            domainr_api_key=api_key or provider_settings.domainr_api_key,
        )
    if "fastly" in provider_settings.providers and settings.fastly_secret_arn:
        provider_settings = replace(
            provider_settings, fastly_api_key=fastly_api_key(settings.fastly_secret_arn, fresh=fresh)
        )
    return provider_settings


def _witness(settings: SweepSettings) -> DelegationWitness | None:
    witness = settings.provider.build_witness()
    if witness is None:
        log.warning("the DNS witness is off (DnsWitness): lapses are believed on the provider's word alone")
    return witness


def _registry_client(settings: SweepSettings) -> RegistryClient:
    """The registry's client, built once; it asks for the token at each request, so that a
    rotated secret is in use within SECRET_MAX_AGE, and at once when the registry answers 401."""
    arn, token = settings.registry_token_secret_arn, settings.registry_token
    return RegistryClient(
        settings.registry_url,
        lambda: registry_token(arn, token),
        fresh_token=lambda: registry_token(arn, token, fresh=True),
        allow_loopback_http=settings.allow_loopback_http,
    )
