"""JSON as RFC 8259 writes it, and nothing a lenient reader would also take."""

from __future__ import annotations

import json

from lapsewatch.net.doubt import Doubt


class _DuplicateMember(ValueError):
    """A JSON object that names a member twice."""


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    members: dict[str, object] = {}
    for name, value in pairs:
        if name in members:
            raise _DuplicateMember(name)
        members[name] = value
    return members


def _no_constant(name: str) -> object:
    raise _NotJson(f"{name} is not a JSON value")


class _NotJson(ValueError):
    """JSON that Python's reader takes and RFC 8259 does not."""


def read_json(body: bytes) -> object:
    """An answer's JSON (RFC 8259), read strictly, or Doubt.

    Strictly: UTF-8 only, without a byte order mark (RFC 8259 §8.1; Python's reader would guess
    UTF-16 or UTF-32 from the first bytes), no NaN or Infinity, no unpaired surrogate escapes. A
    member named twice is doubt too: parsers disagree on which of the two counts, so whatever a
    reader here takes, the server may have meant the other.
    """
    if body.startswith(b"\xef\xbb\xbf"):
        raise Doubt("the answer is not JSON: it starts with a byte order mark")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Doubt("the answer is not JSON: it is not UTF-8") from None
    try:
        document = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except _DuplicateMember as exc:
        raise Doubt(f"the answer names the member {exc.args[0]!r} twice in one object") from None
    except _NotJson as exc:
        raise Doubt(f"the answer is not JSON: {exc}") from None
    except (ValueError, RecursionError):
        raise Doubt("the answer is not JSON") from None
    if _has_lone_surrogate(document):
        raise Doubt("the answer is not JSON: it escapes half of a UTF-16 surrogate pair")
    return document


def _has_lone_surrogate(value: object) -> bool:
    pending = [value]
    while pending:
        current = pending.pop()
        if isinstance(current, str):
            try:
                current.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(current, dict):
            pending.extend(current.keys())
            pending.extend(current.values())
        elif isinstance(current, list):
            pending.extend(current)
    return False
