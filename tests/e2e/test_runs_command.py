"""`lapsewatch runs` and `lapsewatch invoke` as an operator uses them: a held run kept with
`lapsewatch run --state`, then listed, shown, approved one domain at a time and discarded."""

import json
from datetime import UTC, datetime

import pytest
from cli_process import lapsewatch

from lapsewatch_tools.local.rdap_server import DomainAnswer, LoopbackRdap
from lapsewatch_tools.registry.server import RegistryServer

pytestmark = pytest.mark.e2e

OLD = datetime(2012, 5, 1, tzinfo=UTC)
LAPSED = ["one.test", "two.test", "three.test"]


def json_lines(process):
    assert process.returncode == 0, process.stderr
    return [json.loads(line) for line in process.stdout.splitlines() if line.startswith("{")]


@pytest.fixture
def held_run(tmp_path):
    """A run whose three domains, all at one RDAP service, are all in redemption: held as an
    outage of that service."""
    state = tmp_path / "state"
    with RegistryServer() as registry, LoopbackRdap() as rdap:
        records = [
            {
                "user": name,
                "email": f"{name}@{domain}",
                "verified": True,
                "verified_at": "2019-01-01T00:00:00Z",
            }
            for name, domain in [
                ("b", "one.test"),
                ("c", "two.test"),
                ("d", "three.test"),
            ]
        ]
        registry.load_seed(json.dumps(r) for r in records)
        rdap.add_registry("reg", tlds=["test"])
        for domain in LAPSED:
            rdap.set_domain(domain, DomainAnswer.for_lifecycle("redemption", registered_at=OLD))
        bootstrap = rdap.bootstrap_file(tmp_path / "dns.json")
        run = lapsewatch(
            "run",
            "--json",
            "--registry-url",
            registry.url,
            "--rdap-bootstrap",
            str(bootstrap),
            "--state",
            str(state),
            token=registry.token,
        )
        summary = json_lines(run)[-1]
        assert summary["held"] is True, summary
        assert summary["held_domains"] == sorted(LAPSED)
        assert registry.app.store.audit() == []
        yield registry, state, summary["run_id"]


def test_a_held_run_is_listed_shown_approved_one_domain_at_a_time_and_discarded(held_run):
    registry, state, run_id = held_run
    where = ("--state", str(state))

    [listed] = json_lines(lapsewatch("runs", "list", "--json", *where))
    assert (listed["run_id"], listed["status"], listed["held"]) == (run_id, "held", True)
    assert listed["held_domains"] == sorted(LAPSED)

    shown = json_lines(lapsewatch("runs", "show", run_id, "--json", *where))[0]
    waiting = {line["domain"]: line for line in shown["waiting"]}
    assert sorted(waiting) == sorted(LAPSED)
    assert waiting["one.test"]["lifecycle"] == "redemption"
    assert waiting["one.test"]["addresses"] == 1
    assert waiting["one.test"]["hold_reason"]
    assert "redemption period" in waiting["one.test"]["evidence"]["statuses"]
    [row] = [row for row in shown["domains"] if row["domain"] == "one.test"]
    assert (row["kind"], row["outcome"], row["addresses"]) == ("decision", "held", 1)
    assert row["why"] == waiting["one.test"]["hold_reason"]
    table = lapsewatch("runs", "show", run_id, *where)
    assert "waiting for approval (3)" in table.stdout
    [line] = [line for line in table.stdout.splitlines() if line.startswith("one.test ")]
    assert "redemption" in line and "HELD [1]" in line and "status redemption period" in line
    assert f"[1] held: {row['why']}" in table.stdout

    approved = lapsewatch(
        "runs",
        "approve",
        run_id,
        "--domain",
        "One.Test",
        *where,
        "--registry-url",
        registry.url,
        token=registry.token,
    )
    assert approved.returncode == 0, approved.stderr
    [line] = [line for line in approved.stdout.splitlines() if line.startswith("one.test ")]
    assert "unverified 1 of 1 addresses; approved by " in line
    # Exactly that domain is unverified; the run still waits for the other two.
    assert [call["domain"] for call in registry.app.store.audit()] == ["one.test"]
    assert registry.app.store.emails("one.test", verified=None)[0]["verified"] is False
    assert registry.app.store.emails("two.test", verified=None)[0]["verified"] is True
    [still] = json_lines(lapsewatch("runs", "list", "--json", *where))
    assert still["status"] == "held" and still["held_domains"] == ["three.test", "two.test"]

    again = lapsewatch(
        "runs",
        "approve",
        run_id,
        "--domain",
        "one.test",
        *where,
        "--registry-url",
        registry.url,
        token=registry.token,
    )
    assert again.returncode == 1 and "nothing to approve" in again.stderr

    discarded = lapsewatch("runs", "discard", run_id, *where, "--json")
    # With --json, every line of standard output is JSON; the tables went to standard error.
    assert [json.loads(line) for line in discarded.stdout.splitlines()] == json_lines(discarded)
    summary = json_lines(discarded)[-1]
    assert summary["status"] == "done" and summary["held"] is False
    assert [call["domain"] for call in registry.app.store.audit()] == ["one.test"]
    decisions = {
        line["domain"]: line
        for line in json_lines(lapsewatch("runs", "show", run_id, "--json", *where))[0]["decisions"]
    }
    assert decisions["two.test"]["state"] == "discarded"
    assert decisions["two.test"]["operator"] and decisions["two.test"]["settled_at"]
    assert decisions["one.test"]["state"] == "applied" and decisions["one.test"]["operator"]

    assert lapsewatch("runs", "discard", run_id, *where).returncode == 1
    assert lapsewatch("runs", "show", "run-19990101T000000Z", *where).returncode == 1
    # A run that does not exist leaves no log behind, empty or not.
    nowhere = lapsewatch("runs", "discard", "run-19990101T000000Z", *where)
    assert nowhere.returncode == 1 and "no run run-19990101T000000Z" in nowhere.stderr
    assert not list((state / "logs").glob("*19990101*"))


def test_runs_refuse_what_they_cannot_use(tmp_path):
    missing = lapsewatch("runs", "list", "--state", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "holds no lapsewatch state" in missing.stderr
    both = lapsewatch("runs", "list", "--state", str(tmp_path), "--stack", "lapsewatch")
    assert both.returncode == 2
    neither = lapsewatch("runs", "list")
    assert neither.returncode == 2


def test_the_manual_entry_runs_offline_through_its_handler(tmp_path):
    event = json.dumps({"domain": "tinyshop.xyz", "apply": False})
    answered = lapsewatch("invoke", "ManualFunction", "--event", "-", stdin=event)
    [result] = json_lines(answered)
    # The demo's loopback RDAP server: tinyshop.xyz is not registered in the demo's world.
    assert (result["domain"], result["lifecycle"], result["unsafe"]) == ("tinyshop.xyz", "unregistered", True)

    refused = lapsewatch("invoke", "ManualFunction", "--event", "-", stdin=json.dumps({"apply": True}))
    assert refused.returncode == 1
    assert json.loads(refused.stdout.splitlines()[-1])["errorType"] == "BadEvent"
    assert lapsewatch("invoke", "NoSuchFunction", "--event", "-", stdin="{}").returncode == 2


def test_the_sample_manual_events_say_what_the_readme_says():
    checked = lapsewatch("invoke", "ManualFunction", "--event", "events/manual-check.json")
    assert checked.returncode == 0, checked.stderr
    answer = json.loads(checked.stdout)
    assert (answer["lifecycle"], answer["unsafe"]) == ("redemption", True)
    # A name the demo data set does not know is never free in the demo.
    unknown = lapsewatch("invoke", "ManualFunction", stdin='{"email": "maintainer@example.com"}')
    assert json.loads(unknown.stdout)["lifecycle"] == "active"
