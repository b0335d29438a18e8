"""Which RDAP servers serve which TLDs: IANA's bootstrap registry (RFC 9224), whose gaps an extra
file of the same shape fills.

A base URL that is not a plain ``https://host[:port]/path/`` (a query, a fragment, userinfo,
anything parsers read differently) is refused when the file is loaded: its TLD is then unserved,
and `Bootstrap.refused` says why.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

from lapsewatch.net.urls import UnsafeUrl, parse_url


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
            labels, urls = _service(index, service, bad)
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


def _service(index: int, service: object, bad: Callable[[str], ValueError]) -> tuple[list[str], list[str]]:
    """The labels and the URLs of services[index], which must be [[label, ...], [url, ...]] with
    at least one URL, each an http(s) URL with a host."""
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
    return labels, urls


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
