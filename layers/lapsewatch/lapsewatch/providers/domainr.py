"""Domainr's status API (v2), the service PyPI's Warehouse uses for the same job.

``GET /v2/status?domain=D`` answers
``{"status": [{"domain": "…", "zone": "…", "status": "undelegated inactive", "summary": "inactive"}]}``.
The status is a list of space-separated tokens; `TOKENS` maps them onto the lifecycle (the
Domainr table of docs/providers.md says why each maps as it does). When several tokens map, the most severe
lifecycle wins, and any token of doubt makes it unknown. Domainr gives no dates, so it cannot
see a re-registration: RDAP can.

An answer that carries an error (``{"errors": [{"code": 400, "message": "unknown zone: ocm",
"detail": "…"}]}``, or ``{"message": "…"}`` from RapidAPI) is doubt, and the reason quotes the
service's own words: `error_detail` reads them, for Fastly's API too, which speaks the same.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace
from urllib.parse import urlencode

import requests

from lapsewatch.lifecycle import Lifecycle, most_severe
from lapsewatch.net import egress
from lapsewatch.net.doubt import Doubt
from lapsewatch.net.fetch import HttpAnswer, HttpFetcher, lookup_deadline
from lapsewatch.net.strict_json import read_json
from lapsewatch.providers import Observation

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


# Tokens that say the name is held by someone, and those that say it is on its way out or free.
# One of each in a status cannot both be true (as RDAP's "active" beside "redemption period"):
# the status is doubt. The others (undelegated, premium, priced, reserved, claimed) describe how
# the name is offered or delegated, and sit beside either.
_HELD = frozenset({"active", "parked", "marketed", "transferable", "expiring"})
_LEAVING = frozenset({"inactive", "deleting"})
# "expiring deleting" is a registration running out into its deletion; inactive is no
# registration at all.
_COMPATIBLE = frozenset({("expiring", "deleting")})


def token_contradiction(tokens: Iterable[str]) -> str | None:
    """Why status tokens cannot all be true, or None when they can."""
    written = {token.lower(): token for token in tokens}
    for held in sorted(written.keys() & _HELD):
        for leaving in sorted(written.keys() & _LEAVING):
            if (held, leaving) not in _COMPATIBLE:
                return (
                    f"the status tokens contradict each other: {written[held]!r} beside {written[leaving]!r}"
                )
    return None


def lifecycle_from_tokens(tokens: list[str]) -> Lifecycle:
    """The lifecycle Domainr's status tokens show; unknown when any token is doubt or unrecognised,
    or when two tokens contradict each other (`token_contradiction`)."""
    lifecycles = [TOKENS.get(token.lower(), Lifecycle.UNKNOWN) for token in tokens]
    if not lifecycles or Lifecycle.UNKNOWN in lifecycles or token_contradiction(tokens):
        return Lifecycle.UNKNOWN
    return most_severe(*lifecycles)


def status_doubt(service: str, status: str, tokens: list[str], secrets: Iterable[str] = ()) -> str:
    """Why a status whose tokens give no lifecycle is doubt, in words."""
    shown = quoted(status, secrets=secrets)
    if why := token_contradiction(tokens):
        return f"{service}'s status {shown} gives no verdict: {why}"
    unmapped = [quoted(token, 40, secrets=secrets) for token in unmapped_tokens(tokens)]
    why = f"{', '.join(unmapped)} maps to no lifecycle" if unmapped else "it has no tokens"
    return f"{service}'s status {shown} gives no verdict: {why}"


def unmapped_tokens(tokens: list[str]) -> list[str]:
    """The tokens `TOKENS` does not map: the ones that made a status doubt."""
    return [token for token in tokens if token.lower() not in TOKENS]


# How much of a service's own words a reason quotes: enough to tell what went wrong, never a page.
QUOTE_LIMIT = 200
_ERRORS_QUOTED = 3


def quoted(text: str, limit: int = QUOTE_LIMIT, *, secrets: Iterable[str] = ()) -> str:
    """`text` from a service, fit to quote in a reason.

    `secrets` are blanked out first, before anything could cut or escape one past recognition;
    then the text is cut at `limit` and goes in double quotes, with quotes, backslashes, line
    breaks and every other invisible character escaped: the service can neither end the quotation
    and go on in the reason's own voice, nor break the line, nor hide a character.
    """
    for secret in filter(None, secrets):
        text = text.replace(secret, "***")
    if len(text) > limit:
        text = text[:limit] + "…"
    return '"' + "".join(map(_escape, text)) + '"'


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(char: str) -> str:
    if char in _ESCAPES:
        return _ESCAPES[char]
    if char.isprintable():
        return char
    return f"\\u{ord(char):04x}" if ord(char) <= 0xFFFF else f"\\U{ord(char):08x}"


def error_detail(document: object, *, secrets: Iterable[str] = ()) -> str | None:
    """The service's own account of an error in its answer, quoted for a reason (see `quoted`);
    None when it gives none.

    Reads Domainr v2's and Fastly's ``{"errors": [{"code", "message", "detail"}]}``, an
    ``"error"`` member (text, or an object like those), and, when there is neither, a bare
    ``{"message": …}`` (RapidAPI) or ``{"msg": …, "detail": …}`` (Fastly's older errors). Each
    error comes out as ``"message" (detail: "…"; code "400")``, the first few of them only.
    """
    if not isinstance(document, dict):
        return None
    secrets = tuple(secrets)
    errors = document.get("errors")
    items: list[object] = errors if isinstance(errors, list) else [] if errors is None else [errors]
    if document.get("error") is not None:
        items = [*items, document["error"]]
    accounts = [account for item in items or [document] if (account := _account(item, secrets))]
    if not accounts:
        return None
    shown = "; ".join(accounts[:_ERRORS_QUOTED])
    more = len(accounts) - _ERRORS_QUOTED
    return f"{shown}; and {more} more" if more > 0 else shown


def _account(item: object, secrets: tuple[str, ...]) -> str | None:
    if isinstance(item, str):
        return quoted(item, secrets=secrets) if item.strip() else None
    if not isinstance(item, dict):
        return None
    texts = {key: text for key, text in item.items() if isinstance(text, str) and text.strip()}
    message = texts.get("message") or texts.get("msg") or texts.get("title")
    detail = texts.get("detail")
    said = message or detail
    if said is None:
        return None
    notes = [f"detail: {quoted(detail, secrets=secrets)}"] if detail and detail != said else []
    code = item.get("code")
    if isinstance(code, str | int) and not isinstance(code, bool) and str(code).strip():
        notes.append(f"code {quoted(str(code), 20, secrets=secrets)}")
    account = quoted(said, secrets=secrets)
    return f"{account} ({'; '.join(notes)})" if notes else account


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
        egress_ports: frozenset[int] = egress.DEFAULT_PORTS,
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
            egress_ports=egress_ports,
        )

    def serves(self, domain: str) -> bool:
        return True  # every TLD: Domainr answers for any name, or says it cannot

    def sees(self, domain: str) -> tuple[str, ...]:
        """The unsafe lifecycles Domainr's tokens can show: no dates, so no re-registration."""
        return ("redemption", "pending_delete", "unregistered")

    def why_unserved(self, domain: str) -> str | None:
        return None

    def lookup(self, domain: str, *, deadline: float | None = None) -> Observation:
        ends = lookup_deadline(self.lookup_budget, deadline)
        # The source names the domain only: the client id in the query string is a credential.
        source = f"{self.base_url}/v2/status?{urlencode({'domain': domain})}"
        try:
            return self._lookup(domain, ends, source)
        except Doubt as exc:
            return replace(
                Observation.doubt(self.name, self._redact(str(exc)), source=source, service=self.base_url),
                credentials_refused=exc.credentials_refused,
            )
        except Exception as exc:  # a bug or a surprise must be doubt, never a verdict
            # The message only: a traceback's frames could hold the key.
            log.error("Domainr lookup of %s failed unexpectedly: %s", domain, self._redact(repr(exc)))
            return Observation.doubt(
                self.name, self._redact(f"lookup failed: {exc!r}"), source=source, service=self.base_url
            )

    def _lookup(self, domain: str, deadline: float, source: str) -> Observation:
        answer = self._ask(domain, deadline)
        entry = self._entry(read_json(answer.body), domain)
        status = entry.get("status")
        if not isinstance(status, str):
            raise Doubt(f"the status of {domain} is not text: {status!r}")
        tokens = status.split()
        lifecycle = lifecycle_from_tokens(tokens)
        error = None
        if lifecycle is Lifecycle.UNKNOWN:
            error = status_doubt("Domainr", status, tokens, self._secrets)
        # An entry with an error of its own is doubt, whatever its status says.
        detail = error_detail(entry, secrets=self._secrets)
        if detail is not None:
            lifecycle = Lifecycle.UNKNOWN
            error = f"Domainr gave the status {status!r} with an error: {detail}"
        return Observation(
            provider=self.name,
            lifecycle=lifecycle,
            statuses=tuple(tokens),
            error=error,
            # Where a redirect led, for the audit trail; the query string may carry the client id.
            source=self._redact(answer.url) if answer.redirected else source,
            authoritative=not answer.redirected,
            service=self.base_url,
        )

    def _ask(self, domain: str, deadline: float) -> HttpAnswer:
        """The service's 200 answer about `domain`; Doubt for any other."""
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
            raise Doubt(
                http_failure(f"HTTP {answer.status}", answer.body, "Domainr", self._secrets),
                credentials_refused=answer.status in (401, 403),
            )
        return answer

    def _entry(self, document: object, domain: str) -> dict:
        """The answer's one account of `domain` (entries that agree count as one); Doubt when the
        answer is an error, has none, or has several that disagree."""
        # The service's own account of an error comes first: it says more than a missing entry.
        detail = error_detail(document, secrets=self._secrets)
        if detail is not None:
            raise Doubt(f"Domainr answered with an error: {detail}")
        entries = document.get("status") if isinstance(document, dict) else None
        if not isinstance(entries, list):
            raise Doubt('the answer has no "status" list')
        matching = _entries_for(entries, domain)
        if len({_status_key(e) for e in matching}) > 1:
            shown = ", ".join(quoted(str(e.get("status")), 60, secrets=self._secrets) for e in matching[:3])
            raise Doubt(f"the answer has entries for {domain} that disagree: {shown}")
        if matching:
            return matching[0]
        # An entry may carry the error ("status": "unknown", and why) under a name of its own.
        detail = next(filter(None, (error_detail(e, secrets=self._secrets) for e in entries)), None)
        if detail is not None:
            raise Doubt(f"Domainr answered with an error: {detail}")
        raise Doubt(f"the answer does not mention {domain}")

    @property
    def _secrets(self) -> tuple[str, ...]:
        return tuple(filter(None, (self.client_id, self.api_key)))

    def _redact(self, message: str) -> str:
        for secret in self._secrets:
            message = message.replace(secret, "***")
        return message


def http_failure(failure: str, body: bytes, service: str, secrets: Iterable[str] = ()) -> str:
    """`failure` (an HTTP status), with what `service` said about it when its body says."""
    try:
        detail = error_detail(read_json(body), secrets=secrets)
    except Doubt:  # not JSON, or ambiguous JSON: nothing to quote
        detail = None
    return f"{failure}: {service} said {detail}" if detail else failure


def _entries_for(entries: list, domain: str) -> list[dict]:
    """The entries about `domain`, in the order given."""
    return [
        entry
        for entry in entries
        if isinstance(entry, dict)
        and isinstance(name := entry.get("domain"), str)
        and name.lower().removesuffix(".") == domain.lower()
    ]


def _status_key(entry: dict) -> object:
    """What an entry says of its domain: its status tokens as a set, and any error it carries."""
    status = entry.get("status")
    tokens = frozenset(status.lower().split()) if isinstance(status, str) else repr(status)
    return tokens, error_detail(entry) is not None
