"""Domainr's status API (v2), the service PyPI's Warehouse uses for the same job.

``GET /v2/status?domain=D`` answers
``{"status": [{"domain": "…", "zone": "…", "status": "undelegated inactive", "summary": "inactive"}]}``.
The status is a list of space-separated tokens; `TOKENS` maps them onto the lifecycle (the
README's Domainr table says why each maps as it does). When several tokens map, the most severe
lifecycle wins, and any token of doubt makes it unknown. Domainr gives no dates, so it cannot
see a re-registration: RDAP can.
"""

from __future__ import annotations

import logging
import time
from urllib.parse import urlencode

import requests

from lapsewatch.lifecycle import Lifecycle, most_severe
from lapsewatch.providers import Observation
from lapsewatch.providers.http import Doubt, HttpFetcher, read_json

log = logging.getLogger(__name__)

CLIENT_ID_URL = "https://api.domainr.com"
RAPIDAPI_URL = "https://domainr.p.rapidapi.com"
RAPIDAPI_HOST = "domainr.p.rapidapi.com"

TOKENS = {
    "inactive": Lifecycle.UNREGISTERED,
    "deleting": Lifecycle.REDEMPTION,
    "expiring": Lifecycle.GRACE,
    **dict.fromkeys(
        (
            "active",
            "parked",
            "marketed",
            "transferable",
            "priced",
            "premium",
            "claimed",
            "reserved",
            "undelegated",
        ),
        Lifecycle.ACTIVE,
    ),
}


def lifecycle_from_tokens(tokens: list[str]) -> Lifecycle:
    """The lifecycle Domainr's status tokens show; unknown when any token is doubt or unrecognised."""
    lifecycles = [TOKENS.get(token.lower(), Lifecycle.UNKNOWN) for token in tokens]
    if not lifecycles or Lifecycle.UNKNOWN in lifecycles:
        return Lifecycle.UNKNOWN
    return most_severe(*lifecycles)


class DomainrProvider:
    """Domain status from Domainr, with a client id (api.domainr.com) or a RapidAPI key.

    The RapidAPI key goes only to the origin of `base_url`, never to a server a redirect names.
    `allow_loopback_http` lets plain http through to this machine (tests' stubs); otherwise only
    https is used.
    """

    name = "domainr"

    def __init__(
        self,
        client_id: str | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        session: requests.Session | None = None,
        *,
        request_timeout: float = 10.0,
        lookup_budget: float = 30.0,
        max_tries: int = 3,
        allow_loopback_http: bool = False,
    ) -> None:
        if not (client_id or api_key):
            raise ValueError("Domainr needs a client id or an API key")
        self.client_id = client_id
        self.api_key = api_key
        self.base_url = (base_url or (CLIENT_ID_URL if client_id else RAPIDAPI_URL)).rstrip("/")
        self.lookup_budget = lookup_budget
        # Domainr meters by plan and answers 429 with Retry-After when a plan's rate is passed.
        self.http = HttpFetcher(
            limiter=None,
            session=session,
            request_timeout=request_timeout,
            max_tries=max_tries,
            allow_loopback_http=allow_loopback_http,
        )

    def lookup(self, domain: str, *, deadline: float | None = None) -> Observation:
        ends = time.monotonic() + self.lookup_budget
        if deadline is not None:
            ends = min(ends, deadline)
        # The source names the domain only: the client id in the query string is a credential.
        source = f"{self.base_url}/v2/status?{urlencode({'domain': domain})}"
        try:
            return self._lookup(domain, ends, source)
        except Doubt as exc:
            return Observation.doubt(self.name, self._redact(str(exc)), source=source, service=self.base_url)
        except Exception as exc:  # a bug or a surprise must be doubt, never a verdict
            # The message only: a traceback's frames could hold the key.
            log.error("Domainr lookup of %s failed unexpectedly: %s", domain, self._redact(repr(exc)))
            return Observation.doubt(
                self.name, self._redact(f"lookup failed: {exc!r}"), source=source, service=self.base_url
            )

    def _lookup(self, domain: str, deadline: float, source: str) -> Observation:
        query = {"domain": domain}
        headers = {"Accept": "application/json"}
        credentials = {}
        if self.client_id:
            query["client_id"] = self.client_id
        else:
            headers["X-RapidAPI-Host"] = RAPIDAPI_HOST
            credentials["X-RapidAPI-Key"] = self.api_key or ""
        answer = self.http.get(
            f"{self.base_url}/v2/status?{urlencode(query)}",
            headers=headers,
            deadline=deadline,
            credentials=credentials,
        )
        if answer.status != 200:
            raise Doubt(f"HTTP {answer.status}")
        document = read_json(answer.body)
        entries = document.get("status") if isinstance(document, dict) else None
        if not isinstance(entries, list):
            raise Doubt('the answer has no "status" list')
        entry = _entry_for(entries, domain)
        if entry is None:
            raise Doubt(f"the answer does not mention {domain}")
        status = entry.get("status")
        if not isinstance(status, str):
            raise Doubt(f"the status of {domain} is not text: {status!r}")
        tokens = status.split()
        lifecycle = lifecycle_from_tokens(tokens)
        return Observation(
            provider=self.name,
            lifecycle=lifecycle,
            statuses=tuple(tokens),
            error=f"Domainr's status {status!r} gives no verdict" if lifecycle is Lifecycle.UNKNOWN else None,
            # Where a redirect led, for the audit trail; the query string may carry the client id.
            source=self._redact(answer.url) if answer.redirected else source,
            authoritative=not answer.redirected,
            service=self.base_url,
        )

    def _redact(self, message: str) -> str:
        for secret in filter(None, (self.client_id, self.api_key)):
            message = message.replace(secret, "***")
        return message


def _entry_for(entries: list, domain: str) -> dict | None:
    for entry in entries:
        name = entry.get("domain") if isinstance(entry, dict) else None
        if isinstance(name, str) and name.lower().removesuffix(".") == domain.lower():
            return entry
    return None
