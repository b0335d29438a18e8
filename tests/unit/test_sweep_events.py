"""The functions' events, parsed into typed events, and the checkers' whole-batch processor."""

from datetime import UTC, datetime

import pytest
from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from lapsewatch.sweep.batch import WholeBatchProcessor
from lapsewatch.sweep.events import (
    ApproveRun,
    BadEvent,
    CloseRun,
    ContinueRuns,
    DiscardRun,
    DomainsRun,
    FinishRuns,
    ScheduledRun,
    parse_dispatch_event,
    parse_final_event,
)
from lapsewatch.sweep.messages import dispatch_body, final_body

NOW = datetime(2026, 11, 21, 3, 0, tzinfo=UTC)


def test_a_schedule_event_is_the_scheduled_run_named_for_its_time():
    parsed = parse_dispatch_event({"time": "2026-11-21T03:00:00Z", "check_all": True})
    assert parsed == ScheduledRun(NOW, dry_run=False, check_all=True)
    assert parsed.run_id == "run-20261121T030000Z"


def test_an_operators_domains_are_a_run_named_for_them():
    parsed = parse_dispatch_event({"domains": ["b.test", "a.test"], "dry_run": True})
    assert parsed == DomainsRun(["b.test", "a.test"], dry_run=True)
    assert isinstance(parsed, DomainsRun)
    assert parsed.run_id(NOW) == DomainsRun(["a.test", "b.test"], dry_run=False).run_id(NOW)
    assert parsed.run_id(NOW).startswith("run-20261121T030000Z-manual-")


def test_runs_to_continue_come_from_sqs():
    records = [{"body": dispatch_body("run-1", 2)}, {"body": dispatch_body("run-2", 1)}]
    assert parse_dispatch_event({"Records": records}) == ContinueRuns([("run-1", 2), ("run-2", 1)])


@pytest.mark.parametrize(
    ("event", "why"),
    [
        ([], "a JSON object"),
        ({"time": "2026-11-21T03:00:00Z", "dry_run": "yes"}, '"dry_run" must be true or false'),
        ({"domains": ["a.test"], "check_all": 1}, '"check_all" must be true or false'),
        ({"domains": []}, '"domains" must be a non-empty list of strings'),
        ({"domains": ["a.test", 3]}, '"domains" must be a non-empty list of strings'),
        ({"time": "tomorrow"}, 'expected a schedule event with a "time"'),
        ({}, 'expected a schedule event with a "time"'),
    ],
)
def test_a_bad_dispatch_event_says_what_is_wrong(event, why):
    with pytest.raises(BadEvent, match=why):
        parse_dispatch_event(event)


def test_the_final_steps_events():
    assert parse_final_event({"Records": [{"body": final_body("run-1")}]}) == FinishRuns(["run-1"])
    approve = {"approve_run": "run-1", "domains": ["Bücher.DE."], "by": "ops"}
    assert parse_final_event(approve) == ApproveRun("run-1", ["xn--bcher-kva.de"], "ops")
    assert parse_final_event({"discard_run": "run-1"}) == DiscardRun("run-1", None, None)
    assert parse_final_event({"close_run": "run-1"}) == CloseRun("run-1")


@pytest.mark.parametrize(
    ("event", "why"),
    [
        ("approve", "a JSON object"),
        ({"approve_run": ""}, '"approve_run" must be a run id'),
        ({"discard_run": "run-1", "domains": []}, '"domains" must be a non-empty list of domain names'),
        ({"approve_run": "run-1", "by": " "}, '"by" must name who'),
        ({"close_run": 7}, '"close_run" must be a run id'),
        ({"finish": "run-1"}, "expected SQS records"),
    ],
)
def test_a_bad_final_event_says_what_is_wrong(event, why):
    with pytest.raises(BadEvent, match=why):
        parse_final_event(event)


def sqs(*ids):
    return {"Records": [{"messageId": i, "body": i, "attributes": {}} for i in ids]}


def test_a_whole_batch_handler_reports_each_records_failure_alone():
    def handler(records):
        return [ValueError(r.body) if r.body.startswith("bad") else {"ok": r.body} for r in records]

    response = process_partial_response(
        event=sqs("a", "bad-b", "c"), record_handler=handler, processor=WholeBatchProcessor()
    )
    assert response == {"batchItemFailures": [{"itemIdentifier": "bad-b"}]}
    ok = process_partial_response(event=sqs("a"), record_handler=handler, processor=WholeBatchProcessor())
    assert ok == {"batchItemFailures": []}


def test_a_whole_batch_that_failed_raises_as_powertools_does():
    def handler(records):
        failures = []
        for record in records:
            try:
                raise RuntimeError(record.body)
            except RuntimeError as exc:
                failures.append(exc)
        return failures

    with pytest.raises(BatchProcessingError, match="All records failed processing"):
        process_partial_response(event=sqs("a", "b"), record_handler=handler, processor=WholeBatchProcessor())
