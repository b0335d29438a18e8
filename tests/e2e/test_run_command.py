"""`lapsewatch run`, the whole sweep as an operator runs it: a separate process, AWS embedded."""

import json
import socket
from datetime import UTC, datetime

import pytest
from cli_process import lapsewatch

from lapsewatch_tools.local.rdap_server import DomainAnswer, LoopbackRdap
from lapsewatch_tools.registry.app import LIST_EMAIL_DOMAINS, UNVERIFY
from lapsewatch_tools.registry.faults import Fault
from lapsewatch_tools.registry.server import RegistryServer

pytestmark = pytest.mark.e2e

SUMMARY_FIELDS = {"run_id", "dry_run", "held", "held_reason", "domains", "by_lifecycle", "unsafe", "unverify"}


def last_json(process):
    assert process.returncode == 0, process.stderr
    summary = json.loads(process.stdout.strip().splitlines()[-1])
    assert set(summary) >= SUMMARY_FIELDS
    return summary


def test_the_demo_sweep_runs_offline_and_reports():
    process = lapsewatch("run", "--json")
    summary = last_json(process)
    rows = {row["domain"]: row for row in map(json.loads, process.stdout.splitlines()[:-1])}

    assert summary["held"] is False and summary["dry_run"] is False
    assert summary["domains"]["invalid"] > 0
    assert summary["domains"]["checked"] == sum(summary["by_lifecycle"].values())
    for lifecycle in (
        "active",
        "grace",
        "hold",
        "redemption",
        "pending_delete",
        "unregistered",
        "reregistered",
        "unknown",
    ):
        assert summary["by_lifecycle"].get(lifecycle, 0) > 0, lifecycle
    assert summary["unsafe"]
    assert summary["unverify"]["requested"] == len(summary["unsafe"])
    assert summary["unverify"]["emails_unverified"] >= len(summary["unsafe"])
    assert summary["unverify"]["failed"] == 0

    # One row per unsafe domain, with the evidence that decided it and what became of it.
    decided = {domain for domain, row in rows.items() if row["kind"] == "decision"}
    assert decided == set(summary["unsafe"])
    assert {rows[domain]["outcome"] for domain in decided} == {"unverified"}
    recycled = rows["recycled-name.com"]
    assert recycled["lifecycle"] == "reregistered" and recycled["verified_at"] < recycled["registered_at"]
    assert "after the addresses were verified" in recycled["evidence"]
    assert rows["xn--bckerei-mller-bfb28a.com"]["unicode"] == "bäckerei-müller.com"
    # The demo's stand-ins serve what the bundled files serve: .de, .io and .me through the extra
    # RDAP file, .it and .jp through WHOIS; a lapse at WHOIS is caught like any other.
    assert rows["vecchia-trattoria.it"]["provider"] == "whois"
    assert [entry["tld"] for entry in summary["unprotected"]["top_tlds"]] == ["gr"]
    assert not any("lookups failed" in warning for warning in summary["warnings"])
    assert {row["kind"] for row in rows.values()} == {"decision", "notice"}


@pytest.fixture
def world(tmp_path):
    """Another registry and RDAP, as an operator's would be: small pages, some failures."""
    old = datetime(2012, 5, 1, tzinfo=UTC)
    with RegistryServer() as registry, LoopbackRdap() as rdap:
        records = [
            {"user": "a", "email": "a@safe.test", "verified": True, "verified_at": "2019-01-01T00:00:00Z"},
            {
                "user": "b",
                "email": "b@mail.lapsed.test",
                "verified": True,
                "verified_at": "2019-01-01T00:00:00Z",
            },
            {"user": "c", "email": "c@Gone.Test", "verified": True, "verified_at": "2019-01-01T00:00:00Z"},
            {"user": "d", "email": "d@résumé.test", "verified": True, "verified_at": "2019-01-01T00:00:00Z"},
            {"user": "e", "email": "e@bought.test", "verified": True, "verified_at": "2019-01-01T00:00:00Z"},
            {"user": "f", "email": "f@co.uk", "verified": True, "verified_at": "2019-01-01T00:00:00Z"},
            {
                "user": "g",
                "email": "g@ not a domain",
                "verified": True,
                "verified_at": "2019-01-01T00:00:00Z",
            },
        ]
        registry.load_seed(json.dumps(r) for r in records)
        rdap.add_registry("reg", tlds=["test"])
        rdap.set_domain("safe.test", DomainAnswer.for_lifecycle("active", registered_at=old))
        rdap.set_domain("lapsed.test", DomainAnswer.for_lifecycle("redemption", registered_at=old))
        rdap.set_domain("xn--rsum-bpad.test", DomainAnswer.for_lifecycle("active", registered_at=old))
        rdap.set_domain(
            "bought.test",
            DomainAnswer.for_lifecycle("active", registered_at=datetime(2026, 10, 1, tzinfo=UTC)),
        )
        yield registry, rdap, rdap.bootstrap_file(tmp_path / "dns.json")


def run_against(registry, bootstrap, *extra, extra_env=None):
    return lapsewatch(
        "run",
        "--json",
        "--registry-url",
        registry.url,
        "--rdap-bootstrap",
        str(bootstrap),
        "--rdap-rate",
        "50",
        *extra,
        token=registry.token,
        extra_env=extra_env,
    )


def test_a_real_sweep_then_a_second_that_changes_nothing(world):
    registry, _, bootstrap = world
    registry.app.faults.add(LIST_EMAIL_DOMAINS, Fault.rate_limited(retry_after=1))
    registry.app.faults.add(UNVERIFY, Fault.unavailable())

    dry = last_json(run_against(registry, bootstrap, "--dry-run"))
    assert dry["dry_run"] is True and dry["unverify"]["requested"] == 0

    first = last_json(run_against(registry, bootstrap))
    assert first["domains"] == first["domains"] | {"listed": 7, "invalid": 2, "checked": 5}
    assert first["unsafe"] == ["bought.test", "gone.test", "lapsed.test"]
    assert first["unverify"] == {"requested": 3, "emails_unverified": 3, "failed": 0}
    audit = registry.app.store.audit()

    second = last_json(run_against(registry, bootstrap))
    assert second["unsafe"] == []
    assert second["unverify"]["requested"] == 0
    assert registry.app.store.audit() == audit


def test_a_mass_outage_is_held(world, tmp_path):
    registry, _, _ = world
    with LoopbackRdap() as broken:
        broken.add_registry("down", tlds=["test"])  # 404 for every name
        held = last_json(
            run_against(registry, broken.bootstrap_file(tmp_path / "down.json"), "--max-unverify", "2")
        )
    assert held["held"] is True and held["held_reason"]
    assert held["unverify"]["requested"] == 0
    assert registry.app.store.audit() == []


def test_an_unreachable_registry_is_told_retry_by_retry_before_the_run_fails():
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    process = lapsewatch("run", "--registry-url", f"http://127.0.0.1:{port}", token="any-token")
    assert process.returncode == 1
    told = [line for line in process.stderr.splitlines() if line.startswith("registry: ")]
    assert told and all(f"connection refused by 127.0.0.1:{port}" in line for line in told)
    assert "retry 1 of 5" in told[0] and "retry 5 of 5" in told[-1]
    assert "the dispatcher failed" in process.stderr and "Traceback" not in process.stderr


def test_a_sweep_that_cannot_run_says_why_and_fails(world):
    registry, _, bootstrap = world
    process = lapsewatch("run", "--registry-url", registry.url, "--rdap-bootstrap", str(bootstrap))
    assert process.returncode != 0
    assert "LAPSEWATCH_REGISTRY_TOKEN" in process.stderr


def test_two_days_on_one_machine_a_failed_call_is_retried_unless_the_domain_recovered(world, tmp_path):
    registry, rdap, bootstrap = world
    state = str(tmp_path / "state")
    # The registry refuses every unverify call of the first day.
    registry.app.faults.add(UNVERIFY, *[Fault.unavailable(status=403)] * 3)

    first = last_json(run_against(registry, bootstrap, "--state", state, "--now", "2026-11-21T03:00:00Z"))
    assert first["run_id"] == "run-20261121T030000Z"
    assert first["unverify"] == {"requested": 3, "emails_unverified": 0, "failed": 3}
    assert registry.app.store.audit() == []

    # Overnight lapsed.test is renewed: its pending decision must not go out.
    rdap.set_domain(
        "lapsed.test", DomainAnswer.for_lifecycle("active", registered_at=datetime(2012, 5, 1, tzinfo=UTC))
    )
    second = last_json(run_against(registry, bootstrap, "--state", state, "--now", "2026-11-22T03:00:00Z"))

    assert second["run_id"] == "run-20261122T030000Z"
    assert second["unverify"] == {"requested": 2, "emails_unverified": 2, "failed": 0}
    assert second["withheld"] == {
        "cancelled": 1,
        "deferred": 0,
        "superseded": 0,
        "held": 0,
        "unsent": 0,
        "errors": 0,
    }
    assert sorted(call["domain"] for call in registry.app.store.audit()) == ["bought.test", "gone.test"]
    assert registry.app.store.emails("lapsed.test", verified=None)[0]["verified"] is True


def test_without_state_nothing_persists(world):
    registry, _, bootstrap = world
    registry.app.faults.add(UNVERIFY, *[Fault.unavailable(status=403)] * 3)
    assert last_json(run_against(registry, bootstrap))["unverify"]["failed"] == 3

    second = last_json(run_against(registry, bootstrap))

    # A new machine each time: the decisions are made afresh, and applied.
    assert second["unverify"] == {"requested": 3, "emails_unverified": 3, "failed": 0}


def test_a_chain_protects_a_domain_rdap_cannot_see(world, tmp_path):
    from lapsewatch_tools.local.fastly_server import LoopbackFastly

    registry, _, bootstrap = world
    registry.load_seed(
        [
            json.dumps(
                {
                    "user": "z",
                    "email": "z@lapsed.zzz",
                    "verified": True,
                    "verified_at": "2019-01-01T00:00:00Z",
                }
            )
        ]
    )
    with LoopbackFastly() as fastly:
        fastly.set_status("lapsed.zzz", "undelegated inactive")
        env = {"LAPSEWATCH_FASTLY_URL": fastly.url, "LAPSEWATCH_FASTLY_API_KEY": fastly.api_key}
        with_rdap_alone = last_json(run_against(registry, bootstrap, "--dry-run"))
        chained = run_against(registry, bootstrap, "--provider", "rdap,fastly", extra_env=env)

    assert with_rdap_alone["unprotected"]["top_tlds"][0]["tld"] == "zzz"
    summary = last_json(chained)
    assert "lapsed.zzz" in summary["unsafe"]
    assert summary["unprotected"]["domains"] == 0
    assert registry.app.store.emails("lapsed.zzz", verified=None)[0]["verified"] is False


def test_with_json_standard_output_is_json_lines_alone():
    process = lapsewatch("run", "--json")
    assert process.returncode == 0, process.stderr
    lines = process.stdout.splitlines()
    assert lines and all(isinstance(json.loads(line), dict) for line in lines)
    assert "addresses unverified" in process.stderr


def test_forged_table_items_on_local_state_unverify_nobody(world, tmp_path):
    """A decision item and a domain state as the checker's role could write them: gmail.com
    "unregistered", pending, one address. The next day's final step holds it at sending."""
    from lapsewatch.sweep.records import Decision, DecisionState, DomainState

    registry, _, bootstrap = world
    state = tmp_path / "state"
    first = last_json(
        run_against(registry, bootstrap, "--state", str(state), "--now", "2026-11-21T03:00:00Z")
    )
    audit = registry.app.store.audit()
    forged_at = datetime(2026, 11, 21, 4, tzinfo=UTC)
    decision = Decision(
        pk=f"RUN#{first['run_id']}",
        sk="UNSAFE#gmail.com",
        run_id=first["run_id"],
        domain="gmail.com",
        shard=0,
        lifecycle="unregistered",
        idempotency_key="forged",
        evidence={"lifecycle": "unregistered"},
        addresses=1,
        state=DecisionState.PENDING,
        outstanding="outstanding",
        decided_at=forged_at,
    )
    domain = DomainState(
        "gmail.com",
        lifecycle="unregistered",
        unsafe=True,
        last_checked_at=forged_at,
        next_check_at=datetime(2027, 1, 1, tzinfo=UTC),
        history=[],
    )
    for table, item in (("RunsTable", decision), ("DomainsTable", domain)):
        with (state / "dynamodb" / f"{table}.jsonl").open("a", encoding="utf-8") as lines:
            lines.write(json.dumps(item.serialize()) + "\n")

    second = last_json(
        run_against(registry, bootstrap, "--state", str(state), "--now", "2026-11-22T03:00:00Z")
    )

    assert second["withheld"]["held"] == 1
    assert registry.app.store.audit() == audit
    shown = json.loads(lapsewatch("runs", "show", first["run_id"], "--json", "--state", str(state)).stdout)
    assert [d["domain"] for d in shown["waiting"]] == ["gmail.com"]


def test_an_oversized_answer_day_after_day_fails_nothing_and_is_stored(world, tmp_path):
    registry, rdap, bootstrap = world
    state = str(tmp_path / "state")
    tokens = ["redemption period", *(f"status-{i:05d}-" + "x" * 186 for i in range(4000))]
    rdap.set_domain(
        "lapsed.test",
        DomainAnswer.for_lifecycle(
            "redemption", registered_at=datetime(2012, 5, 1, tzinfo=UTC), statuses=tokens
        ),
    )

    days = [
        last_json(run_against(registry, bootstrap, "--state", state, "--now", f"2026-11-{day}T03:00:00Z"))
        for day in (21, 22)
    ]

    for summary in days:
        assert summary["shards"]["dead"] == 0 and summary["domains"]["not_stored"] == 0
        assert summary["domains"]["dead_lettered"] == 0
        # Over the caps on one answer (32 statuses of 64 characters): doubt, stored as such.
        assert "lapsed.test" not in summary["unsafe"]
    assert registry.app.store.emails("lapsed.test", verified=None)[0]["verified"] is True


def test_a_held_run_ends_with_the_commands_to_look_at_it_and_they_work_as_written():
    import shlex

    held = lapsewatch("run", "--max-unverify", "1", "--max-unverify-fraction", "0")
    assert held.returncode == 0, held.stderr
    assert "HELD: it waits for an operator" in held.stdout
    steps = [line.strip() for line in held.stdout.splitlines() if line.strip().startswith("lapsewatch runs ")]
    show, approve, _discard = steps
    shown = lapsewatch(*shlex.split(show)[1:], "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["waiting"]
    approved = lapsewatch(*shlex.split(approve)[1:])
    assert approved.returncode == 0, approved.stderr


def test_a_repeated_day_says_so_and_a_backdated_one_needs_force(tmp_path):
    state = str(tmp_path / "state")
    assert lapsewatch("run", "--state", state, "--now", "2026-11-22T03:00:00Z").returncode == 0
    repeat = lapsewatch("run", "--state", state, "--now", "2026-11-22T03:00:00Z")
    assert repeat.returncode == 0 and "a repeat of that day" in repeat.stderr
    backdated = lapsewatch("run", "--state", state, "--now", "2026-11-21T03:00:00Z")
    assert backdated.returncode == 2
    assert "before the state's latest run" in backdated.stderr and "Traceback" not in backdated.stderr
    forced = lapsewatch("run", "--state", state, "--now", "2026-11-21T03:00:00Z", "--force")
    assert forced.returncode == 0, forced.stderr
