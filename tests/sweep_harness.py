"""A daily sweep driven through the handlers, on moto (the template's own queues and tables), the
reference registry and a loopback RDAP server; tests swap parts of the Runtime to inject faults."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import boto3
import requests

from lapsewatch.providers.rdap import RdapProvider
from lapsewatch.providers.rdap_bootstrap import Bootstrap
from lapsewatch.registry import RegistryClient
from lapsewatch.sweep import handlers
from lapsewatch.sweep.runtime import Runtime
from lapsewatch.sweep.settings import SweepSettings
from lapsewatch.sweep.store import RunStore
from lapsewatch.timefmt import parse_time
from lapsewatch_tools.local.aws import LocalAws
from lapsewatch_tools.local.lambdas import EventSourceMapping, LocalContext
from lapsewatch_tools.local.rdap_server import LoopbackRdap
from lapsewatch_tools.registry.server import RegistryServer

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"


@dataclass
class Sweep:
    aws: LocalAws
    registry: RegistryServer
    rdap: LoopbackRdap
    bootstrap: Path

    def __post_init__(self) -> None:
        # The sweep's clock follows the schedule: a run "tomorrow" sees tomorrow's due dates.
        self.now = datetime(2026, 11, 21, 3, 0, tzinfo=UTC)
        self.env = self.aws.function_environment("DispatcherFunction")
        self.env.update(LAPSEWATCH_REGISTRY_URL=self.registry.url, LAPSEWATCH_REGISTRY_TOKEN_SECRET_ARN="")
        self.sqs = boto3.client("sqs")
        self.runtime = self.make_runtime()

    @property
    def tables(self) -> dict[str, str]:
        """The template's tables, as a RunStore takes them."""
        return {
            "domains_table": self.env["LAPSEWATCH_DOMAINS_TABLE"],
            "runs_table": self.env["LAPSEWATCH_RUNS_TABLE"],
        }

    def configure(self, **variables: str) -> Runtime:
        """Change the functions' environment (LAPSEWATCH_*), as a redeploy would."""
        self.env.update(variables)
        self.runtime = self.make_runtime()
        return self.runtime

    def make_runtime(self, store: RunStore | None = None, registry_client=None) -> Runtime:
        settings = SweepSettings.from_env(self.env)
        clock = lambda: self.now  # noqa: E731 - a clock is a callable value
        return Runtime(
            settings=settings,
            clock=clock,
            provider=RdapProvider(Bootstrap.load(self.bootstrap), rate=1000, allow_loopback_http=True),
            registry_client=registry_client
            or (
                lambda: RegistryClient(
                    self.registry.url,
                    self.registry.token,
                    retries=2,
                    backoff_factor=0.01,
                    timeout=(2.0, 5.0),
                    allow_loopback_http=True,
                )
            ),
            sqs=self.sqs,
            store=store or RunStore(**self.tables, clock=clock),
            confirm_delay=0,
        )

    # The pieces of a run ---------------------------------------------------------------------
    def seed(self, *records: dict) -> None:
        report = self.registry.load_seed([json.dumps(r) for r in records])
        assert not report.errors, report.errors

    def dispatch(self, time: str = "2026-11-21T03:00:00Z", **extra) -> dict:
        self.now = parse_time(time)
        return handlers.dispatch({"time": time, "detail-type": "Scheduled Event", **extra}, self.runtime)

    @property
    def shards(self) -> EventSourceMapping:
        return EventSourceMapping(
            self.sqs,
            self.aws.sqs_source("CheckerFunction"),
            lambda event: handlers.check_batch(event, self.runtime, LocalContext("checker", 300)),
        )

    @property
    def finals(self) -> EventSourceMapping:
        return EventSourceMapping(
            self.sqs,
            self.aws.sqs_source("FinalFunction"),
            lambda event: handlers.finalize(event, self.runtime),
        )

    @property
    def continuations(self) -> EventSourceMapping:
        return EventSourceMapping(
            self.sqs,
            self.aws.sqs_source("DispatcherFunction"),
            lambda event: handlers.dispatch(event, self.runtime, LocalContext("dispatcher", 900)),
        )

    def drain(self, rounds: int = 500) -> None:
        """Deliver queued messages until every queue is empty."""
        mappings = (self.continuations, self.shards, self.finals)
        for _ in range(rounds):
            if not sum(mapping.poll_once() for mapping in mappings):
                return
        raise AssertionError("the queues did not drain")

    def run(self, time: str = "2026-11-21T03:00:00Z", **extra) -> dict:
        started = self.dispatch(time, **extra)
        self.drain()
        return self.summary(started["run_id"])

    def summary(self, run_id: str) -> dict:
        run = self.runtime.store.get_run(run_id)
        assert run is not None
        return dict(run.summary or {}, status=run.status)

    # The registry's side ---------------------------------------------------------------------
    def emails(self, domain: str) -> dict[str, bool]:
        answer = requests.get(
            f"{self.registry.url}/v1/emails",
            params={"domain": domain},
            headers={"Authorization": f"Bearer {self.registry.token}"},
            timeout=5,
        )
        answer.raise_for_status()
        return {row["email"]: row["verified"] for row in answer.json()["items"]}

    def audit(self) -> list[dict]:
        answer = requests.get(
            f"{self.registry.url}/v1/audit",
            headers={"Authorization": f"Bearer {self.registry.token}"},
            timeout=5,
        )
        answer.raise_for_status()
        return answer.json()["items"]

    def dead_letters(self) -> int:
        source = self.aws.sqs_source("CheckerFunction")
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=source.dead_letter_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"])


def user(name: str, email: str, verified_at: str = "2020-01-15T00:00:00Z", verified: bool = True) -> dict:
    return {"user": name, "email": email, "verified": verified, "verified_at": verified_at}
