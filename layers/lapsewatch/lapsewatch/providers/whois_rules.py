"""One TLD's WHOIS server and how to read its answers, and the table of them (`data/whois.json`).

The reader (`whois_reader`) reads an answer with these rules; this module says what the rules
are and loads them, strictly: a table with an unknown key, a status mapped to no lifecycle or a
TLD whose rules can show nothing unsafe is refused whole, naming the file and the problem.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path

from lapsewatch.lifecycle import DEFAULT_UNSAFE, Lifecycle
from lapsewatch.net.doubt import Doubt

DEFAULT_PORT = 43
# Queries a second to one server, and how many may go at once, unless the table says otherwise.
# Registries ban clients that ask too fast, and publish few limits: one a second is safe for most.
DEFAULT_RATE = 1.0
DEFAULT_BURST = 2
_LIFECYCLES_SEEN = ("redemption", "pending_delete", "unregistered", "reregistered")


class WhoisRefusal(Doubt):
    """The server refused to answer (a rate limit, a blocked client): back off before asking it again."""


@dataclass(frozen=True, slots=True)
class WhoisRules:
    """One TLD's server and how to read its answers."""

    tld: str
    server: str
    port: int = DEFAULT_PORT
    # The query line, before its CRLF: "{domain}" is the A-label asked.
    query: str = "{domain}"
    encodings: tuple[str, ...] = ("utf-8",)
    rate: float = DEFAULT_RATE
    burst: int = DEFAULT_BURST
    not_found: tuple[str, ...] = ()
    # Field names, each with its aliases (a registry answering in two languages); the domain is
    # the value's first word ("google.bg (google.bg)").
    domain_field: frozenset[str] = frozenset({"domain"})
    status_field: frozenset[str] | None = None
    # Status values are split on this before mapping ("ok / autoRenewPeriod"); a value mapped as
    # a whole wins over its parts.
    status_separator: str | None = None
    # Whether a record without a status line is a registered name (EURid writes none for one).
    status_optional: bool = False
    statuses: Mapping[str, Lifecycle] = field(default_factory=dict)
    # What is cut from a status value before it is mapped ("Connected (2027/05/31)").
    status_strip: str | None = None
    created_field: frozenset[str] | None = None
    created_formats: tuple[str, ...] = ()
    # A field naming the query as the server understood it ("query : google.kr"): when present, it
    # must be the name asked.
    query_field: frozenset[str] | None = None
    # Whether the record's fields may be indented (some registries indent every line).
    indented: bool = False
    # Whether the record is the whole answer, for registries that put blank lines inside it and
    # write their contacts in other fields (the default: the block of lines naming the domain).
    whole_answer: bool = False
    refusals: tuple[str, ...] = ()
    policy: str | None = None

    @property
    def sees(self) -> tuple[str, ...]:
        """The unsafe lifecycles these rules can show, in severity order."""
        seen = {str(lifecycle) for lifecycle in self.statuses.values()}
        if self.not_found:
            seen.add(str(Lifecycle.UNREGISTERED))
        if self.created_field:
            seen.add(str(Lifecycle.REREGISTERED))
        return tuple(name for name in _LIFECYCLES_SEEN if name in seen)

    def query_line(self, domain: str) -> bytes:
        return (self.query.replace("{domain}", domain) + "\r\n").encode("ascii")


@dataclass(frozen=True, slots=True)
class WhoisReading:
    """What an answer shows about the name asked."""

    lifecycle: Lifecycle
    statuses: tuple[str, ...] = ()
    registered_at: datetime | None = None


def normal(text: str) -> str:
    """A field name or status as the table and the reader compare them: lowercase, single-spaced."""
    return " ".join(text.lower().split())


# The table -------------------------------------------------------------------------------------

BUNDLED = "whois.json"
_KEYS = frozenset(
    {
        "server", "port", "query", "encodings", "rate", "burst", "not_found", "domain", "status",
        "status_separator", "status_strip", "statuses", "created", "created_formats", "query_field",
        "indented", "refusals", "policy", "note", "status_set", "status_optional", "whole_answer",
    }
)  # fmt: skip
_HOST = re.compile(r"[A-Za-z0-9.-]{1,253}|\d{1,3}(\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]")

type StatusSets = Mapping[str, Mapping[str, object]]


class WhoisTable:
    """The TLDs WHOIS serves, each with its rules; `source` names the file."""

    def __init__(self, rules: Mapping[str, WhoisRules], *, source: str = "WHOIS table") -> None:
        self.rules = dict(rules)
        self.source = source

    def for_domain(self, domain: str) -> WhoisRules | None:
        return self.rules.get(domain.rsplit(".", 1)[-1].lower())

    @classmethod
    def load(cls, path: Path | None = None) -> WhoisTable:
        """The table at `path`, or the bundled one; raises ValueError naming the file and the problem."""
        if path is None:
            source = f"bundled lapsewatch/data/{BUNDLED}"
            data = (resources.files("lapsewatch") / "data" / BUNDLED).read_bytes()
        else:
            source = str(path)
            try:
                data = Path(path).read_bytes()
            except OSError as exc:
                raise ValueError(f"cannot read the WHOIS table {source}: {exc.strerror}") from None
        try:
            document = json.loads(data)
        except (ValueError, RecursionError) as exc:
            raise ValueError(f"the WHOIS table {source} is not JSON: {exc}") from None
        return cls.from_json(document, source=source)

    @classmethod
    def from_json(cls, document: object, *, source: str = "WHOIS table") -> WhoisTable:
        def bad(why: str) -> ValueError:
            return ValueError(f"the WHOIS table {source}: {why}")

        if not isinstance(document, dict) or not isinstance(document.get("tlds"), dict):
            raise bad('the top level must be an object with a "tlds" object')
        sets = document.get("status_sets", {})
        if not isinstance(sets, dict) or not all(isinstance(table, dict) for table in sets.values()):
            raise bad('"status_sets" must be an object of status tables')
        rules = {}
        for tld, entry in document["tlds"].items():
            if not isinstance(tld, str) or not re.fullmatch(r"[a-z0-9-]{2,63}", tld):
                raise bad(f"{tld!r} is not a TLD as a lowercase A-label")
            try:
                rules[tld] = _rules(tld, entry, sets)
            except (TypeError, ValueError) as exc:
                raise bad(f".{tld}: {exc}") from None
        return cls(rules, source=source)


def _rules(tld: str, entry: object, sets: StatusSets) -> WhoisRules:
    """One TLD's entry as rules; raises ValueError saying what is wrong with it."""
    if not isinstance(entry, dict):
        raise ValueError("its entry is not an object")
    if unknown := set(entry) - _KEYS:
        raise ValueError(f"unknown keys {', '.join(sorted(unknown))}")
    server, port = _server(entry)
    rate, burst = _rate(entry)
    statuses, status_field = _status_rules(entry, sets)
    created, formats = _created_rules(entry)
    rules = WhoisRules(
        tld=tld,
        server=server,
        port=port,
        query=_query(entry),
        encodings=_encodings(entry),
        rate=rate,
        burst=burst,
        not_found=_not_found(entry),
        domain_field=_names(entry, "domain") or frozenset({"domain"}),
        status_field=status_field,
        status_separator=_text(entry, "status_separator"),
        status_optional=_flag(entry, "status_optional"),
        statuses=statuses,
        status_strip=_text(entry, "status_strip"),
        created_field=created,
        created_formats=formats,
        query_field=_names(entry, "query_field"),
        indented=_flag(entry, "indented"),
        whole_answer=_flag(entry, "whole_answer"),
        refusals=_refusals(entry),
        policy=_text(entry, "policy"),
    )
    if not set(rules.sees) & {str(lifecycle) for lifecycle in DEFAULT_UNSAFE}:
        raise ValueError("its rules can show no unsafe lifecycle: serve it only with a signal to read")
    return rules


def _server(entry: Mapping[str, object]) -> tuple[str, int]:
    server = _text(entry, "server", required=True) or ""
    if not _HOST.fullmatch(server):
        raise ValueError(f"server {server!r} is not a host name")
    port = entry.get("port", DEFAULT_PORT)
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise ValueError(f"port {port!r} is not a port")
    return server, port


def _query(entry: Mapping[str, object]) -> str:
    query = _text(entry, "query") or "{domain}"
    if "{domain}" not in query or not query.isascii() or any(c in query for c in "\r\n"):
        raise ValueError('"query" must be one ASCII line holding {domain}')
    return query


def _encodings(entry: Mapping[str, object]) -> tuple[str, ...]:
    encodings = tuple(_texts(entry, "encodings") or ("utf-8",))
    for encoding in encodings:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise ValueError(f"unknown encoding {encoding!r}") from None
    return encodings


def _rate(entry: Mapping[str, object]) -> tuple[float, int]:
    rate = entry.get("rate", DEFAULT_RATE)
    burst = entry.get("burst", DEFAULT_BURST)
    if not isinstance(rate, int | float) or isinstance(rate, bool) or not rate > 0:
        raise ValueError(f"rate {rate!r} is not a number of queries a second above 0")
    if not isinstance(burst, int) or isinstance(burst, bool) or burst < 1:
        raise ValueError(f"burst {burst!r} is not a count of 1 or more")
    return float(rate), burst


def _status_rules(
    entry: Mapping[str, object], sets: StatusSets
) -> tuple[dict[str, Lifecycle], frozenset[str] | None]:
    """The TLD's status values, each with its lifecycle, and the field that carries them."""
    statuses = entry.get("statuses", {})
    if not isinstance(statuses, dict):
        raise ValueError('"statuses" is not an object')
    if (named_set := _text(entry, "status_set")) is not None:
        if named_set not in sets:
            raise ValueError(f"status_set {named_set!r} is not in status_sets")
        # The TLD's own words win over the shared set's.
        statuses = {**sets[named_set], **statuses}
    mapped = {normal(value): _lifecycle_named(value, name) for value, name in statuses.items()}
    status_field = _names(entry, "status")
    if mapped and status_field is None:
        raise ValueError('"statuses" without a "status" field')
    if status_field is not None and not mapped:
        raise ValueError('a "status" field needs "statuses"')
    return mapped, status_field


def _lifecycle_named(value: str, name: object) -> Lifecycle:
    try:
        lifecycle = Lifecycle(name) if isinstance(name, str) else None
    except ValueError:
        lifecycle = None
    if lifecycle is None:
        raise ValueError(f"status {value!r} maps to {name!r}, which is not a lifecycle")
    # Re-registration is read from the creation date, never from a status.
    if lifecycle in (Lifecycle.INVALID, Lifecycle.REREGISTERED):
        raise ValueError(f"status {value!r} cannot map to {name!r}")
    return lifecycle


def _created_rules(entry: Mapping[str, object]) -> tuple[frozenset[str] | None, tuple[str, ...]]:
    created = _names(entry, "created")
    formats = tuple(_texts(entry, "created_formats"))
    if bool(created) != bool(formats):
        raise ValueError('"created" and "created_formats" go together')
    return created, formats


def _refusals(entry: Mapping[str, object]) -> tuple[str, ...]:
    refusals = tuple(_texts(entry, "refusals"))
    for pattern in refusals:
        re.compile(pattern)
    return refusals


def _not_found(entry: Mapping[str, object]) -> tuple[str, ...]:
    not_found = tuple(_texts(entry, "not_found"))
    if any(not wording.strip() or wording != wording.strip() for wording in not_found):
        raise ValueError('each "not_found" wording is a whole, trimmed line')
    return not_found


def _text(entry: Mapping[str, object], key: str, *, required: bool = False) -> str | None:
    value = entry.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise ValueError(f"{key!r} must be text")
    return value


def _names(entry: Mapping[str, object], key: str) -> frozenset[str] | None:
    """A field's name, or its names (one text or a list), normalized; None when not given."""
    value = entry.get(key)
    if value is None:
        return None
    names = [value] if isinstance(value, str) else _texts(entry, key)
    if not names or not all(names):
        raise ValueError(f"{key!r} must name a field")
    return frozenset(normal(name) for name in names)


def _flag(entry: Mapping[str, object], key: str) -> bool:
    value = entry.get(key, False)
    if not isinstance(value, bool):
        raise ValueError(f"{key!r} must be true or false")
    return value


def _texts(entry: Mapping[str, object], key: str) -> list[str]:
    value = entry.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"{key!r} must be a list of text")
    return list(value)
