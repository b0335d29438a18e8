"""A chain of status providers: each domain is answered by the first one that serves its TLD.

RDAP serves the TLDs its bootstrap files name; Fastly and Domainr serve every TLD. One provider
answers for a domain, always the same one (so the checker's confirming lookup asks it again),
and its doubt is never passed on to the next: one source of truth per domain.
"""

from __future__ import annotations

from collections.abc import Sequence

from lapsewatch.domains import tld
from lapsewatch.providers import Observation, StatusProvider

# The unsafe lifecycles, in severity order, as `sees` names them.
ALL_UNSAFE = ("redemption", "pending_delete", "unregistered", "reregistered")


class ProviderChain:
    def __init__(self, providers: Sequence[StatusProvider]) -> None:
        if not providers:
            raise ValueError("a provider chain needs at least one provider")
        self.providers = list(providers)
        self.name = ",".join(provider.name for provider in self.providers)

    def provider_for(self, domain: str) -> StatusProvider | None:
        """The provider that answers for `domain`, or None when none in the chain serves it."""
        return next((provider for provider in self.providers if provider.serves(domain)), None)

    def serves(self, domain: str) -> bool:
        return self.provider_for(domain) is not None

    def sees(self, domain: str) -> tuple[str, ...]:
        """The unsafe lifecycles the provider answering for `domain` can show (none when no
        provider serves it); a provider that does not say is taken to see them all."""
        provider = self.provider_for(domain)
        if provider is None:
            return ()
        sees = getattr(provider, "sees", None)
        return tuple(sees(domain)) if callable(sees) else ALL_UNSAFE

    def why_unserved(self, domain: str) -> str | None:
        return next((why for provider in self.providers if (why := provider.why_unserved(domain))), None)

    def lookup(self, domain: str, *, deadline: float | None = None) -> Observation:
        provider = self.provider_for(domain)
        if provider is None:
            whys = [why for provider in self.providers if (why := provider.why_unserved(domain))]
            unserved = f"no provider in the chain ({self.name}) serves .{tld(domain)}: unprotected"
            return Observation.doubt(self.name, "; ".join([unserved, *whys]))
        return provider.lookup(domain, deadline=deadline)
