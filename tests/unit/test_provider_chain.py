"""The provider chain: the first provider that serves a domain's TLD answers for it, alone."""

import pytest

from lapsewatch.lifecycle import Lifecycle
from lapsewatch.providers import Observation
from lapsewatch.providers.chain import ProviderChain
from lapsewatch.providers.factory import ProviderSettings, parse_chain


class Scripted:
    def __init__(self, name, tlds, lifecycle):
        self.name, self.tlds, self.lifecycle = name, tlds, lifecycle
        self.asked = []

    def serves(self, domain):
        return self.tlds is None or domain.rsplit(".", 1)[1] in self.tlds

    def why_unserved(self, domain):
        return None

    def lookup(self, domain, *, deadline=None):
        self.asked.append(domain)
        return Observation(provider=self.name, lifecycle=self.lifecycle)


def test_each_domain_goes_to_the_first_provider_that_serves_it():
    rdap = Scripted("rdap", {"com"}, Lifecycle.UNKNOWN)
    fastly = Scripted("fastly", None, Lifecycle.REDEMPTION)
    chain = ProviderChain([rdap, fastly])

    assert chain.lookup("a.com").provider == "rdap"
    assert chain.lookup("b.io").provider == "fastly"
    assert (rdap.asked, fastly.asked) == (["a.com"], ["b.io"])


def test_a_providers_doubt_is_not_passed_on():
    rdap = Scripted("rdap", {"com"}, Lifecycle.UNKNOWN)
    fastly = Scripted("fastly", None, Lifecycle.UNREGISTERED)
    observation = ProviderChain([rdap, fastly]).lookup("a.com")
    assert observation.lifecycle is Lifecycle.UNKNOWN and fastly.asked == []


def test_a_domain_no_provider_serves_is_doubt_and_says_unprotected():
    chain = ProviderChain([Scripted("rdap", {"com"}, Lifecycle.ACTIVE)])
    observation = chain.lookup("x.io")
    assert observation.lifecycle is Lifecycle.UNKNOWN
    assert "no provider in the chain (rdap) serves .io" in observation.error
    assert not chain.serves("x.io") and chain.provider_for("x.io") is None


@pytest.mark.parametrize(
    "text, chain", [("rdap", ("rdap",)), (" RDAP , fastly ", ("rdap", "fastly")), ("domainr", ("domainr",))]
)
def test_chains_are_parsed(text, chain):
    assert parse_chain(text) == chain


@pytest.mark.parametrize("text", ["", ",", "rdap,gopher", "rdap,rdap"])
def test_bad_chains_are_refused(text):
    with pytest.raises(ValueError):
        parse_chain(text)


def test_the_chain_comes_from_lapsewatch_providers():
    env = {"LAPSEWATCH_PROVIDERS": "rdap,fastly", "LAPSEWATCH_FASTLY_API_KEY": "k"}
    assert ProviderSettings.from_env(env).providers == ("rdap", "fastly")
    assert ProviderSettings.from_env({"LAPSEWATCH_PROVIDER": "rdap"}).providers == ("rdap",)


def test_fastly_needs_its_key_unless_a_secret_brings_it():
    with pytest.raises(ValueError, match="LAPSEWATCH_FASTLY_API_KEY"):
        ProviderSettings.from_env({}, provider="rdap,fastly")
    assert ProviderSettings.from_env({}, provider="fastly", credentials_later=True).providers == ("fastly",)
