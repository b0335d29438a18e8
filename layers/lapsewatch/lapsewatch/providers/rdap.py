"""RDAP (RFC 9082, 9083): the registry's own answer, found through the IANA bootstrap (RFC 9224),
whose gaps an extra file of the same shape fills (`Bootstrap`).

A lookup asks the registry's server for ``domain/{a-label}`` and reads its answer strictly, since
an attacker-controlled or broken server must never be able to get an address unverified:

- 404 means "not registered" only as the answer to that very request, with no redirect followed,
  and with an empty or JSON-object body (see `RdapProvider`).
- A 200 counts only as a JSON object with objectClassName "domain" and the ldhName asked for, no
  member named twice in any object, statuses that do not contradict each other and at most one
  registration date. An answer that came through a redirect is marked not authoritative.
- Everything else (other statuses, refused redirects, bodies over 1 MiB, timeouts, a TLD with no
  server) is doubt: an Observation with lifecycle `unknown` and the reason.

The HTTP plumbing every provider shares, with its limits, is `lapsewatch.providers.http`.
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

from lapsewatch.domains import tld, to_ascii
from lapsewatch.lifecycle import Lifecycle, contradiction, lifecycle_from_statuses
from lapsewatch.providers import Observation
from lapsewatch.providers.http import Doubt, HttpFetcher, lookup_deadline, read_json, url_allowed
from lapsewatch.ratelimit import RateLimiter, shared_limiter
from lapsewatch.timefmt import parse_time_or_none

log = logging.getLogger(__name__)

RDAP_MEDIA_TYPE = "application/rdap+json"
DEFAULT_RATE = 5.0


class Bootstrap:
    """Which RDAP servers serve which TLDs: IANA's bootstrap registry for domain names (RFC 9224),
    with its gaps filled from an extra file.

    IANA's file lists only the servers registries have registered with IANA; several ccTLDs run
    RDAP without being listed (.de, .io, .co, ...). The extra file, in the same shape, names
    those. It only fills gaps: a domain for which IANA's file has a server, at any suffix, is
    served as IANA's file says, whatever the extra file names for it.
    """

    def __init__(
        self,
        services: Mapping[str, Sequence[str]],
        *,
        source: str = "bootstrap file",
        extra: Mapping[str, Sequence[str]] | None = None,
        extra_source: str | None = None,
    ) -> None:
        self.services = {suffix.lower(): list(urls) for suffix, urls in services.items()}
        self.extra = {suffix.lower(): list(urls) for suffix, urls in (extra or {}).items()}
        self.source = source
        self.extra_source = extra_source

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
            for label in labels:
                table.setdefault(label.strip().lower().rstrip("."), []).extend(urls)
        return cls(table, source=source)

    def with_extra(self, extra: Bootstrap) -> Bootstrap:
        """This file's servers, with `extra`'s filling the gaps (replacing any extra file it had)."""
        return type(self)(self.services, source=self.source, extra=extra.services, extra_source=extra.source)

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
        )

    def serves(self, domain: str) -> bool:
        return bool(self.bootstrap.servers_for(domain))

    def lookup(self, domain: str, *, deadline: float | None = None) -> Observation:
        ends = lookup_deadline(self.lookup_budget, deadline)
        base = None
        try:
            a_label = to_ascii(domain.rstrip("."))
            base = self._server_for(a_label)
            return self._lookup(a_label, base, ends)
        except Doubt as exc:
            return Observation.doubt(self.name, str(exc), source=exc.url, service=base)
        except Exception as exc:  # a bug or a surprise must be doubt, never a verdict
            log.exception("RDAP lookup of %s failed unexpectedly", domain)
            return Observation.doubt(self.name, f"lookup failed: {exc!r}", service=base)

    def _lookup(self, a_label: str, base: str, deadline: float) -> Observation:
        url = f"{base}domain/{a_label}"
        answer = self.http.get(url, headers={"Accept": RDAP_MEDIA_TYPE}, deadline=deadline)
        if answer.status == 404:
            if answer.redirected:
                raise Doubt(
                    f"a 404 reached through a redirect to {answer.url}; only the registry's own 404, "
                    "to the request for the name itself, means the name is free",
                    answer.url,
                )
            _check_not_found_body(answer.body, answer.url)
            return Observation(
                provider=self.name, lifecycle=Lifecycle.UNREGISTERED, source=answer.url, service=base
            )
        if answer.status != 200:
            raise Doubt(f"HTTP {answer.status}", answer.url)
        observation = read_answer(answer.body, a_label, source=answer.url)
        return replace(observation, authoritative=not answer.redirected, service=base)

    def _server_for(self, domain: str) -> str:
        servers = self.bootstrap.servers_for(domain)
        if not servers:
            raise Doubt(f"no RDAP server for .{tld(domain)} in the bootstrap file")
        # Listed order, https first; a server we may not talk to is no server.
        usable = sorted(
            (url for url in servers if url_allowed(url, allow_loopback_http=self.allow_loopback_http)),
            key=lambda url: not url.startswith("https:"),
        )
        if not usable:
            raise Doubt(f"the RDAP server for .{tld(domain)} is plain http, which is refused: {servers[0]}")
        base = usable[0]
        return base if base.endswith("/") else base + "/"


def _check_not_found_body(body: bytes, url: str) -> None:
    """Doubt unless a 404's body is empty or an RDAP error object."""
    if not body.strip():
        return
    try:
        document = read_json(body)
    except Doubt as exc:
        raise Doubt(f"a 404 whose body is neither empty nor an RDAP error: {exc}", url) from None
    if not isinstance(document, dict) or "objectClassName" in document:
        raise Doubt("a 404 whose body is neither empty nor an RDAP error object", url)


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
        return doubt(f"the answer is for {ldh_name!r}, not {domain!r}")

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
