"""The registry's answers, read against the contract strictly: an answer of the wrong shape is an
error, never a guess. One exception: an item whose `oldest_verified_at` cannot be read keeps its
domain (with no date), because dropping the domain would hide it from the checks."""

from __future__ import annotations

import json
import logging
from typing import TypeGuard

from lapsewatch.registry.errors import MalformedAnswer
from lapsewatch.registry.models import EmailDomain, NoticeResult, Page, UnverifyResult
from lapsewatch.timefmt import parse_time_or_none

log = logging.getLogger(__name__)


def whole_number(value: object, *, minimum: int = 0) -> TypeGuard[int]:
    """Whether a JSON value is a whole number of at least `minimum` (true and false are not)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def error_message(content: bytes) -> str:
    try:
        error = json.loads(content)["error"]
    except (ValueError, TypeError, KeyError, IndexError, RecursionError):
        error = None
    if isinstance(error, str):
        return error[:500]
    text = content[:200].decode("utf-8", "replace").strip()
    return text or "no error message"


def parse_page(body: object, limit: int) -> Page:
    what = "GET /v1/email-domains"
    if not isinstance(body, dict):
        raise MalformedAnswer(what, "the body is not an object")
    items = body.get("items")
    if not isinstance(items, list):
        raise MalformedAnswer(what, "items is not a list")
    if len(items) > limit:
        raise MalformedAnswer(what, f"{len(items)} items, more than the limit of {limit} asked for")
    if "next_cursor" not in body:
        raise MalformedAnswer(what, "next_cursor is missing")
    next_cursor = body["next_cursor"]
    if next_cursor is not None and (not isinstance(next_cursor, str) or not next_cursor):
        raise MalformedAnswer(what, "next_cursor is neither a non-empty string nor null")
    domains = [_email_domain(index, item, what) for index, item in enumerate(items)]
    if undated := sum(domain.oldest_verified_at is None for domain in domains):
        # Kept, not dropped: a domain left out of the listing would never be checked.
        log.warning("%s: %d of %d items had no readable oldest_verified_at", what, undated, len(items))
    return Page(domains, next_cursor)


def _email_domain(index: int, item: object, what: str) -> EmailDomain:
    if not isinstance(item, dict):
        raise MalformedAnswer(what, f"item {index} is not an object")
    domain = item.get("domain")
    count = item.get("verified_emails")
    if not isinstance(domain, str):
        raise MalformedAnswer(what, f"item {index}: domain is not a string")
    if not whole_number(count, minimum=1):
        raise MalformedAnswer(what, f"item {index}: verified_emails is not a whole number of at least 1")
    return EmailDomain(domain, int(count), parse_time_or_none(item.get("oldest_verified_at")))


def _call_result(body: object, what: str, count: str) -> tuple[int, bool]:
    """The (count, replayed) of an unverify or notify answer: `count` names the count's field."""
    if not isinstance(body, dict):
        raise MalformedAnswer(what, "the body is not an object")
    number, replayed = body.get(count), body.get("replayed")
    if not isinstance(replayed, bool):
        raise MalformedAnswer(what, "replayed is not true or false")
    if whole_number(number):
        return number, replayed
    raise MalformedAnswer(what, f"{count} is not a whole number")


def parse_unverify_result(body: object) -> UnverifyResult:
    return UnverifyResult(*_call_result(body, "POST /v1/email-domains/unverify", "unverified"))


def parse_notice_result(body: object) -> NoticeResult:
    return NoticeResult(*_call_result(body, "POST /v1/email-domains/notify", "notified"))
