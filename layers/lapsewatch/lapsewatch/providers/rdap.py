"""RDAP (RFC 9082, 9083): the registry's own answer, found through the IANA bootstrap (RFC 9224),
whose gaps an extra file of the same shape fills (`rdap_bootstrap`).

A lookup asks the registry's server for ``domain/{a-label}`` and reads its answer strictly, since
an attacker-controlled or broken server must never be able to get an address unverified:

- 404 means "not registered" only as the answer to that very request, with no redirect followed,
  and with an empty body or an RDAP error response whose errorCode, if any, is 404 (see
  `RdapProvider`).
- A 200 counts only as a JSON object with objectClassName "domain" and the ldhName asked for (and
  a unicodeName, if any, naming the same domain), no member named twice in any object, statuses
  that do not contradict each other and at most one registration date (`rdap_answers`). An
  answer that came through a redirect is marked not authoritative.
- A bootstrap base URL that is not a plain ``https://host[:port]/path/`` (a query, a fragment,
  userinfo, anything parsers read differently) is refused when the file is loaded: its TLD is
  then unserved, and `Bootstrap.refused` says why.
- Everything else (other statuses, refused redirects, bodies over 1 MiB, timeouts, a TLD with no
  server) is doubt: an Observation with lifecycle `unknown` and the reason.

The HTTP plumbing every provider shares, with its limits, is `lapsewatch.net`.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import requests

from lapsewatch.domains import tld, to_ascii
from lapsewatch.lifecycle import Lifecycle
from lapsewatch.net import egress
from lapsewatch.net.doubt import Doubt
from lapsewatch.net.fetch import HttpFetcher, lookup_deadline
from lapsewatch.net.strict_json import read_json
from lapsewatch.net.urls import UnsafeUrl, Url, domain_url, parse_url, url_allowed
from lapsewatch.providers import Observation
from lapsewatch.providers.factory import DEFAULT_RDAP_RATE
from lapsewatch.providers.rdap_answers import PROVIDER, read_answer
from lapsewatch.providers.rdap_bootstrap import Bootstrap
from lapsewatch.ratelimit import RateLimiter, shared_limiter

log = logging.getLogger(__name__)

RDAP_MEDIA_TYPE = "application/rdap+json"
DEFAULT_RATE = DEFAULT_RDAP_RATE


class RdapProvider:
    """Domain status from the registry's RDAP server.

    A 404 means "not registered" only when it answers the request for the name itself at the
    base URL the bootstrap file names, with no redirect followed. RFC 7480 redirects point from
    the registry to a registrar's server, and a registrar that does not know a name says nothing
    about whether the registry does: a lost transfer or a stale referral would read as "free".
    Even a redirect back to the registry's own server may name another domain, so a 404 reached
    through any redirect is doubt. So is a 404 whose body is neither empty (Verisign sends
    none) nor a JSON object (an RDAP error): an HTML page is a proxy or load balancer talking.

    `allow_loopback_http` lets plain http through to this machine, for the loopback servers of
    tests and the CLI's local runs; otherwise only https is used.
    """

    name = PROVIDER

    def __init__(
        self,
        bootstrap: Bootstrap,
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
        self.bootstrap = bootstrap
        self.lookup_budget = lookup_budget
        self.allow_loopback_http = allow_loopback_http
        self.http = HttpFetcher(
            limiter=limiter or shared_limiter(rate),
            session=session,
            request_timeout=request_timeout,
            max_tries=max_tries,
            allow_loopback_http=allow_loopback_http,
            egress_ports=egress_ports,
        )

    def serves(self, domain: str) -> bool:
        return bool(self.bootstrap.servers_for(domain))

    def sees(self, domain: str) -> tuple[str, ...]:
        """The unsafe lifecycles RDAP can show: statuses, 404 and the registration event."""
        return ("redemption", "pending_delete", "unregistered", "reregistered") if self.serves(domain) else ()

    def why_unserved(self, domain: str) -> str | None:
        return self.bootstrap.refusal_for(domain)

    def lookup(self, domain: str, *, deadline: float | None = None) -> Observation:
        ends = lookup_deadline(self.lookup_budget, deadline)
        base = None
        try:
            a_label = to_ascii(domain.rstrip("."))
            server = self._server_for(a_label)
            base = server.text
            return self._lookup(a_label, server, ends)
        except Doubt as exc:
            return Observation.doubt(self.name, str(exc), source=exc.url, service=base)
        except Exception as exc:  # a bug or a surprise must be doubt, never a verdict
            log.exception("RDAP lookup of %s failed unexpectedly", domain)
            return Observation.doubt(self.name, f"lookup failed: {exc!r}", service=base)

    def _lookup(self, a_label: str, server: Url, deadline: float) -> Observation:
        try:
            request = domain_url(server, a_label)
        except UnsafeUrl as exc:
            raise Doubt(f"cannot ask {server.text} about {a_label}: {exc}") from None
        answer = self.http.get(request.text, headers={"Accept": RDAP_MEDIA_TYPE}, deadline=deadline)
        if answer.status == 404:
            if answer.redirected or answer.url != request.text:
                raise Doubt(
                    f"a 404 reached through a redirect to {answer.url}; only the registry's own 404, "
                    "to the request for the name itself, means the name is free",
                    answer.url,
                )
            _check_not_found_body(answer.body, answer.url)
            return Observation(
                provider=self.name, lifecycle=Lifecycle.UNREGISTERED, source=answer.url, service=server.text
            )
        if answer.status != 200:
            raise Doubt(f"HTTP {answer.status}", answer.url)
        observation = read_answer(answer.body, a_label, source=answer.url)
        return replace(observation, authoritative=not answer.redirected, service=server.text)

    def _server_for(self, domain: str) -> Url:
        servers = self.bootstrap.servers_for(domain)
        if not servers:
            unserved = f"no RDAP server for .{tld(domain)} in the bootstrap file"
            raise Doubt(self.bootstrap.refusal_for(domain) or unserved)
        # Listed order, https first; a server we may not talk to is no server.
        usable = sorted(
            (url for url in servers if url_allowed(url, allow_loopback_http=self.allow_loopback_http)),
            key=lambda url: not url.startswith("https:"),
        )
        if not usable:
            raise Doubt(f"the RDAP server for .{tld(domain)} is plain http, which is refused: {servers[0]}")
        return parse_url(usable[0])


# RFC 9083 §6 error response: these members, and an errorCode that, when given, is 404. A body with
# anything else (a gateway's {"message": "no Route matched"}, a search result, an errorCode of 500)
# is not the registry saying "no such domain".
_ERROR_MEMBERS = frozenset(
    {"errorCode", "title", "description", "lang", "notices", "rdapConformance", "links", "port43"}
    | {"objectClassName"}
)


def _check_not_found_body(body: bytes, url: str) -> None:
    """Doubt unless a 404's body is empty or an RDAP error response for a 404."""
    if not body.strip():
        return

    def doubt(why: str) -> Doubt:
        return Doubt(f"a 404 whose body is neither empty nor an RDAP error response: {why}", url)

    try:
        document = read_json(body)
    except Doubt as exc:
        raise doubt(str(exc)) from None
    if not isinstance(document, dict):
        raise doubt("it is not a JSON object")
    if unexpected := sorted(document.keys() - _ERROR_MEMBERS):
        raise doubt(f"it has the member {unexpected[0][:60]!r}")
    object_class = document.get("objectClassName", "error")
    if not isinstance(object_class, str) or object_class.lower() != "error":
        raise doubt(f"its objectClassName is {str(object_class)[:40]!r}")
    code = document.get("errorCode")
    if "errorCode" in document and (type(code) is not int or code != 404):
        raise doubt(f"its errorCode is {str(code)[:20]!r}, not 404")
    conformance = document.get("rdapConformance")
    if "rdapConformance" in document and not (
        isinstance(conformance, list) and all(isinstance(item, str) for item in conformance)
    ):
        raise doubt("its rdapConformance is not a list of strings")
    if "errorCode" not in document and "rdapConformance" not in document:
        raise doubt("it has neither an errorCode nor an rdapConformance")
