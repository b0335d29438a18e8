"""The Lambda handler files themselves (functions/*/app.py), loaded as a cold start loads them."""

import json

import pytest

from lapsewatch.sweep.events import BadEvent
from lapsewatch_tools.local.lambdas import LocalFunction
from lapsewatch_tools.local.rdap_server import DomainAnswer
from sweep_harness import ROOT, user

pytestmark = pytest.mark.integration


@pytest.fixture
def deployed(sweep, monkeypatch):
    """The functions' environment as the template sets it, pointed at the test's registry."""
    for name, value in sweep.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LAPSEWATCH_RDAP_BOOTSTRAP", str(sweep.bootstrap))
    monkeypatch.setenv("LAPSEWATCH_RDAP_RATE", "500")
    monkeypatch.setenv("LAPSEWATCH_REGISTRY_TOKEN", sweep.registry.token)
    # The test's servers speak plain http on loopback, as in `lapsewatch run`.
    monkeypatch.setenv("LAPSEWATCH_ALLOW_LOOPBACK_HTTP", "true")

    def function(logical):
        loaded = LocalFunction(sweep.aws, logical, ROOT)
        loaded.load()
        return loaded

    return function


def event(name):
    return json.loads((ROOT / "events" / name).read_text())


def test_a_schedule_event_delivered_twice_starts_one_run(sweep, deployed):
    sweep.seed(user("a", "a@one.test"), user("b", "b@two.test"))
    dispatcher = deployed("DispatcherFunction")

    first = dispatcher.invoke(event("schedule.json"))
    second = dispatcher.invoke(event("schedule.json"))

    assert second == {"run_id": first["run_id"], "status": "checking", "duplicate": True}
    assert first["run_id"] == "run-20261121T030000Z"
    assert sweep.shards.depth() == first["shards"] == 1


def test_an_operator_dispatches_a_list_of_domains(sweep, deployed):
    started = deployed("DispatcherFunction").invoke({"domains": ["mail.one.test", "two.test", "co.uk"]})
    assert started["distinct"] == 2
    assert started["invalid"] == 1


def test_the_manual_function_reports_like_check_json_and_applies_on_request(sweep, deployed):
    sweep.seed(user("a", "a@mail.lapsed.test"))
    sweep.rdap.set_domain("lapsed.test", DomainAnswer.for_lifecycle("redemption"))
    manual = deployed("ManualFunction")

    report = manual.invoke({"email": "someone@mail.lapsed.test"})
    assert report["domain"] == "lapsed.test"
    assert report["lifecycle"] == "redemption" and report["unsafe"] is True
    assert set(report) >= {
        "input",
        "reason",
        "provider",
        "statuses",
        "registered_at",
        "expires_at",
        "checked_at",
        "error",
    }
    assert "unverify" not in report
    assert sweep.emails("lapsed.test") == {"a@mail.lapsed.test": True}

    # The addresses a decision weighs are those the dispatcher recorded: a dry run records them.
    sweep.run(dry_run=True, check_all=True)
    applied = manual.invoke({"domain": "lapsed.test", "apply": True})
    assert applied["unverify"]["emails_unverified"] == 1
    assert sweep.emails("lapsed.test") == {"a@mail.lapsed.test": False}
    assert sweep.runtime.store.domain_state("lapsed.test").lifecycle == "redemption"


@pytest.mark.parametrize(
    "bad",
    [
        {},
        {"domain": "a.test", "email": "b@a.test"},
        {"domain": 7},
        {"domain": "a.test", "apply": "yes"},
        {"domain": "a.test", "verified_at": "last tuesday"},
    ],
)
def test_the_manual_function_refuses_bad_events_clearly(sweep, deployed, bad):
    with pytest.raises(BadEvent):
        deployed("ManualFunction").invoke(bad)


def test_every_ready_event_is_one_its_function_takes(sweep, deployed):
    from lapsewatch.sweep.events import parse_manual_event
    from lapsewatch.sweep.messages import Shard, parse_final_body

    assert deployed("DispatcherFunction").invoke(event("dry-run.json"))["status"] == "checking"
    assert deployed("DispatcherFunction").invoke(event("dispatch-domains.json"))["distinct"] == 3
    for record in event("sqs-batch.json")["Records"]:
        assert Shard.from_body(record["body"]).run_id == "run-20261121T030000Z"
    for record in event("finish-run.json")["Records"]:
        assert parse_final_body(record["body"]) == "run-20261121T030000Z"
    for name in ("manual-check.json", "manual-apply.json"):
        parse_manual_event(event(name))
    assert event("approve-run.json")["approve_run"] == event("discard-run.json")["discard_run"]
    assert event("close-run.json")["close_run"] == event("approve-run.json")["approve_run"]


def test_deployed_functions_refuse_plain_http(sweep, deployed, monkeypatch):
    monkeypatch.delenv("LAPSEWATCH_ALLOW_LOOPBACK_HTTP")
    sweep.rdap.set_domain("lapsed.test", DomainAnswer.for_lifecycle("redemption"))
    manual = deployed("ManualFunction")

    result = manual.invoke({"domain": "lapsed.test"})

    assert result["lifecycle"] == "unknown" and "http" in result["reason"]
    assert sweep.rdap.asked("lapsed.test") == 0


def test_a_lambda_function_refuses_the_local_only_settings(sweep, deployed, monkeypatch):
    from lapsewatch.sweep.settings import SettingsError

    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "lapsewatch-manual")
    with pytest.raises(SettingsError, match="local runs"):
        deployed("ManualFunction")


def test_manual_apply_holds_a_domain_with_too_many_addresses_unless_forced(sweep, deployed):
    sweep.seed(*[user(f"u{i}", f"u{i}@bigmail.test") for i in range(150)], user("x", "x@mx.bigmail.test"))
    sweep.rdap.set_domain("bigmail.test", DomainAnswer.for_lifecycle("redemption"))
    manual = deployed("ManualFunction")

    held = manual.invoke({"domain": "bigmail.test", "apply": True})

    assert held["unverify"]["held"] is True and held["unverify"]["addresses"] == 151
    assert "MaxAddressesPerDomain" in held["unverify"]["reason"]
    assert all(sweep.emails("bigmail.test").values())
    assert sweep.audit() == []

    forced = manual.invoke({"domain": "bigmail.test", "apply": True, "force": True})

    assert forced["unverify"]["forced"] is True and forced["unverify"]["emails_unverified"] == 151
    [entry] = sweep.audit()
    assert entry["evidence"]["forced"] is True and "MaxAddressesPerDomain" in entry["evidence"]["held_for"]
    [decision] = sweep.runtime.store.decisions("manual")
    assert decision.evidence["forced"] is True and decision.state == "applied"


def test_manual_apply_holds_a_protected_domain(sweep, deployed, monkeypatch):
    monkeypatch.setenv("LAPSEWATCH_PROTECTED_DOMAINS", "lapsed.test")
    sweep.seed(user("a", "a@lapsed.test"))
    sweep.rdap.set_domain("lapsed.test", DomainAnswer.for_lifecycle("redemption"))

    held = deployed("ManualFunction").invoke({"domain": "lapsed.test", "apply": True})

    assert held["unverify"]["held"] is True and "protected" in held["unverify"]["reason"]
    assert sweep.emails("lapsed.test") == {"a@lapsed.test": True}


def test_manual_apply_on_a_dry_stack_sends_nothing(sweep, deployed, monkeypatch):
    monkeypatch.setenv("LAPSEWATCH_DRY_RUN", "true")
    sweep.seed(user("a", "a@lapsed.test"))
    sweep.rdap.set_domain("lapsed.test", DomainAnswer.for_lifecycle("redemption"))

    applied = deployed("ManualFunction").invoke({"domain": "lapsed.test", "apply": True})

    assert applied["unverify"] == {"dry_run": True, "emails_unverified": 0, "pending": False, "forced": False}
    assert sweep.emails("lapsed.test") == {"a@lapsed.test": True}


def test_force_goes_with_apply(sweep, deployed):
    with pytest.raises(BadEvent):
        deployed("ManualFunction").invoke({"domain": "a.test", "force": True})
    with pytest.raises(BadEvent):
        deployed("ManualFunction").invoke({"domain": "a.test", "apply": True, "force": "yes"})


def test_no_address_in_traces_the_manual_function_keeps_its_response_out_of_x_ray(
    sweep, deployed, monkeypatch
):
    from lapsewatch.sweep import observability

    captured = []
    original = observability.tracer._add_response_as_metadata

    def recording(**kwargs):
        captured.append(kwargs)
        original(**kwargs)

    monkeypatch.setattr(observability.tracer, "_add_response_as_metadata", recording)
    sweep.rdap.set_domain("fine.test", DomainAnswer.for_lifecycle("active"))

    report = deployed("ManualFunction").invoke({"email": "someone@fine.test"})

    assert report["input"] == "someone@fine.test"
    [call] = captured
    assert call["capture_response"] is False
