"""One checker invocation, several shards: their domains checked in one pool, each shard
recorded once and failing alone (ReportBatchItemFailures)."""

import json
from datetime import UTC, datetime

import pytest

from lapsewatch.sweep import handlers
from lapsewatch.sweep.messages import Shard
from lapsewatch.sweep.store import RunStore
from lapsewatch_tools.local.lambdas import LocalContext
from lapsewatch_tools.local.rdap_server import DomainAnswer
from sweep_harness import user

pytestmark = pytest.mark.integration

ACTIVE = DomainAnswer.for_lifecycle(
    "active", registered_at=datetime(2015, 3, 1, tzinfo=UTC), expires_at=datetime(2027, 9, 1, tzinfo=UTC)
)
DOMAINS = [f"c{i}.example" for i in range(8)]


class FailingStore(RunStore):
    """A data layer that fails while reading some domains' states (what a checker does first
    with its shard), the way a throttled table does. (A failure to save one domain fails that
    domain alone: the shard goes on.)"""

    def __init__(self, failing: set[str], times: int, **tables: str) -> None:
        super().__init__(**tables)
        self.left = dict.fromkeys(failing, times)

    def domain_states(self, domains):
        domains = list(domains)
        for domain in set(self.left).intersection(domains):
            if self.left[domain] > 0:
                self.left[domain] -= 1
                raise RuntimeError(f"throttled while reading {domain}")
        return super().domain_states(domains)


def dispatch(sweep, store=None) -> tuple[str, list[dict]]:
    """Eight active domains in four shards of two; the run's id and its shards' SQS records."""
    sweep.seed(*[user(f"u{i}", f"u{i}@{domain}") for i, domain in enumerate(DOMAINS)])
    for domain in DOMAINS:
        sweep.rdap.set_domain(domain, ACTIVE)
    sweep.configure(LAPSEWATCH_SHARD_SIZE="2")
    if store is not None:
        sweep.runtime = sweep.make_runtime(store=store)
    started = sweep.dispatch()
    assert started["shards"] == 4
    source = sweep.shards
    messages: list[dict] = []
    while len(messages) < started["shards"]:
        messages += sweep.sqs.receive_message(
            QueueUrl=source.source.queue_url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]
        ).get("Messages", [])
    return started["run_id"], [source._record(message) for message in messages]


def check(sweep, records: list[dict]) -> dict:
    """One invocation of the checker with these records."""
    return handlers.check_batch({"Records": records}, sweep.runtime, LocalContext("checker", 300))


def delivered(record: dict, receives: int) -> dict:
    return {**record, "attributes": {**record["attributes"], "ApproximateReceiveCount": str(receives)}}


def holding(records: list[dict], domain: str) -> dict:
    (record,) = [r for r in records if domain in {d.domain for d in Shard.from_body(r["body"]).domains}]
    return record


def shard_lines(output: str) -> list[dict]:
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("message") in ("shard checked", "shard failed")]


def test_one_invocation_checks_every_shard_and_records_each_once(sweep, capsys):
    run_id, records = dispatch(sweep)

    assert check(sweep, records) == {"batchItemFailures": []}

    run = sweep.runtime.store.get_run(run_id)
    assert (run.shards_done, run.shards_dead) == (4, 0)
    assert run.status == "finalizing"  # the last shard recorded started the final step
    assert all(sweep.rdap.asked(domain) == 1 for domain in DOMAINS)
    # Each record's log line carries its own run and shard.
    lines = shard_lines(capsys.readouterr().out)
    assert sorted(line["shard"] for line in lines) == [0, 1, 2, 3]
    assert {line["run_id"] for line in lines} == {run_id}
    assert all(line["checked"] == 2 for line in lines)

    sweep.drain()
    summary = sweep.summary(run_id)
    assert summary["shards"] == {"count": 4, "done": 4, "dead": 0}
    assert summary["domains"]["checked"] == 8


def test_a_shard_delivered_twice_in_one_batch_is_checked_and_counted_once(sweep):
    # Answers slow enough that both copies would be in the pool at once, were they not kept apart.
    sweep.rdap.add_registry("testreg", tlds=["test", "example"], latency=0.3)
    run_id, records = dispatch(sweep)
    again = {**records[0], "messageId": "another-delivery", "receiptHandle": "another-receipt"}

    assert check(sweep, [records[0], again, *records[1:]]) == {"batchItemFailures": []}

    run = sweep.runtime.store.get_run(run_id)
    assert (run.shards_done, run.shards_dead) == (4, 0)
    assert all(sweep.rdap.asked(domain) == 1 for domain in DOMAINS)


def test_a_shard_that_fails_is_the_only_failure_of_its_batch(sweep, capsys):
    store = FailingStore({"c5.example"}, times=1, **sweep.tables)
    run_id, records = dispatch(sweep, store)
    failing = holding(records, "c5.example")

    assert check(sweep, records) == {"batchItemFailures": [{"itemIdentifier": failing["messageId"]}]}

    run = sweep.runtime.store.get_run(run_id)
    assert (run.shards_done, run.shards_dead) == (3, 0)
    failed = [line for line in shard_lines(capsys.readouterr().out) if line["message"] == "shard failed"]
    assert [line["shard"] for line in failed] == [Shard.from_body(failing["body"]).number]
    assert "throttled while reading c5.example" in failed[0]["exception"]

    # SQS delivers it again; this time it goes through and the run is complete.
    assert check(sweep, [delivered(failing, 2)]) == {"batchItemFailures": []}
    run = sweep.runtime.store.get_run(run_id)
    assert (run.shards_done, run.shards_dead) == (4, 0)


def test_a_shard_failing_its_last_delivery_is_written_off_alone(sweep):
    store = FailingStore({"c5.example"}, times=99, **sweep.tables)
    run_id, records = dispatch(sweep, store)
    failing = holding(records, "c5.example")
    last = sweep.runtime.settings.max_receives
    batch = [delivered(r, last) if r is failing else r for r in records]

    assert check(sweep, batch) == {"batchItemFailures": [{"itemIdentifier": failing["messageId"]}]}

    run = sweep.runtime.store.get_run(run_id)
    assert (run.shards_done, run.shards_dead) == (3, 1)
    assert run.status == "finalizing"


def test_a_garbled_record_fails_alone(sweep):
    run_id, records = dispatch(sweep)
    garbled = {**records[0], "messageId": "garbled", "body": '{"v": 1, "run_id": '}

    response = check(sweep, [records[1], garbled, records[2]])

    assert response == {"batchItemFailures": [{"itemIdentifier": "garbled"}]}
    run = sweep.runtime.store.get_run(run_id)
    assert (run.shards_done, run.shards_dead) == (2, 0)


def test_the_checkers_writes_to_the_run_table_name_only_the_attributes_its_role_allows(sweep, monkeypatch):
    import botocore.client

    from lapsewatch.sweep.store import CHECKER_RUN_ATTRIBUTES

    sweep.seed(user("a", "a@gone.test"), user("b", "b@grace.test"), user("c", "c@fine.test"))
    sweep.rdap.set_domain("grace.test", DomainAnswer.for_lifecycle("grace"))
    sweep.rdap.set_domain("fine.test", DomainAnswer.for_lifecycle("active"))
    started = sweep.dispatch()
    runs_table = sweep.tables["runs_table"]
    writes = []
    make_call = botocore.client.BaseClient._make_api_call

    def recording(client, operation, params):
        if operation in {"PutItem", "UpdateItem", "TransactWriteItems", "BatchWriteItem", "DeleteItem"}:
            writes.append((operation, params))
        return make_call(client, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", recording)
    while sweep.shards.poll_once():
        pass
    monkeypatch.undo()

    named: dict[str, set[str]] = {}
    for operation, params in writes:
        requests = [
            item for action in params.get("TransactItems", [{operation: params}]) for item in action.values()
        ]
        for request in requests:
            assert request.get("ReturnValues", "NONE") in {"NONE", "UPDATED_OLD", "UPDATED_NEW"}
            names = set(request.get("Item", {})) | set(request.get("Key", {}))
            names |= set(request.get("ExpressionAttributeNames", {}).values())
            named.setdefault(request["TableName"], set()).update(names)
    assert not {operation for operation, _ in writes} & {"BatchWriteItem", "DeleteItem"}
    assert named[runs_table] <= CHECKER_RUN_ATTRIBUTES, named[runs_table] - CHECKER_RUN_ATTRIBUTES
    # It did write a decision and a notice, read back as recorded and pending.
    [decision] = sweep.runtime.store.decisions(started["run_id"])
    assert decision.domain == "gone.test" and decision.state == "recorded"
    [notice] = sweep.runtime.store.notices(started["run_id"])
    assert notice.domain == "grace.test" and notice.state == "pending"
    sweep.drain()
    assert sweep.summary(started["run_id"])["unverify"]["emails_unverified"] == 1
