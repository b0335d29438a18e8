"""RDAP (RFC 9082, 9083): the registry's own answer, found through the IANA bootstrap (RFC 9224).

A lookup asks the registry's server for ``domain/{a-label}`` and reads its answer strictly, since
an attacker-controlled or broken server must never be able to get an address unverified:

- 404 means "not registered" only from the server the bootstrap file names (see `RdapProvider`).
- A 200 counts only as a JSON object with objectClassName "domain" and the ldhName asked for.
- Everything else (other statuses, refused redirects, bodies over 1 MiB, timeouts, a TLD with no
  server) is doubt: an Observation with lifecycle `unknown` and the reason.

The HTTP plumbing every provider shares, with its limits, is `lapsewatch.providers.http`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

import requests

from lapsewatch.domains import tld, to_ascii
from lapsewatch.lifecycle import Lifecycle, lifecycle_from_statuses
from lapsewatch.providers import Observation
from lapsewatch.providers.http import Doubt, HttpFetcher, url_allowed
from lapsewatch.ratelimit import RateLimiter, shared_limiter
from lapsewatch.timefmt import parse_time_or_none

RDAP_MEDIA_TYPE = "application/rdap+json"
DEFAULT_RATE = 5.0


class Bootstrap:
    """The IANA bootstrap registry for domain names: which RDAP servers serve which TLDs."""

    def __init__(self, services: Mapping[str, Sequence[str]], *, source: str = "bootstrap file") -> None:
        self.services = {suffix.lower(): list(urls) for suffix, urls in services.items()}
        self.source = source

    @classmethod
    def load(cls, path: Path | None = None) -> Bootstrap:
        """Read a dns.json file; None reads the snapshot bundled with lapsewatch.

        Raises ValueError, naming the file and the problem, when it cannot be used.
        """
        if path is None:
            source = "bundled lapsewatch/data/rdap_dns.json"
            text = (resources.files("lapsewatch") / "data" / "rdap_dns.json").read_bytes()
        else:
            source = str(path)
            try:
                text = Path(path).read_bytes()
            except OSError as exc:
                raise ValueError(f"cannot read the RDAP bootstrap file {source}: {exc.strerror}") from None
        try:
            document = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise ValueError(f"the RDAP bootstrap file {source} is not JSON: {exc}") from None
        return cls.from_json(document, source=source)

    @classmethod
    def from_json(cls, document: object, *, source: str = "bootstrap file") -> Bootstrap:
        """Validate the RFC 9224 shape: {"services": [[[label, ...], [url, ...]], ...]}."""

        def bad(why: str) -> ValueError:
            return ValueError(f"the RDAP bootstrap file {source} is not in RFC 9224 shape: {why}")

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

    def servers_for(self, domain: str) -> list[str]:
        """Base URLs for the domain's longest matching suffix, as listed; [] when none."""
        labels = domain.lower().rstrip(".").split(".")
        for start in range(len(labels)):
            urls = self.services.get(".".join(labels[start:]))
            if urls:
                return list(urls)
        return []


class RdapProvider:
    """Domain status from the registry's RDAP server.

    A 404 means "not registered" only when it comes from the server the bootstrap file names.
    RFC 7480 redirects point from the registry to a registrar's server, and a registrar that
    does not know a name says nothing about whether the registry does: a lost transfer or a
    stale referral would read as "free". So a 404 at the end of a redirect to another server is
    doubt; a redirect that stays under the bootstrap base URL is still the registry speaking.
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
    ) -> None:
        self.bootstrap = bootstrap
        self.lookup_budget = lookup_budget
        self.http = HttpFetcher(
            limiter=limiter or shared_limiter(rate),
            session=session,
            request_timeout=request_timeout,
            max_tries=max_tries,
        )

    def lookup(self, domain: str, *, deadline: float | None = None) -> Observation:
        ends = time.monotonic() + self.lookup_budget
        if deadline is not None:
            ends = min(ends, deadline)
        try:
            return self._lookup(domain, ends)
        except Doubt as exc:
            return Observation.doubt(self.name, str(exc), source=exc.url)
        except Exception as exc:  # a bug or a surprise must be doubt, never a verdict
            return Observation.doubt(self.name, f"lookup failed: {exc!r}")

    def _lookup(self, domain: str, deadline: float) -> Observation:
        a_label = to_ascii(domain.rstrip("."))
        base = self._server_for(a_label)
        url = f"{base}domain/{a_label}"
        answer = self.http.get(url, headers={"Accept": RDAP_MEDIA_TYPE}, deadline=deadline)
        if answer.status == 404:
            if answer.url.startswith(base):
                return Observation(provider=self.name, lifecycle=Lifecycle.UNREGISTERED, source=answer.url)
            raise Doubt(
                "a server the registry redirected to answered 404; only the registry's own 404 "
                "means the name is free",
                answer.url,
            )
        if answer.status != 200:
            raise Doubt(f"HTTP {answer.status}", answer.url)
        return read_answer(answer.body, a_label, source=answer.url)

    def _server_for(self, domain: str) -> str:
        servers = self.bootstrap.servers_for(domain)
        if not servers:
            raise Doubt(f"no RDAP server for .{tld(domain)} in the bootstrap file")
        # Listed order, https first; a server we may not talk to is no server.
        usable = sorted(filter(url_allowed, servers), key=lambda url: not url.startswith("https:"))
        if not usable:
            raise Doubt(f"the RDAP server for .{tld(domain)} is plain http, which is refused: {servers[0]}")
        base = usable[0]
        return base if base.endswith("/") else base + "/"


def read_answer(body: bytes, domain: str, *, source: str | None = None) -> Observation:
    """Read a 200 answer for `domain` (an A-label); doubt unless it is that domain's object."""

    def doubt(why: str) -> Observation:
        return Observation.doubt(RdapProvider.name, why, source=source)

    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return doubt("the answer is not JSON")
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
    registered_at, expires_at = _dates(document.get("events"))
    return Observation(
        provider=RdapProvider.name,
        lifecycle=lifecycle_from_statuses(statuses),
        statuses=statuses,
        registered_at=registered_at,
        expires_at=expires_at,
        source=source,
    )


# RFC 9083 event actions. "reregistration" is a later registration of the same name, which is
# exactly what re-registration detection is looking for.
_REGISTRATION = {"registration", "reregistration"}
_EXPIRATION = {"expiration"}


def _dates(events: object) -> tuple[datetime | None, datetime | None]:
    """The latest registration and expiration dates among the events; unreadable ones are skipped."""
    registered: list[datetime] = []
    expires: list[datetime] = []
    for event in events if isinstance(events, list) else ():
        if not isinstance(event, dict) or not isinstance(event.get("eventAction"), str):
            continue
        action = event["eventAction"].strip().lower()
        moment = parse_time_or_none(event.get("eventDate"))
        if moment is None:
            continue
        if action in _REGISTRATION:
            registered.append(moment)
        elif action in _EXPIRATION:
            expires.append(moment)
    return max(registered, default=None), max(expires, default=None)
