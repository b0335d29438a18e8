"""Fastly's Domain Research API, the status service PyPI's Warehouse uses since May 2026.

``GET https://api.fastly.com/domain-management/v1/tools/status?domain=D`` with the header
``Fastly-Key`` answers one object, ``{"domain": "…", "zone": "…", "status": "undelegated inactive",
"tags": "…"}``. The status tokens are Domainr's, read with domainr's `TOKENS`: one table for
both. Like Domainr, Fastly gives no dates, so it cannot see a re-registration: RDAP can.

Everything but a 200 answering for the domain asked, with a status whose every token maps, is
doubt: an HTTP error (the API key refused, a rate limit not lifted in time, a server error), an
error body (``{"errors": [{"code", "message", "detail"}]}``, its words quoted in the reason), an
answer that is not a JSON object or that is about another domain. An answer reached through a
redirect is not Fastly's own word: the checker lets it say a domain is held, never that it lapsed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace
from urllib.parse import urlencode, urlsplit

import requests

from lapsewatch.domains import InvalidDomain, to_ascii
from lapsewatch.lifecycle import Lifecycle
from lapsewatch.net import egress
from lapsewatch.net.doubt import Doubt
from lapsewatch.net.fetch import HttpFetcher, lookup_deadline
from lapsewatch.net.strict_json import read_json
from lapsewatch.providers import Observation
from lapsewatch.providers.domainr import (
    error_detail,
    http_failure,
    lifecycle_from_tokens,
    quoted,
    status_doubt,
)
from lapsewatch.providers.factory import DEFAULT_FASTLY_RATE
from lapsewatch.ratelimit import RateLimiter, shared_limiter

log = logging.getLogger(__name__)

STATUS_URL = "https://api.fastly.com/domain-management/v1/tools/status"
KEY_HEADER = "Fastly-Key"
# Requests a second, per process and per host: declared once, in the provider factory.
DEFAULT_RATE = DEFAULT_FASTLY_RATE
_REFUSED = frozenset({401, 403})


class FastlyProvider:
    """Domain status from Fastly's Domain Research API, with a Fastly API key.

    The key goes only to the origin of `base_url` (the status endpoint itself), never to a server
    a redirect names, and never into a reason, a source or a log. Requests keep to `rate` a
    second, through the process-wide limiter for that rate (one bucket per host) unless a
    `limiter` is given. `allow_loopback_http` lets plain http through to this machine (the
    loopback stand-in of tests and local runs); otherwise only https is used.
    """

    name = "fastly"

    def __init__(
        self,
        api_key: str,
        base_url: str | None = None,
        *,
        rate: float = DEFAULT_RATE,
        limiter: RateLimiter | None = None,
        session: requests.Session | None = None,
        request_timeout: float = 10.0,
        lookup_budget: float = 30.0,
        max_tries: int = 3,
        allow_loopback_http: bool = False,
        egress_ports: frozenset[int] = egress.DEFAULT_PORTS,
    ) -> None:
        if not api_key or not api_key.strip():
            raise ValueError("Fastly needs an API key")
        self.api_key = api_key
        self.base_url = base_url or STATUS_URL
        self.lookup_budget = lookup_budget
        # Fastly meters per key and answers 429 when the rate is passed; keeping under it is ours.
        self.http = HttpFetcher(
            limiter=limiter or shared_limiter(rate),
            session=session,
            request_timeout=request_timeout,
            max_tries=max_tries,
            allow_loopback_http=allow_loopback_http,
            egress_ports=egress_ports,
        )

    def serves(self, domain: str) -> bool:
        return True  # every TLD: Fastly answers for any name, or says it cannot

    def sees(self, domain: str) -> tuple[str, ...]:
        """The unsafe lifecycles Fastly's tokens can show: no dates, so no re-registration."""
        return ("redemption", "pending_delete", "unregistered")

    def why_unserved(self, domain: str) -> str | None:
        return None

    def lookup(self, domain: str, *, deadline: float | None = None) -> Observation:
        ends = lookup_deadline(self.lookup_budget, deadline)
        # The request's URL: the key travels in a header, so the URL holds no secret.
        source = self.request_url(domain)
        try:
            asked = _a_label(domain)
            source = self.request_url(asked)
            return self._lookup(asked, ends, source)
        except Doubt as exc:
            return replace(
                Observation.doubt(self.name, self._redact(str(exc)), source=source, service=self.base_url),
                credentials_refused=exc.credentials_refused,
            )
        except Exception as exc:  # a bug or a surprise must be doubt, never a verdict
            # The message only: a traceback's frames could hold the key.
            log.error("Fastly lookup of %s failed unexpectedly: %s", domain, self._redact(repr(exc)))
            return Observation.doubt(
                self.name, self._redact(f"lookup failed: {exc!r}"), source=source, service=self.base_url
            )

    def request_url(self, domain: str) -> str:
        """The status request for `domain`: the base URL with ``domain=`` added to its query."""
        joiner = "&" if urlsplit(self.base_url).query else "?"
        return f"{self.base_url}{joiner}{urlencode({'domain': domain})}"

    def _lookup(self, asked: str, deadline: float, source: str) -> Observation:
        answer = self.http.get(
            source,
            headers={"Accept": "application/json"},
            deadline=deadline,
            credentials={KEY_HEADER: self.api_key},
        )
        if answer.status != 200:
            # Fastly's own words are quoted with the key blanked out of them.
            failure = f"HTTP {answer.status}"
            if answer.status in _REFUSED:
                failure = f"Fastly refused the API key ({failure})"
            raise Doubt(
                http_failure(failure, answer.body, "Fastly", [self.api_key]),
                credentials_refused=answer.status in _REFUSED,
            )
        observation = read_status(answer.body, asked, secrets=[self.api_key])
        return replace(
            observation,
            # Where a redirect led, for the audit trail.
            source=self._redact(answer.url) if answer.redirected else source,
            authoritative=not answer.redirected,
            service=self.base_url,
        )

    def _redact(self, message: str) -> str:
        return message.replace(self.api_key, "***")


def read_status(body: bytes, domain: str, *, secrets: Iterable[str] = ()) -> Observation:
    """Read a 200 answer of Fastly's status endpoint about the A-label `domain`; raises Doubt.

    An error body, anything but one JSON object, and an answer about another domain are doubt;
    a status with a token the table does not map is an `unknown` observation saying which.
    """
    secrets = tuple(secrets)
    document = read_json(body)
    detail = error_detail(document, secrets=secrets)
    if detail is not None:
        raise Doubt(f"Fastly answered with an error: {detail}")
    if not isinstance(document, dict):
        raise Doubt(f"the answer is not a JSON object but {_kind(document)}")
    name = document.get("domain")
    if not isinstance(name, str):
        raise Doubt(f"the answer does not say which domain it is about (asked about {domain})")
    if name.lower().removesuffix(".") != domain.lower().removesuffix("."):
        raise Doubt(f"the answer is about {quoted(name, 80, secrets=secrets)}, not {domain}")
    status = document.get("status")
    if not isinstance(status, str):
        raise Doubt(f"the status of {domain} is not text but {_kind(status)}")
    tokens = status.split()
    lifecycle = lifecycle_from_tokens(tokens)
    error = status_doubt("Fastly", status, tokens, secrets) if lifecycle is Lifecycle.UNKNOWN else None
    return Observation(provider="fastly", lifecycle=lifecycle, statuses=tuple(tokens), error=error)


def _a_label(domain: str) -> str:
    try:
        return to_ascii(domain.strip().removesuffix("."))
    except InvalidDomain as exc:
        raise Doubt(f"not a domain Fastly can be asked about: {exc}") from None


def _kind(value: object) -> str:
    """What a JSON value is, in words, without repeating a hostile value at length."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    return "an object"
