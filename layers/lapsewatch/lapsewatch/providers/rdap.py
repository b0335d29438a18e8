"""RDAP (RFC 9082, 9083): the registry's own answer, found through the IANA bootstrap (RFC 9224),
whose gaps an extra file of the same shape fills (`Bootstrap`).

A lookup asks the registry's server for ``domain/{a-label}`` and reads its answer strictly, since
an attacker-controlled or broken server must never be able to get an address unverified:

- 404 means "not registered" only as the answer to that very request, with no redirect followed,
  and with an empty body or an RDAP error response whose errorCode, if any, is 404 (see
  `RdapProvider`).
- A 200 counts only as a JSON object with objectClassName "domain" and the ldhName asked for (and
  a unicodeName, if any, naming the same domain), no member named twice in any object, statuses
  that do not contradict each other and at most one registration date. An answer that came
  through a redirect is marked not authoritative.
- A bootstrap base URL that is not a plain ``https://host[:port]/path/`` (a query, a fragment,
  userinfo, anything parsers read differently) is refused when the file is loaded: its TLD is
  then unserved, and `Bootstrap.refused` says why.
- Everything else (other statuses, refused redirects, bodies over 1 MiB, timeouts, a TLD with no
  server) is doubt: an Observation with lifecycle `unknown` and the reason.

The HTTP plumbing every provider shares, with its limits, is `lapsewatch.net`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

import requests

from lapsewatch.domains import InvalidDomain, tld, to_ascii
from lapsewatch.lifecycle import Lifecycle, contradiction, lifecycle_from_statuses
from lapsewatch.net import egress
from lapsewatch.net.doubt import Doubt
from lapsewatch.net.fetch import HttpFetcher, lookup_deadline
from lapsewatch.net.strict_json import read_json
from lapsewatch.net.urls import UnsafeUrl, Url, domain_url, parse_url, url_allowed
from lapsewatch.providers import Observation
from lapsewatch.providers.factory import DEFAULT_RDAP_RATE
from lapsewatch.ratelimit import RateLimiter, shared_limiter
from lapsewatch.timefmt import parse_time_or_none

log = logging.getLogger(__name__)

RDAP_MEDIA_TYPE = "application/rdap+json"
DEFAULT_RATE = DEFAULT_RDAP_RATE


class Bootstrap:
    """Which RDAP servers serve which TLDs: IANA's bootstrap registry for domain names (RFC 9224),
    with its gaps filled from an extra file.

    IANA's file lists only the servers registries have registered with IANA; several ccTLDs run
    RDAP without being listed (.de, .io, .co, ...). The extra file, in the same shape, names
    those. It only fills gaps: a domain for which IANA's file has a server, at any suffix, is
    served as IANA's file says, whatever the extra file names for it.

    `refused` maps each suffix whose base URLs were all refused (a query, a fragment, userinfo,
    anything URL parsers read differently) to the reason: such a suffix is served by neither file.
    """

    def __init__(
        self,
        services: Mapping[str, Sequence[str]],
        *,
        source: str = "bootstrap file",
        extra: Mapping[str, Sequence[str]] | None = None,
        extra_source: str | None = None,
        refused: Mapping[str, str] | None = None,
    ) -> None:
        self.services = {suffix.lower(): list(urls) for suffix, urls in services.items()}
        self.extra = {suffix.lower(): list(urls) for suffix, urls in (extra or {}).items()}
        self.source = source
        self.extra_source = extra_source
        self.refused = dict(refused or {})

    @classmethod
    def load(cls, path: Path | None = None, *, extra: Path | None = None) -> Bootstrap:
        """Read IANA's dns.json and the extra file; None reads the one bundled with lapsewatch.

        Raises ValueError, naming the file and the problem, when either cannot be used.
        """
        iana = cls._read(path, bundled="rdap_dns.json", what="RDAP bootstrap file")
        gaps = cls._read(extra, bundled="rdap_extra.json", what="extra RDAP bootstrap file")
        return iana.with_extra(gaps)

    @classmethod
    def _read(cls, path: Path | None, *, bundled: str, what: str) -> Bootstrap:
        if path is None:
            source = f"bundled lapsewatch/data/{bundled}"
            text = (resources.files("lapsewatch") / "data" / bundled).read_bytes()
        else:
            source = str(path)
            try:
                text = Path(path).read_bytes()
            except OSError as exc:
                raise ValueError(f"cannot read the {what} {source}: {exc.strerror}") from None
        try:
            document = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise ValueError(f"the {what} {source} is not JSON: {exc}") from None
        return cls.from_json(document, source=source, what=what)

    @classmethod
    def from_json(
        cls, document: object, *, source: str = "bootstrap file", what: str = "RDAP bootstrap file"
    ) -> Bootstrap:
        """Validate the RFC 9224 shape: {"services": [[[label, ...], [url, ...]], ...]}.

        The result has no extra file; `with_extra` adds one.
        """

        def bad(why: str) -> ValueError:
            return ValueError(f"the {what} {source} is not in RFC 9224 shape: {why}")

        if not isinstance(document, dict):
            raise bad("the top level is not a JSON object")
        services = document.get("services")
        if not isinstance(services, list):
            raise bad('there is no "services" list')
        table: dict[str, list[str]] = {}
        refused: dict[str, str] = {}
        for index, service in enumerate(services):
            if not (isinstance(service, list) and len(service) == 2):
                raise bad(f"services[{index}] is not a pair [labels, urls]")
            labels, urls = service
            if not (isinstance(labels, list) and all(isinstance(label, str) for label in labels)):
                raise bad(f"services[{index}][0] is not a list of labels")
            if not (isinstance(urls, list) and urls and all(isinstance(url, str) for url in urls)):
                raise bad(f"services[{index}][1] is not a list of URLs")
            for url in urls:
                if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
                    raise bad(f"services[{index}] has {url!r}, which is not an http(s) URL")
            usable, why = _usable_base_urls(urls)
            for label in labels:
                suffix = label.strip().lower().rstrip(".")
                if usable:
                    table.setdefault(suffix, []).extend(usable)
                else:
                    refused[suffix] = f"{source} names no usable RDAP base URL for .{suffix}: {why}"
        for suffix in table.keys() & refused.keys():
            del refused[suffix]
        return cls(table, source=source, refused=refused)

    def with_extra(self, extra: Bootstrap) -> Bootstrap:
        """This file's servers, with `extra`'s filling the gaps (replacing any extra file it had)."""
        refused = {
            suffix: why
            for suffix, why in {**extra.refused, **self.refused}.items()
            if suffix not in self.services and suffix not in extra.services
        }
        return type(self)(
            self.services,
            source=self.source,
            extra=extra.services,
            extra_source=extra.source,
            refused=refused,
        )

    def refusal_for(self, domain: str) -> str | None:
        """Why the bootstrap files serve `domain` with no server although they name its suffix:
        every base URL named for it was refused. None when that is not why."""
        labels = domain.lower().rstrip(".").split(".")
        return next(
            (why for start in range(len(labels)) if (why := self.refused.get(".".join(labels[start:])))),
            None,
        )

    def servers_for(self, domain: str) -> list[str]:
        """Base URLs for the domain's longest matching suffix in IANA's file, as listed; else in the
        extra file; [] when neither has one."""
        labels = domain.lower().rstrip(".").split(".")
        for table in (self.services, self.extra):
            for start in range(len(labels)):
                urls = table.get(".".join(labels[start:]))
                if urls:
                    return list(urls)
        return []


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

    name = "rdap"

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


def _usable_base_urls(urls: Sequence[str]) -> tuple[list[str], str | None]:
    """The base URLs a lookup may be built on, each ending in "/", and why the others are not.

    A base URL is a prefix for ``domain/{a-label}`` (RFC 9224 §3): with a query, a fragment or
    userinfo, the request built on it would not be that path at that host.
    """
    usable, reasons = [], []
    for url in urls:
        try:
            parsed = parse_url(url)
        except UnsafeUrl as exc:
            reasons.append(f"{url[:120]!r}: {exc}")
            continue
        if parsed.query:
            reasons.append(f"{url[:120]!r} has a query")
            continue
        usable.append(url if url.endswith("/") else url + "/")
    return usable, "; ".join(reasons) or None


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


def read_answer(body: bytes, domain: str, *, source: str | None = None) -> Observation:
    """Read a 200 answer for `domain` (an A-label); doubt unless it is that domain's object."""

    def doubt(why: str) -> Observation:
        return Observation.doubt(RdapProvider.name, why, source=source)

    try:
        document = read_json(body)
    except Doubt as exc:
        return doubt(str(exc))
    if not isinstance(document, dict):
        return doubt(f"the answer is a JSON {type(document).__name__}, not an object")
    object_class = document.get("objectClassName")
    if object_class != "domain":
        return doubt(f"the answer's objectClassName is {object_class!r}, not 'domain'")
    ldh_name = document.get("ldhName")
    if not isinstance(ldh_name, str) or ldh_name.lower().removesuffix(".") != domain.lower():
        return doubt(f"the answer is for {_shown(ldh_name)}, not {domain!r}")
    if "unicodeName" in document and (why := _unicode_name_mismatch(document["unicodeName"], domain)):
        return doubt(why)

    status = document.get("status")
    # Tolerant: a status list with odd entries keeps its strings; anything else is no status.
    statuses = tuple(s for s in status if isinstance(s, str)) if isinstance(status, list) else ()
    if why := contradiction(statuses):
        return doubt(why)
    events = document.get("events")
    registrations = set(_event_dates(events, "registration"))
    if len(registrations) > 1:
        dates = ", ".join(f"{moment:%Y-%m-%d}" for moment in sorted(registrations))
        return doubt(f"the answer has registration events with different dates: {dates}")
    return Observation(
        provider=RdapProvider.name,
        lifecycle=lifecycle_from_statuses(statuses),
        statuses=statuses,
        registered_at=next(iter(registrations), None),
        expires_at=max(_event_dates(events, "expiration"), default=None),
        source=source,
    )


def _shown(value: object) -> str:
    """A value from the answer in a reason: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= 260 else text[:260] + "…"


def _unicode_name_mismatch(unicode_name: object, domain: str) -> str | None:
    """Why a unicodeName does not name `domain` (an A-label) after IDNA processing, or None."""
    if not isinstance(unicode_name, str):
        return "the answer's unicodeName is not text"
    try:
        named = to_ascii(unicode_name.strip().removesuffix("."))
    except InvalidDomain:
        return f"the answer's unicodeName {_shown(unicode_name)} is not a domain name"
    if named != domain.lower():
        return f"the answer's unicodeName {_shown(unicode_name)} names {named}, not {domain}"
    return None


# RFC 9083 event actions. Only "registration" says when the current holder registered the name:
# Nomulus (behind .app, .dev and others) reports every renewal as a "reregistration", so reading
# that as a registration would call each renewed domain re-registered by someone else.
def _event_dates(events: object, action: str) -> list[datetime]:
    """The dates of the events with this eventAction (case-blind); unreadable events are skipped."""
    dates = []
    for event in events if isinstance(events, list) else ():
        if not isinstance(event, dict) or not isinstance(event.get("eventAction"), str):
            continue
        if event["eventAction"].strip().lower() == action:
            moment = parse_time_or_none(event.get("eventDate"))
            if moment is not None:
                dates.append(moment)
    return dates
