"""Wire the sweep's parts from its settings, once per cold start.

Tests and the local run build a Runtime with other parts (a loopback registry, a provider of
their own) instead of patching anything.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import cache, cached_property

import boto3

from lapsewatch.check import CONFIRM_DELAY, DomainChecker
from lapsewatch.providers import StatusProvider
from lapsewatch.registry import RegistryClient
from lapsewatch.registry.token import registry_token
from lapsewatch.sweep import store as store_module
from lapsewatch.sweep.apply import Applier
from lapsewatch.sweep.checking import ShardChecker
from lapsewatch.sweep.dispatch import Dispatcher
from lapsewatch.sweep.finalize import BreakerLimits, Finalizer
from lapsewatch.sweep.manual import ManualCheck
from lapsewatch.sweep.observability import emit_run_summary
from lapsewatch.sweep.queues import ContinueQueue, FinishQueue, ShardQueue
from lapsewatch.sweep.settings import SweepSettings


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    settings: SweepSettings
    clock: Callable[[], datetime] = _now
    provider: StatusProvider | None = None
    registry_client: Callable[[], RegistryClient] | None = None
    sqs: object = field(default=None)
    store: store_module.RunStore = None  # type: ignore[assignment]  # built in __post_init__
    confirm_delay: float = CONFIRM_DELAY

    def __post_init__(self) -> None:
        store_module.configure(domains_table=self.settings.domains_table, runs_table=self.settings.runs_table)
        if self.store is None:
            self.store = store_module.RunStore(self.clock)
        if self.sqs is None:
            self.sqs = boto3.client("sqs")
        if self.provider is None:
            self.provider = _provider(self.settings)
        if self.registry_client is None:
            self.registry_client = cache(
                lambda: RegistryClient(
                    self.settings.registry_url,
                    registry_token(),
                    allow_loopback_http=self.settings.allow_loopback_http,
                )
            )

    @classmethod
    def from_env(cls) -> Runtime:
        settings = SweepSettings.from_env()
        if settings.local_now is None:
            return cls(settings)
        # A local run "on another day" (`lapsewatch run --now`): the clock starts there and runs.
        offset = settings.local_now - _now()
        return cls(settings, clock=lambda: _now() + offset)

    @cached_property
    def checker(self) -> DomainChecker:
        assert self.provider is not None
        return DomainChecker(
            self.provider, unsafe=self.settings.unsafe, clock=self.clock, confirm_delay=self.confirm_delay
        )

    @cached_property
    def finish_queue(self) -> FinishQueue:
        return FinishQueue(self.sqs, self.settings.final_queue_url)

    @cached_property
    def dispatcher(self) -> Dispatcher:
        assert self.registry_client is not None
        return Dispatcher(
            registry=self.registry_client,
            store=self.store,
            queue=ShardQueue(self.sqs, self.settings.check_queue_url),
            start_final=self.finish_queue.send,
            continue_later=ContinueQueue(self.sqs, self.settings.dispatch_queue_url).send,
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
            start_final=self.finish_queue.send,
            clock=self.clock,
            workers=self.settings.check_workers,
        )

    @cached_property
    def applier(self) -> Applier:
        assert self.registry_client is not None
        return Applier(
            store=self.store,
            registry=self.registry_client,
            checker=self.checker,
            clock=self.clock,
            recheck_after=timedelta(days=self.settings.pending_recheck_days),
        )

    @cached_property
    def finalizer(self) -> Finalizer:
        settings = self.settings
        return Finalizer(
            store=self.store,
            applier=self.applier,
            limits=BreakerLimits(
                max_unverify=settings.max_unverify,
                max_unverify_fraction=settings.max_unverify_fraction,
                max_addresses_per_domain=settings.max_addresses_per_domain,
                max_addresses_per_run=settings.max_addresses_per_run,
                protected=settings.protected_domains,
            ),
            clock=self.clock,
            settings=settings.in_summary(),
            emit=emit_run_summary,
        )

    @cached_property
    def manual(self) -> ManualCheck:
        return ManualCheck(checker=self.checker, store=self.store, applier=self.applier, clock=self.clock)


def _provider(settings: SweepSettings) -> StatusProvider:
    provider_settings = settings.provider
    secret_arn = settings.domainr_secret_arn
    if provider_settings.provider == "domainr" and secret_arn:
        from aws_lambda_powertools.utilities.parameters import get_secret

        secret = json.loads(get_secret(secret_arn, max_age=300))
        provider_settings = replace(
            provider_settings,
            domainr_client_id=secret.get("client_id") or provider_settings.domainr_client_id,
            domainr_api_key=secret.get("api_key") or provider_settings.domainr_api_key,
        )
    return provider_settings.build()
