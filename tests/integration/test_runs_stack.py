"""`lapsewatch runs --stack`: the stack's outputs name the tables and the final function, read with
the operator's own credentials; an approval or a discard is the final function's handler invoked
with `{"approve_run": id, "domains": [...], "by": who}`."""

import json

import boto3
import pytest

from lapsewatch.sweep import handlers
from lapsewatch_tools import runs
from lapsewatch_tools.cli import main
from sweep_harness import user

STACK = "lapsewatch-test"


@pytest.fixture
def stack(sweep, monkeypatch):
    """A held run in the sweep's tables, and a stack (on moto) whose outputs name them. The final
    function is its real handler on the same tables; the events it is invoked with are kept."""
    template = {
        "Resources": {"Placeholder": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {
            "RunsTableName": {"Value": sweep.tables["runs_table"]},
            "DomainsTableName": {"Value": sweep.tables["domains_table"]},
            "FinalFunctionName": {"Value": "lapsewatch-test-FinalFunction"},
        },
    }
    boto3.client("cloudformation").create_stack(StackName=STACK, TemplateBody=json.dumps(template))
    sweep.seed(*[user(f"u{i}", f"u{i}@company{i}.test") for i in range(12)])
    held = sweep.run()
    assert held["held"] is True
    invoked = []

    def final_invoker(session, function_name):
        assert function_name == "lapsewatch-test-FinalFunction"

        def invoke(event):
            invoked.append(event)
            return handlers.finalize(json.loads(json.dumps(event)), sweep.runtime)

        return invoke

    monkeypatch.setattr(runs, "final_invoker", final_invoker)
    return sweep, held["run_id"], invoked


def test_list_and_show_read_the_stacks_tables(stack, capsys):
    _, run_id, _ = stack
    assert main(["runs", "list", "--stack", STACK, "--json"]) == 0
    [listed] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert (listed["run_id"], listed["status"], len(listed["held_domains"])) == (run_id, "held", 12)

    assert main(["runs", "show", run_id, "--stack", STACK, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert len(shown["waiting"]) == 12


def test_approve_invokes_the_final_function_for_the_domains_named(stack, capsys):
    sweep, run_id, invoked = stack
    assert main(["runs", "approve", run_id, "--stack", STACK, "--domain", "company3.test", "--json"]) == 0

    [event] = invoked
    assert event["approve_run"] == run_id and event["domains"] == ["company3.test"]
    assert event["by"]  # the caller's identity (moto's STS)
    assert [call["domain"] for call in sweep.audit()] == ["company3.test"]
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert summary["status"] == "held" and len(summary["held_domains"]) == 11


def test_discard_without_domains_drops_every_held_decision(stack):
    sweep, run_id, invoked = stack
    assert main(["runs", "discard", run_id, "--stack", STACK]) == 0
    assert invoked == [{"discard_run": run_id, "by": invoked[0]["by"]}]
    assert sweep.summary(run_id)["status"] == "discarded"
    assert main(["runs", "discard", run_id, "--stack", STACK]) == 1
    assert sweep.audit() == []


def test_a_stack_that_is_not_there_is_a_usage_error(sweep, capsys):
    assert main(["runs", "list", "--stack", "no-such-stack"]) == 2
    assert "cannot read the stack no-such-stack" in capsys.readouterr().err
