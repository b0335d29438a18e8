"""The circuit breaker's limits: what the final step weighs a run's decisions against, and what
every unverify call must pass again at the moment it is sent."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BreakerLimits:
    max_unverify: int = 50
    max_unverify_fraction: float = 0.01
    max_addresses_per_domain: int = 100
    max_addresses_per_run: int = 1000
    protected: frozenset[str] = frozenset()

    def limit(self, checked: int) -> int:
        return max(self.max_unverify, math.floor(self.max_unverify_fraction * checked))

    def domain_reason(self, domain: str, addresses: int | None) -> str | None:
        """Why a decision about `domain`, at that many addresses (None: no record of them), must
        wait for an operator whatever the rest of its run looks like; None when it need not."""
        if domain in self.protected:
            return "protected domains (large mailbox providers) wait for an operator"
        if addresses is None:
            return (
                "no record by the dispatcher of how many verified addresses it has "
                "(a decision it did not plan) waits for an operator"
            )
        if addresses > self.max_addresses_per_domain:
            return (
                f"more than {self.max_addresses_per_domain} verified addresses at one domain "
                "(MaxAddressesPerDomain)"
            )
        return None
