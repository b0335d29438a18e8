"""The strict reader of one WHOIS answer, with its TLD's rules (`whois_rules`).

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

import re
from collections.abc import Sequence
from datetime import UTC, datetime

from lapsewatch.lifecycle import SEVERITY, Lifecycle
from lapsewatch.net.doubt import Doubt
from lapsewatch.providers.whois_rules import WhoisReading, WhoisRefusal, WhoisRules, normal

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
_LEAVING = frozenset({Lifecycle.REDEMPTION, Lifecycle.PENDING_DELETE, Lifecycle.UNREGISTERED})
_FIELD_LINE = re.compile(
    # "Key: value", "Key......: value", "[Key]   value", "a. [Key]   value"
    r"^(?:[a-z]\.\s+)?"
    r"(?:\[(?P<bracketed>[^\]]{1,60})\]\s*(?P<bvalue>.*)|(?P<key>[^:\[\]]{1,60}?)[ .]*:(?P<value>.*))$"
)

type Record = list[tuple[str, str]]


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
    _check_query_field(fields, names, domain, rules)
    record = _record(lines, fields, rules.domain_field, whole_answer=rules.whole_answer)
    not_found = [line.strip() for line in lines if _says_not_found(line.strip(), domain, rules)]
    if record is None:
        return _without_record(text, lines, not_found, domain, rules)
    if not_found:
        raise Doubt(f"the answer both has a record of {domain} and says {_quote(not_found[0])}")
    named = {_first_word(value) for key, value in record if key in rules.domain_field}
    if not named <= names:
        other = sorted(named - names)[0]
        raise Doubt(f"the answer is about {_quote(other)}, not {domain}")
    _check_referral(record, rules)
    lifecycle, statuses = _lifecycle(record, rules, domain)
    return WhoisReading(lifecycle, statuses, _created(record, rules))


def _check_query_field(
    fields: Sequence[tuple[str, str] | None], names: set[str], domain: str, rules: WhoisRules
) -> None:
    """An echo of the query ("query : google.kr") must name the name asked."""
    if rules.query_field is None:
        return
    for parsed in fields:
        if parsed and parsed[0] in rules.query_field and _first_word(parsed[1]) not in names:
            raise Doubt(f"the answer is about {_quote(parsed[1])}, not {domain}")


def _without_record(
    text: str, lines: Sequence[str], not_found: Sequence[str], domain: str, rules: WhoisRules
) -> WhoisReading:
    """An answer with no record: the registry's "no match", else a refusal or doubt."""
    if not_found:
        return WhoisReading(Lifecycle.UNREGISTERED, statuses=(not_found[0],))
    # Only an answer with no signal is read for a refusal: banners warn against "excessive
    # querying" in the very answers that carry a record.
    patterns = (*COMMON_REFUSALS, *rules.refusals)
    for line in lines:
        if any(re.search(pattern, line) for pattern in patterns):
            raise WhoisRefusal(f"the server refused the query: {_quote(line.strip())}")
    if not text.strip():
        raise Doubt("the answer is empty")
    raise Doubt(f'the answer has no record of {domain} and no "no match" line the table knows')


def _check_referral(record: Record, rules: WhoisRules) -> None:
    """A thick answer names the registrar's server beside its statuses; an answer with nothing to
    read but a name and a server to ask instead is a referral."""
    if rules.status_field is not None:
        return
    for key, value in record:
        if key in REFERRAL_KEYS and _is_host(value) and _first_word(value) != rules.server.lower():
            raise Doubt(f"the answer refers to another server ({_quote(value)})")


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
    return normal(key), value.strip()


def _record(
    lines: Sequence[str],
    fields: Sequence[tuple[str, str] | None],
    domain_field: frozenset[str],
    *,
    whole_answer: bool,
) -> Record | None:
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
        if "{domain}" not in wording:
            if line == wording:
                return True
            continue
        before, _, after = wording.partition("{domain}")
        if (
            line.startswith(before)
            and line.endswith(after)
            and line[len(before) : len(line) - len(after)].lower() == domain.lower()
        ):
            return True
    return False


def _lifecycle(record: Record, rules: WhoisRules, domain: str) -> tuple[Lifecycle, tuple[str, ...]]:
    if rules.status_field is None:
        return Lifecycle.ACTIVE, ()
    values = [value for key, value in record if key in rules.status_field]
    if not values and rules.status_optional:
        return Lifecycle.ACTIVE, ()
    if not values:
        raise Doubt(f"the record of {domain} has no {' or '.join(sorted(rules.status_field))!r} line")
    mapped = [
        (status, _mapped(status, rules, domain)) for value in values for status in _statuses(value, rules)
    ]
    statuses = tuple(status for status, _ in mapped)
    found = {lifecycle for _, lifecycle in mapped}
    if Lifecycle.UNREGISTERED in found and len(found) > 1:
        raise Doubt(f"the statuses of {domain} contradict each other: {', '.join(statuses)}")
    if found & _LEAVING and any(normal(status) in _GOOD_STANDING for status in statuses):
        raise Doubt(f"the statuses of {domain} contradict each other: {', '.join(statuses)}")
    if Lifecycle.REDEMPTION in found:
        # EPP puts a name in redemption as pendingDelete with redemptionPeriod: still restorable.
        found.discard(Lifecycle.PENDING_DELETE)
    return max(found, key=SEVERITY.__getitem__), statuses


def _mapped(status: str, rules: WhoisRules, domain: str) -> Lifecycle:
    """One status value's lifecycle by the TLD's table; raises Doubt for one it does not map."""
    lifecycle = rules.statuses.get(normal(status))
    if lifecycle is None:
        raise Doubt(f"the status {_quote(status)} is not one the table maps for .{rules.tld}")
    if lifecycle is Lifecycle.UNKNOWN:
        raise Doubt(f"the registry calls {domain} {_quote(status)}, which says nothing of its lifecycle")
    return lifecycle


def _statuses(value: str, rules: WhoisRules) -> list[str]:
    # An EPP status is often followed by the URL that explains it.
    def clean(part: str) -> str:
        part = re.sub(r"\s+\(?https?://\S+\)?$", "", part.strip())
        return re.sub(rules.status_strip, "", part).strip() if rules.status_strip else part

    value = clean(value)
    if normal(value) in rules.statuses or not rules.status_separator:
        return [value]
    return [part for part in map(clean, value.split(rules.status_separator)) if part]


def _created(record: Record, rules: WhoisRules) -> datetime | None:
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


def _quote(text: str, limit: int = 120) -> str:
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    return repr(text if len(text) <= limit else text[:limit] + "…")
