"""How to read one TLD's WHOIS answers (the bundled table `data/whois.json`), and the reader.

WHOIS (port 43, RFC 3912) has no format: each registry writes its own text. A general parser
guesses; this reader does not. For each TLD the table names the few signals it may read, in the
registry's exact words, and everything else is doubt:

- the registry's own "no match" answer (`not_found`: whole lines, `{domain}` standing for the
  name asked), read only when the answer has no record for the name;
- the record of the name asked: the block of lines (up to a blank line) that starts where the
  `domain` field names it. A record about another name is doubt;
- in that record, the `status` fields, each value mapped onto a lifecycle by the TLD's own policy
  (`statuses`). A value the table does not map is doubt; a TLD whose answers carry no status
  (`status: null`) shows only that a name is registered (`active`);
- in that record, the `created` field, read with the TLD's date formats, for `reregistered`.

Refusals (rate limits, blocked clients, "query refused") are doubt, and say so
(`WhoisRefusal`), so that the provider backs off that server.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

from lapsewatch.lifecycle import DEFAULT_UNSAFE, SEVERITY, Lifecycle
from lapsewatch.net.doubt import Doubt

DEFAULT_PORT = 43
# Queries a second to one server, and how many may go at once, unless the table says otherwise.
# Registries ban clients that ask too fast, and publish few limits: one a second is safe for most.
DEFAULT_RATE = 1.0
DEFAULT_BURST = 2
# Lines that are a refusal in every registry's words we know; each TLD may add its own.
COMMON_REFUSALS = (
    r"(?i)\b(rate limit|too many (requests|queries|connections)|quer(y|ies) (limit|rate)|"
    r"excessive querying|maximum quer|limit exceeded|exceeded (the|your) |try again later|"
    r"access denied|ip address blocked|request denied|query refused|temporarily (unavailable|blocked))",
)
# Keys that hand the question on to another server: the answer is not the registry's own word.
REFERRAL_KEYS = frozenset({"refer", "referralserver", "whois server", "registrar whois server"})
# Statuses that say a name is in good standing: beside one saying it is leaving, neither is true.
_GOOD_STANDING = frozenset({"ok", "active", "registered", "not available", "ok (paid and in zone)"})
_LIFECYCLES_SEEN = ("redemption", "pending_delete", "unregistered", "reregistered")
_FIELD_LINE = re.compile(
    # "Key: value", "Key......: value", "[Key]   value", "a. [Key]   value"
    r"^(?:[a-z]\.\s+)?"
    r"(?:\[(?P<bracketed>[^\]]{1,60})\]\s*(?P<bvalue>.*)|(?P<key>[^:\[\]]{1,60}?)[ .]*:(?P<value>.*))$"
)


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


# Reading ------------------------------------------------------------------------------------


def decode(body: bytes, rules: WhoisRules) -> str:
    """The answer as text, in the first of the TLD's encodings it decodes strictly in; raises Doubt."""
    for encoding in rules.encodings:
        try:
            text = body.decode(encoding, errors="strict")
        except (UnicodeDecodeError, LookupError):
            continue
        if "\x00" in text or "\x1b" in text:
            continue  # an escape left in is a stateful encoding read as another
        return text
    raise Doubt(f"the answer does not decode as {' or '.join(rules.encodings)}")


def read_answer(
    text: str, domain: str, rules: WhoisRules, *, unicode_name: str | None = None
) -> WhoisReading:
    """Read a decoded answer about the A-label `domain`; raises WhoisRefusal or Doubt."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    names = {domain.lower(), (unicode_name or domain).lower()}
    fields = [_field(line, indented=rules.indented) for line in lines]
    if rules.query_field is not None:
        for parsed in fields:
            if parsed and parsed[0] in rules.query_field and _first_word(parsed[1]) not in names:
                raise Doubt(f"the answer is about {_quote(parsed[1])}, not {domain}")
    record = _record(lines, fields, rules.domain_field, whole_answer=rules.whole_answer)
    not_found = [line.strip() for line in lines if _says_not_found(line.strip(), domain, rules)]
    if record is None:
        if not_found:
            return WhoisReading(Lifecycle.UNREGISTERED, statuses=(not_found[0],))
        # Only an answer with no signal is read for a refusal: banners warn against "excessive
        # querying" in the very answers that carry a record.
        for line in lines:
            for pattern in (*COMMON_REFUSALS, *rules.refusals):
                if re.search(pattern, line):
                    raise WhoisRefusal(f"the server refused the query: {_quote(line.strip())}")
        if not text.strip():
            raise Doubt("the answer is empty")
        raise Doubt(f'the answer has no record of {domain} and no "no match" line the table knows')
    if not_found:
        raise Doubt(f"the answer both has a record of {domain} and says {_quote(not_found[0])}")
    named = {_first_word(value) for key, value in record if key in rules.domain_field}
    if not named <= names:
        other = sorted(named - names)[0]
        raise Doubt(f"the answer is about {_quote(other)}, not {domain}")
    # A thick answer names the registrar's server beside its statuses; an answer with nothing to
    # read but a name and a server to ask instead is a referral.
    if rules.status_field is None:
        for key, value in record:
            if key in REFERRAL_KEYS and _is_host(value) and _first_word(value) != rules.server.lower():
                raise Doubt(f"the answer refers to another server ({_quote(value)})")
    lifecycle, statuses = _lifecycle(record, rules, domain)
    return WhoisReading(lifecycle, statuses, _created(record, rules))


def _field(line: str, *, indented: bool = False) -> tuple[str, str] | None:
    """A "key: value" line as (normalized key, value); None for any other line: comments, and
    indented lines (a contact's fields under its heading) unless the TLD indents its record."""
    if not line.strip() or line.lstrip()[0] in "%#>" or (line[0] in " \t" and not indented):
        return None
    match = _FIELD_LINE.match(line.strip())
    if match is None:
        return None
    key = match.group("bracketed") if match.group("bracketed") is not None else match.group("key")
    value = match.group("bvalue") if match.group("bracketed") is not None else match.group("value")
    return _normal(key), value.strip()


def _record(
    lines: Sequence[str],
    fields: Sequence[tuple[str, str] | None],
    domain_field: frozenset[str],
    *,
    whole_answer: bool,
) -> list[tuple[str, str]] | None:
    """The fields of the block of lines (between blank lines) holding the first line that names
    the domain, or of the whole answer; None when no line names a domain."""
    at = next(
        (i for i, parsed in enumerate(fields) if parsed and parsed[0] in domain_field and parsed[1]), None
    )
    if at is None:
        return None
    start, end = 0, len(lines)
    if not whole_answer:
        start = next((i + 1 for i in range(at - 1, -1, -1) if not lines[i].strip()), 0)
        end = next((i for i in range(at, len(lines)) if not lines[i].strip()), len(lines))
    return [parsed for parsed in fields[start:end] if parsed]


def _says_not_found(line: str, domain: str, rules: WhoisRules) -> bool:
    for wording in rules.not_found:
        if "{domain}" in wording:
            before, _, after = wording.partition("{domain}")
            if (
                line.startswith(before)
                and line.endswith(after)
                and line[len(before) : len(line) - len(after)].lower() == domain.lower()
            ):
                return True
        elif line == wording:
            return True
    return False


def _lifecycle(
    record: Sequence[tuple[str, str]], rules: WhoisRules, domain: str
) -> tuple[Lifecycle, tuple[str, ...]]:
    if rules.status_field is None:
        return Lifecycle.ACTIVE, ()
    values = [value for key, value in record if key in rules.status_field]
    if not values and rules.status_optional:
        return Lifecycle.ACTIVE, ()
    if not values:
        raise Doubt(f"the record of {domain} has no {' or '.join(sorted(rules.status_field))!r} line")
    statuses: list[str] = []
    found: set[Lifecycle] = set()
    for value in values:
        for status in _statuses(value, rules):
            lifecycle = rules.statuses.get(_normal(status))
            if lifecycle is None:
                raise Doubt(f"the status {_quote(status)} is not one the table maps for .{rules.tld}")
            if lifecycle is Lifecycle.UNKNOWN:
                raise Doubt(
                    f"the registry calls {domain} {_quote(status)}, which says nothing of its lifecycle"
                )
            statuses.append(status)
            found.add(lifecycle)
    if Lifecycle.UNREGISTERED in found and len(found) > 1:
        raise Doubt(f"the statuses of {domain} contradict each other: {', '.join(statuses)}")
    leaving = found & {Lifecycle.REDEMPTION, Lifecycle.PENDING_DELETE, Lifecycle.UNREGISTERED}
    if leaving and any(_normal(status) in _GOOD_STANDING for status in statuses):
        raise Doubt(f"the statuses of {domain} contradict each other: {', '.join(statuses)}")
    if Lifecycle.REDEMPTION in found:
        # EPP puts a name in redemption as pendingDelete with redemptionPeriod: still restorable.
        found.discard(Lifecycle.PENDING_DELETE)
    return max(found, key=SEVERITY.__getitem__), tuple(statuses)


def _statuses(value: str, rules: WhoisRules) -> list[str]:
    # An EPP status is often followed by the URL that explains it.
    def clean(part: str) -> str:
        part = re.sub(r"\s+\(?https?://\S+\)?$", "", part.strip())
        return re.sub(rules.status_strip, "", part).strip() if rules.status_strip else part

    value = clean(value)
    if _normal(value) in rules.statuses or not rules.status_separator:
        return [value]
    return [part for part in map(clean, value.split(rules.status_separator)) if part]


def _created(record: Sequence[tuple[str, str]], rules: WhoisRules) -> datetime | None:
    if rules.created_field is None:
        return None
    values = {value for key, value in record if key in rules.created_field and value}
    if not values:
        return None
    if len(values) > 1:
        raise Doubt(f"the record has several creation dates: {', '.join(sorted(values))}")
    return parse_date(values.pop(), rules)


def parse_date(value: str, rules: WhoisRules) -> datetime:
    """A date in one of the TLD's formats (UTC unless it says otherwise); raises Doubt."""
    for form in rules.created_formats:
        try:
            parsed = datetime.strptime(value, form)
        except ValueError:
            continue
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    raise Doubt(f"the creation date {_quote(value)} is not in a format the table knows")


def _is_host(value: str) -> bool:
    """Whether a field's value names a server (some registries write their own name there)."""
    return re.fullmatch(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+\.?", value) is not None


def _first_word(value: str) -> str:
    words = value.split()
    return words[0].lower().removesuffix(".") if words else ""


def _normal(text: str) -> str:
    return " ".join(text.lower().split())


def _quote(text: str, limit: int = 120) -> str:
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    return repr(text if len(text) <= limit else text[:limit] + "…")


# The table -------------------------------------------------------------------------------------

BUNDLED = "whois.json"
_KEYS = frozenset(
    {
        "server", "port", "query", "encodings", "rate", "burst", "not_found", "domain", "status",
        "status_separator", "status_strip", "statuses", "created", "created_formats", "query_field",
        "indented", "refusals", "policy", "note", "status_set", "status_optional", "whole_answer",
    }
)  # fmt: skip


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


def _rules(tld: str, entry: object, sets: Mapping[str, Mapping[str, object]]) -> WhoisRules:
    if not isinstance(entry, dict):
        raise ValueError("its entry is not an object")
    if unknown := set(entry) - _KEYS:
        raise ValueError(f"unknown keys {', '.join(sorted(unknown))}")
    server = _text(entry, "server", required=True)
    if not re.fullmatch(r"[A-Za-z0-9.-]{1,253}|\d{1,3}(\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]", server or ""):
        raise ValueError(f"server {server!r} is not a host name")
    port = entry.get("port", DEFAULT_PORT)
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise ValueError(f"port {port!r} is not a port")
    query = _text(entry, "query") or "{domain}"
    if "{domain}" not in query or not query.isascii() or any(c in query for c in "\r\n"):
        raise ValueError('"query" must be one ASCII line holding {domain}')
    encodings = tuple(_texts(entry, "encodings") or ("utf-8",))
    for encoding in encodings:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise ValueError(f"unknown encoding {encoding!r}") from None
    rate = entry.get("rate", DEFAULT_RATE)
    burst = entry.get("burst", DEFAULT_BURST)
    if not isinstance(rate, int | float) or isinstance(rate, bool) or not rate > 0:
        raise ValueError(f"rate {rate!r} is not a number of queries a second above 0")
    if not isinstance(burst, int) or isinstance(burst, bool) or burst < 1:
        raise ValueError(f"burst {burst!r} is not a count of 1 or more")
    statuses = entry.get("statuses", {})
    if not isinstance(statuses, dict):
        raise ValueError('"statuses" is not an object')
    if (named_set := _text(entry, "status_set")) is not None:
        if named_set not in sets:
            raise ValueError(f"status_set {named_set!r} is not in status_sets")
        # The TLD's own words win over the shared set's.
        statuses = {**sets[named_set], **statuses}
    mapped = {}
    for value, name in statuses.items():
        if not isinstance(name, str):
            raise ValueError(f"status {value!r} maps to {name!r}, which is not a lifecycle")
        try:
            lifecycle = Lifecycle(name)
        except ValueError:
            raise ValueError(f"status {value!r} maps to {name!r}, which is not a lifecycle") from None
        if lifecycle in (Lifecycle.INVALID, Lifecycle.REREGISTERED):
            raise ValueError(f"status {value!r} cannot map to {name!r}")
        mapped[_normal(value)] = lifecycle
    status_field = _names(entry, "status")
    if mapped and status_field is None:
        raise ValueError('"statuses" without a "status" field')
    if status_field is not None and not mapped:
        raise ValueError('a "status" field needs "statuses"')
    created = _names(entry, "created")
    formats = tuple(_texts(entry, "created_formats"))
    if bool(created) != bool(formats):
        raise ValueError('"created" and "created_formats" go together')
    refusals = tuple(_texts(entry, "refusals"))
    for pattern in refusals:
        re.compile(pattern)
    not_found = tuple(_texts(entry, "not_found"))
    if any(not wording.strip() or wording != wording.strip() for wording in not_found):
        raise ValueError('each "not_found" wording is a whole, trimmed line')
    rules = WhoisRules(
        tld=tld,
        server=server or "",
        port=port,
        query=query,
        encodings=encodings,
        rate=float(rate),
        burst=burst,
        not_found=not_found,
        domain_field=_names(entry, "domain") or frozenset({"domain"}),
        status_field=status_field,
        status_separator=_text(entry, "status_separator"),
        status_optional=_flag(entry, "status_optional"),
        statuses=mapped,
        status_strip=_text(entry, "status_strip"),
        created_field=created,
        created_formats=formats,
        query_field=_names(entry, "query_field"),
        indented=_flag(entry, "indented"),
        whole_answer=_flag(entry, "whole_answer"),
        refusals=refusals,
        policy=_text(entry, "policy"),
    )
    if not set(rules.sees) & {str(lifecycle) for lifecycle in DEFAULT_UNSAFE}:
        raise ValueError("its rules can show no unsafe lifecycle: serve it only with a signal to read")
    return rules


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
    return frozenset(_normal(name) for name in names)


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
