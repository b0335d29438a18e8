"""Powertools logger, tracer and metrics, shared by every function."""

from __future__ import annotations

import io
import logging
import sys
from typing import IO, TYPE_CHECKING, cast

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit

if TYPE_CHECKING:
    from lapsewatch.sweep.summary import RunSummary


class _CurrentStdout(io.TextIOBase):
    """Standard output as it is at each write (Lambda reads it; a local run redirects it),
    where a stream captured once at import would keep writing to the old one."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


logger = Logger(stream=cast(IO[str], _CurrentStdout()))
tracer = Tracer()
metrics = Metrics()


def adopt_library_loggers() -> None:
    """The plain package's stdlib loggers (registry client, providers, checker) log as the
    functions do: Powertools JSON, with the same keys. Call once the package is imported."""
    names = {name for name in logging.root.manager.loggerDict if name.startswith("lapsewatch.")}
    copy_config_to_registered_loggers(source_logger=logger, include=names)


def emit_run_summary(summary: RunSummary) -> None:
    """The run's counts as CloudWatch metrics (the dashboard and the alarms read them)."""
    metrics.add_metric("RunsFinished", MetricUnit.Count, 1)
    metrics.add_metric("RunsHeld", MetricUnit.Count, 1 if summary.get("held") else 0)
    metrics.add_metric("DomainsChecked", MetricUnit.Count, summary["domains"]["checked"])
    metrics.add_metric("DomainsInvalid", MetricUnit.Count, summary["domains"]["invalid"])
    metrics.add_metric("UnsafeDomains", MetricUnit.Count, summary["unsafe_count"])
    metrics.add_metric("UnverifyRequested", MetricUnit.Count, summary["unverify"]["requested"])
    metrics.add_metric("EmailsUnverified", MetricUnit.Count, summary["unverify"]["emails_unverified"])
    metrics.add_metric("UnverifyFailed", MetricUnit.Count, summary["unverify"]["failed"])
    metrics.add_metric("UnverifyCancelled", MetricUnit.Count, summary["withheld"]["cancelled"])
    metrics.add_metric("UnverifyDeferred", MetricUnit.Count, summary["withheld"]["deferred"])
    metrics.add_metric("DecisionsHeld", MetricUnit.Count, summary["held_count"])
    metrics.add_metric("DecisionErrors", MetricUnit.Count, summary["withheld"]["errors"])
    metrics.add_metric("DecisionsUnsent", MetricUnit.Count, summary["withheld"]["unsent"])
    metrics.add_metric("DomainsRefused", MetricUnit.Count, summary["domains"]["refused"])
    metrics.add_metric("DomainsUnprotected", MetricUnit.Count, summary["unprotected"]["domains"])
    metrics.add_metric("AddressesUnprotected", MetricUnit.Count, summary["unprotected"]["addresses"])
    metrics.add_metric("UnknownStreaks", MetricUnit.Count, summary["unknown_streaks"]["count"])
    metrics.add_metric("NoticesSent", MetricUnit.Count, summary["notices"]["sent"])
    metrics.add_metric("NoticesFailed", MetricUnit.Count, summary["notices"]["failed"])
    metrics.add_metric(
        "DnsContradictions", MetricUnit.Count, sum(summary.get("dns_contradictions", {}).values())
    )
    for lifecycle, count in summary["by_lifecycle"].items():
        metrics.add_metric(f"Lifecycle_{lifecycle}", MetricUnit.Count, count)
    share = unknown_share(summary)
    if share is not None:
        metrics.add_metric("UnknownShare", MetricUnit.Percent, share)


def unknown_share(summary: RunSummary) -> float | None:
    """The percentage of a run's checked domains that a provider serves and that still came out
    `unknown` (the UnknownShare alarm): lookups failing. Domains no provider serves are always
    unknown and are left out (the unprotected count tells of them); None when no served domain
    was checked."""
    unprotected = summary["unprotected"]["domains"]
    served = summary["domains"]["checked"] - unprotected
    if served <= 0:
        return None
    unknown = max(0, summary["by_lifecycle"].get("unknown", 0) - unprotected)
    return round(100 * unknown / served, 2)
