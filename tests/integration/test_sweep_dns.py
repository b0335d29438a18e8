"""The daily sweep with the DNS witness: a lapse the TLD still delegates is doubt, counted per
service; the state item and the registry's evidence carry what the DNS said."""

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from lapsewatch.providers.factory import ProviderSettings
from lapsewatch_tools.local.dns_server import LoopbackDns
from lapsewatch_tools.local.rdap_server import DomainAnswer
from sweep_harness import user

pytestmark = pytest.mark.integration

OLD = datetime(2015, 3, 1, tzinfo=UTC)


@pytest.fixture
def dns_world(sweep, tmp_path):
    with LoopbackDns() as server:
        server.add_zone(".")
        server.add_zone("test", nsec3=True, opt_out=True)
        server.delegate("held.test")
        server.delegate("active.test")
        witness = ProviderSettings.from_env(
            {},
            dns_roots=[server.root],
            dns_trust_anchor=server.trust_anchor_file(tmp_path / "root.ds"),
            allow_loopback_http=True,
        ).build_witness()
        sweep.runtime = replace(sweep.make_runtime(), witness=witness)
        sweep.seed(
            user("alice", "alice@active.test"),
            user("bob", "bob@lapsed.test"),
            user("carol", "carol@held.test"),
            user("dan", "dan@gone.test"),
        )
        sweep.rdap.set_domain("active.test", DomainAnswer.for_lifecycle("active", registered_at=OLD))
        sweep.rdap.set_domain("lapsed.test", DomainAnswer.for_lifecycle("redemption", registered_at=OLD))
        sweep.rdap.set_domain("held.test", DomainAnswer.for_lifecycle("redemption", registered_at=OLD))
        # gone.test is not set: the registry answers 404, and the zone denies it too.
        yield server


def test_a_lapse_the_dns_contradicts_is_doubt_counted_per_service(sweep, dns_world):
    summary = sweep.run()
    assert summary["unsafe"] == ["gone.test", "lapsed.test"]
    assert summary["by_lifecycle"] == {"active": 1, "redemption": 1, "unknown": 1, "unregistered": 1}
    assert sweep.emails("held.test") == {"carol@held.test": True}
    assert summary["dns_contradictions"] == {sweep.rdap.base_url("testreg"): 1}
    assert any("the DNS contradicted 1 lapses" in warning for warning in summary["warnings"])

    state = sweep.runtime.store.domain_states(["held.test", "active.test"])
    assert state["held.test"].dns["delegated"] is True
    assert "DNS contradicts" in state["held.test"].reason
    assert state["active.test"].dns is None  # a healthy domain costs no DNS query

    evidence = {entry["domain"]: entry["evidence"] for entry in sweep.audit()}
    assert evidence["lapsed.test"]["dns"]["delegated"] is False
    assert evidence["lapsed.test"]["dns"]["validated"] is True


def test_a_run_with_the_witness_off_says_so(sweep, dns_world):
    sweep.configure(LAPSEWATCH_DNS_WITNESS="false")
    summary = sweep.run()
    assert summary["settings"]["dns_witness"] is False
    assert any("DNS witness is off" in warning for warning in summary["warnings"])
