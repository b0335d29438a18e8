"""Is the domain behind an address still safe to trust for account recovery?

DomainChecker turns a provider's observation into a verdict with evidence. Three rules guard the
two errors that matter: doubt is never unsafe (errors, odd answers and unknown TLDs are
`unknown`), only the registry's own server may call a domain unsafe (an answer that came through
a redirect can only confirm that a domain is still held), and no domain is called unsafe on one
answer: a second lookup, at least a second later, must agree. The lifecycles named in `confirm`
(the sweep's notice stages: a notice reaches every owner) are confirmed the same way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

from lapsewatch.dns.evidence import WITNESS_BUDGET, DelegationWitness, DnsEvidence
from lapsewatch.domains import parse_target
from lapsewatch.lifecycle import DEFAULT_UNSAFE, SAFE, Lifecycle, apply_dates
from lapsewatch.providers import Observation, StatusProvider
from lapsewatch.timefmt import rfc3339

log = logging.getLogger(__name__)

# A lookup may take 30 s with its retries; a whole check, confirmation included, gets a little
# more, so that a hanging server never holds one target much past 40 s.
LOOKUP_BUDGET = 30.0
CHECK_BUDGET = 36.0
CONFIRM_DELAY = 1.0
# What an answer that is not the registry's own (it came through a redirect) may still say.
UNAUTHORITATIVE_ALLOWED = frozenset({Lifecycle.ACTIVE, Lifecycle.GRACE})
# A domain in these stages is out of its TLD's zone: the DNS witness must agree before the verdict
# is believed. A re-registered domain is delegated to its new holder; the witness only records
# its name servers.
DNS_WITNESSED = frozenset({Lifecycle.REDEMPTION, Lifecycle.PENDING_DELETE, Lifecycle.UNREGISTERED})
DNS_RECORDED = frozenset({Lifecycle.REREGISTERED})


@dataclass(slots=True)
class CheckResult:
    """The verdict on one input, in the shape of `lapsewatch check --json`."""

    input: str
    domain: str | None
    lifecycle: Lifecycle
    unsafe: bool
    reason: str
    provider: str
    statuses: list[str] = field(default_factory=list)
    registered_at: datetime | None = None
    expires_at: datetime | None = None
    checked_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    error: str | None = None
    verified_at: datetime | None = None
    source: str | None = None
    service: str | None = None
    # The registry's own server answered (no redirect followed), and a second lookup agreed:
    # what an early-warning notice needs, as an unverify does.
    authoritative: bool = True
    confirmed: bool = False
    # What the zone above the domain said; None when the witness was not asked.
    dns: DnsEvidence | None = None

    @property
    def contradicted_by_dns(self) -> bool:
        """The provider called the domain lapsed and its TLD's zone still delegates it."""
        return self.lifecycle is Lifecycle.UNKNOWN and self.dns is not None and self.dns.delegated is True

    def to_dict(self) -> dict:
        return {
            "input": self.input,
            "domain": self.domain,
            "lifecycle": str(self.lifecycle),
            "unsafe": self.unsafe,
            "reason": self.reason,
            "provider": self.provider,
            "statuses": list(self.statuses),
            "registered_at": rfc3339(self.registered_at),
            "expires_at": rfc3339(self.expires_at),
            "checked_at": rfc3339(self.checked_at),
            "verified_at": rfc3339(self.verified_at),
            "source": self.source,
            "service": self.service,
            "error": self.error,
            "dns": self.dns.to_dict() if self.dns is not None else None,
        }


class DomainChecker:
    def __init__(
        self,
        provider: StatusProvider,
        *,
        unsafe: Iterable[Lifecycle] = DEFAULT_UNSAFE,
        confirm: Iterable[Lifecycle] = (),
        confirm_delay: float = CONFIRM_DELAY,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        witness: DelegationWitness | None = None,
    ) -> None:
        """`witness`: the DNS witness asked on the unsafe path; None asks no one (turned off)."""
        self.provider = provider
        self.witness = witness
        self.unsafe = frozenset(unsafe)
        # Confirmed by a second lookup before anyone acts on them: the unsafe lifecycles, and
        # those that earn a notice (`confirm`).
        self.confirmed_lifecycles = self.unsafe | frozenset(confirm)
        self.confirm_delay = confirm_delay
        self._clock = clock
        self._monotonic = monotonic
        self._sleep = sleep

    def check(self, target: str, verified_at: datetime | None = None) -> CheckResult:
        """Check an email address or a domain."""
        parsed = parse_target(target)
        if parsed.domain is None:
            return CheckResult(
                input=target,
                domain=None,
                lifecycle=Lifecycle.INVALID,
                unsafe=False,
                reason=f"not a registrable domain: {parsed.invalid_reason}",
                provider=self.provider.name,
                checked_at=self._clock(),
                error=parsed.invalid_reason,
                verified_at=verified_at,
            )
        return self.check_domain(parsed.domain, verified_at, input=target)

    def check_domain(
        self, domain: str, verified_at: datetime | None = None, *, input: str | None = None
    ) -> CheckResult:
        """Check a registrable A-label domain."""
        started = self._monotonic()
        first = self._lookup(domain, verified_at, deadline=started + LOOKUP_BUDGET)
        if first.lifecycle not in self.confirmed_lifecycles:
            return self._result(input or domain, domain, first, verified_at)

        witnessed = self._witness(domain, first.lifecycle)
        if witnessed is not None and first.lifecycle in DNS_WITNESSED and not witnessed.confirms_lapse:
            return self._result(
                input or domain, domain, _dns_doubt(domain, first, witnessed), verified_at, witnessed
            )
        # The witness's time is its own: it does not eat into the confirming lookup's.
        witness_spent = self._monotonic() - first.finished if witnessed is not None else 0.0
        wait = self.confirm_delay - (self._monotonic() - first.finished)
        if wait > 0:
            self._sleep(wait)
        deadline = min(self._monotonic() + LOOKUP_BUDGET, started + CHECK_BUDGET + witness_spent)
        second = self._lookup(domain, verified_at, deadline=deadline)
        # A re-registration is confirmed by the same registration date twice, not by two dates.
        same_date = second.observation.registered_at == first.observation.registered_at
        if second.lifecycle == first.lifecycle and (
            second.lifecycle is not Lifecycle.REREGISTERED or same_date
        ):
            return self._result(input or domain, domain, second, verified_at, witnessed, confirmed=True)
        disagreement = f"{first.lifecycle} then {second.lifecycle}"
        if second.lifecycle == first.lifecycle:
            disagreement = (
                f"registered on {rfc3339(first.observation.registered_at)} then on "
                f"{rfc3339(second.observation.registered_at)}"
            )
        doubt = _Verdict(
            observation=second.observation,
            lifecycle=Lifecycle.UNKNOWN,
            note=f"two lookups disagreed ({disagreement}); not trusting either",
            finished=second.finished,
        )
        return self._result(input or domain, domain, doubt, verified_at, witnessed)

    def _witness(self, domain: str, lifecycle: Lifecycle) -> DnsEvidence | None:
        # Only on the unsafe path: a lifecycle confirmed for a notice alone needs no witness.
        if self.witness is None or lifecycle not in self.unsafe & (DNS_WITNESSED | DNS_RECORDED):
            return None
        try:
            return self.witness.delegation(domain, deadline=self._monotonic() + WITNESS_BUDGET)
        except Exception as exc:  # a witness bug must be doubt, never a verdict
            log.exception("the DNS witness failed for %s", domain)
            return DnsEvidence(
                delegated=None, servers_asked=(), validated=None, reason=f"the DNS witness failed: {exc!r}"
            )

    def check_many(
        self,
        targets: Sequence[str],
        verified_at: datetime | None = None,
        *,
        workers: int = 64,
    ) -> list[CheckResult]:
        """Check several targets concurrently, results in the order given."""
        if len(targets) <= 1:
            return [self.check(t, verified_at) for t in targets]
        with ThreadPoolExecutor(max_workers=min(workers, len(targets))) as pool:
            return list(pool.map(lambda t: self.check(t, verified_at), targets))

    def _lookup(self, domain: str, verified_at: datetime | None, *, deadline: float) -> _Verdict:
        try:
            observation = self.provider.lookup(domain, deadline=deadline)
        except Exception as exc:  # a provider bug must be doubt, never a verdict
            log.exception("the %s provider failed looking up %s", self.provider.name, domain)
            observation = Observation.doubt(self.provider.name, f"lookup failed: {exc!r}")
        observation = observation.bounded()
        lifecycle, note = apply_dates(
            observation.lifecycle,
            registered_at=observation.registered_at,
            expires_at=observation.expires_at,
            verified_at=verified_at,
            now=self._clock(),
        )
        if not observation.authoritative and lifecycle not in {*UNAUTHORITATIVE_ALLOWED, Lifecycle.UNKNOWN}:
            note = (
                f"only the registry's own server may say {domain} is {lifecycle}; this answer came "
                f"through a redirect to {observation.source}"
            )
            lifecycle = Lifecycle.UNKNOWN
        return _Verdict(observation, lifecycle, note, self._monotonic())

    def _result(
        self,
        input: str,
        domain: str,
        verdict: _Verdict,
        verified_at: datetime | None,
        dns: DnsEvidence | None = None,
        *,
        confirmed: bool = False,
    ) -> CheckResult:
        observation = verdict.observation
        return CheckResult(
            input=input,
            domain=domain,
            lifecycle=verdict.lifecycle,
            unsafe=verdict.lifecycle in self.unsafe,
            reason=_reason(domain, verdict),
            provider=observation.provider,
            statuses=list(observation.statuses),
            registered_at=observation.registered_at,
            expires_at=observation.expires_at,
            checked_at=self._clock(),
            error=observation.error,
            verified_at=verified_at,
            source=observation.source,
            service=observation.service,
            authoritative=observation.authoritative,
            confirmed=confirmed,
            dns=dns,
        )


def _dns_doubt(domain: str, first: _Verdict, dns: DnsEvidence) -> _Verdict:
    """Doubt where the DNS does not back the provider's lapse, in words naming both."""
    observation = first.observation
    said = f"{_source_words(observation)} says {domain} is {first.lifecycle}"
    if dns.delegated is True:
        why = f"but the DNS contradicts it: {dns.reason}; checking again tomorrow"
    elif dns.delegated is None:
        why = f"but the DNS has not spoken: {dns.reason}"
    else:
        why = f"but the DNS's denial cannot be believed: {dns.reason}"
    return _Verdict(observation, Lifecycle.UNKNOWN, f"{said}, {why}", first.finished)


def _source_words(observation: Observation) -> str:
    names = {
        "rdap": "the registry's RDAP server",
        "fastly": "Fastly's domain status API",
        "domainr": "Domainr",
    }
    words = names.get(observation.provider, f"the {observation.provider} provider")
    return f"{words} ({observation.service})" if observation.service else words


@dataclass(slots=True)
class _Verdict:
    observation: Observation
    lifecycle: Lifecycle
    note: str | None
    finished: float


_SENTENCES = {
    Lifecycle.ACTIVE: "{domain} is registered and in good standing",
    Lifecycle.GRACE: "{domain} has expired but its holder can still renew it",
    Lifecycle.HOLD: "{domain} is registered but suspended (on hold)",
    Lifecycle.REDEMPTION: "{domain} was deleted and only its old holder can restore it (redemption)",
    Lifecycle.PENDING_DELETE: "{domain} is about to be released for anyone to register (pending delete)",
    Lifecycle.UNREGISTERED: "{domain} is not registered: anyone can register it now",
    Lifecycle.REREGISTERED: "{domain} was {note}",
    Lifecycle.UNKNOWN: "could not tell the state of {domain}",
}


def _reason(domain: str, verdict: _Verdict) -> str:
    observation = verdict.observation
    if verdict.lifecycle is Lifecycle.REREGISTERED:
        return _SENTENCES[Lifecycle.REREGISTERED].format(domain=domain, note=verdict.note)
    sentence = _SENTENCES[verdict.lifecycle].format(domain=domain)
    if verdict.lifecycle is Lifecycle.UNKNOWN:
        why = verdict.note or observation.error
        return f"{sentence}: {why}" if why else sentence
    if verdict.note:
        sentence = f"{sentence}: {verdict.note}"
    if observation.statuses:
        sentence = f"{sentence} (status: {', '.join(observation.statuses)})"
    return sentence


def exit_status(results: Iterable[CheckResult]) -> int:
    """0 all safe, 1 any unsafe, 3 none unsafe but some unknown or invalid."""
    results = list(results)
    if any(r.unsafe for r in results):
        return 1
    if all(r.lifecycle in SAFE for r in results):
        return 0
    return 3
