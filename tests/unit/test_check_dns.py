"""DomainChecker and the DNS witness: a lapse is believed only when the zone above the domain
agrees; doubt otherwise. The witness is a double behind its interface."""

from datetime import UTC, datetime

import pytest

from lapsewatch.check import DomainChecker
from lapsewatch.dns.evidence import DnsEvidence
from lapsewatch.lifecycle import Lifecycle
from lapsewatch.providers import Observation

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)

DELEGATED = DnsEvidence(
    delegated=True,
    servers_asked=("127.53.0.2:5353",),
    validated=True,
    signed=True,
    zone="test",
    name_servers=("ns1.host.example",),
    reason="the test zone still delegates gone.test to ns1.host.example",
)
DENIED = DnsEvidence(
    delegated=False,
    servers_asked=("127.53.0.2:5353",),
    validated=True,
    signed=True,
    zone="test",
    reason="the test zone says gone.test does not exist there (NXDOMAIN)",
)
DENIED_UNSIGNED = DnsEvidence(
    delegated=False, servers_asked=("127.53.0.2:5353",), validated=False, signed=False, reason="unsigned"
)
DENIED_UNPROVEN = DnsEvidence(
    delegated=False, servers_asked=("127.53.0.2:5353",), validated=False, signed=True, reason="no proof"
)
SILENT = DnsEvidence(
    delegated=None, servers_asked=("127.53.0.2:5353",), validated=None, reason="127.53.0.2:5353 timed out"
)


class Provider:
    name = "rdap"

    def __init__(self, lifecycle):
        self.lifecycle = lifecycle
        self.calls = 0

    def lookup(self, domain, *, deadline=None):
        self.calls += 1
        registered = datetime(2026, 6, 1, tzinfo=UTC) if self.lifecycle is Lifecycle.ACTIVE else None
        return Observation(
            provider="rdap",
            lifecycle=self.lifecycle,
            service="https://rdap.test/",
            registered_at=registered,
        )


class Witness:
    def __init__(self, evidence):
        self.evidence = evidence
        self.asked = []

    def delegation(self, domain, *, deadline=None):
        self.asked.append(domain)
        if isinstance(self.evidence, Exception):
            raise self.evidence
        return self.evidence


def check(lifecycle, evidence, **kwargs):
    provider, witness = Provider(lifecycle), Witness(evidence)
    checker = DomainChecker(provider, witness=witness, confirm_delay=0, clock=lambda: NOW, **kwargs)
    return checker.check("someone@gone.test"), provider, witness


LAPSES = [Lifecycle.REDEMPTION, Lifecycle.PENDING_DELETE, Lifecycle.UNREGISTERED]


@pytest.mark.parametrize("lifecycle", [Lifecycle.ACTIVE, Lifecycle.GRACE, Lifecycle.HOLD, Lifecycle.UNKNOWN])
def test_a_safe_verdict_costs_no_dns_query(lifecycle):
    result, _, witness = check(lifecycle, DELEGATED)
    assert witness.asked == []
    assert result.dns is None
    assert result.to_dict()["dns"] is None


@pytest.mark.parametrize("lifecycle", LAPSES)
def test_a_lapse_the_zone_still_delegates_is_doubt_naming_both_sources(lifecycle):
    result, provider, witness = check(lifecycle, DELEGATED)
    assert witness.asked == ["gone.test"]
    assert result.lifecycle is Lifecycle.UNKNOWN and not result.unsafe
    assert "RDAP server (https://rdap.test/)" in result.reason
    assert "the DNS contradicts it" in result.reason and "still delegates" in result.reason
    assert result.contradicted_by_dns
    assert result.to_dict()["dns"]["delegated"] is True
    assert provider.calls == 1  # no confirming lookup for a verdict already doubted


@pytest.mark.parametrize("lifecycle", LAPSES)
@pytest.mark.parametrize("evidence", [DENIED, DENIED_UNSIGNED])
def test_a_lapse_the_zone_denies_stands_and_is_still_confirmed(lifecycle, evidence):
    result, provider, _ = check(lifecycle, evidence)
    assert result.lifecycle is lifecycle and result.unsafe
    assert provider.calls == 2
    assert result.dns == evidence
    assert not result.contradicted_by_dns
    assert result.to_dict()["dns"] == evidence.to_dict()


@pytest.mark.parametrize("evidence", [SILENT, DENIED_UNPROVEN])
def test_a_silent_zone_or_an_unproven_denial_is_doubt(evidence):
    result, _, _ = check(Lifecycle.REDEMPTION, evidence)
    assert result.lifecycle is Lifecycle.UNKNOWN and not result.unsafe
    assert "the DNS" in result.reason and evidence.reason in result.reason
    assert not result.contradicted_by_dns


def test_a_failing_witness_is_doubt():
    result, _, _ = check(Lifecycle.UNREGISTERED, RuntimeError("bug"))
    assert result.lifecycle is Lifecycle.UNKNOWN
    assert result.dns is not None and result.dns.delegated is None


def test_a_reregistered_domain_records_its_delegation_without_a_gate():
    provider, witness = Provider(Lifecycle.ACTIVE), Witness(DELEGATED)
    checker = DomainChecker(provider, witness=witness, confirm_delay=0, clock=lambda: NOW)
    result = checker.check("someone@gone.test", verified_at=datetime(2025, 1, 1, tzinfo=UTC))
    assert result.lifecycle is Lifecycle.REREGISTERED and result.unsafe
    assert result.dns is not None and result.dns.name_servers == ("ns1.host.example",)


def test_without_a_witness_the_provider_alone_decides():
    provider = Provider(Lifecycle.REDEMPTION)
    result = DomainChecker(provider, confirm_delay=0, clock=lambda: NOW).check("gone.test")
    assert result.unsafe and result.dns is None


def test_a_lapse_outside_the_unsafe_set_asks_no_one():
    result, _, witness = check(Lifecycle.REDEMPTION, DELEGATED, unsafe=[Lifecycle.UNREGISTERED])
    assert witness.asked == [] and not result.unsafe
