"""`lapsewatch registry conformance`: check a registry's own implementation of the v1 contract.

A registry team implements docs/registry-api.yaml in front of its own database; this command
calls their implementation the way lapsewatch will and says, check by check, where it keeps the
contract and where it breaks it. The checks read the contract itself (paths, parameters, status
codes, schemas), so they follow it when it changes.

Read-only by default: authentication, paging to the end at several page sizes, the items'
schema, the `limit` bounds and a bogus cursor. With `--write-domain D` (a domain the operator
owns) it also checks unverify's semantics on D (first call, replay, key reuse, junk bodies), and
notify's when the registry implements it. Every unverify it sends carries a `verified_before`
of 1970, so that no address is old enough to be unverified by it (only a registry that wrongly
accepts a body without `verified_before` would unverify D's addresses); notices do reach the
owners of D's addresses.

The passes at small pages make about one request per domain listed: against a registry of
millions of domains, run it on a staging copy, or expect it to take a while.

The token goes to the given URL only: redirects are never followed, and a redirect fails its check.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import socket
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import requests
import yaml
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase

from lapsewatch.domains import InvalidDomain, registrable_domain, to_ascii
from lapsewatch.net.urls import url_allowed
from lapsewatch.registry.client import DEFAULT_MAX_PAGES
from lapsewatch.registry.retry import RETRY_STATUSES, CappedRetry
from lapsewatch_tools.bundled import bundled
from lapsewatch_tools.errors import UsageError

SPEC_PATH = bundled("registry-api.yaml")
TOKEN_VARIABLE = "LAPSEWATCH_REGISTRY_TOKEN"

LIST_EMAIL_DOMAINS = "listEmailDomains"
UNVERIFY = "unverifyEmailDomain"
NOTIFY = "notifyEmailDomain"

# The full pass at the largest page gets the budget lapsewatch itself pages with; the passes at
# small pages get what the domains of the full pass need, doubled (a page may legitimately hold
# fewer items than its limit, even none), plus a margin.
MAX_LISTING_PAGES = DEFAULT_MAX_PAGES
SMALL_PAGE_LIMITS = (1, 3)
SMALL_PASS_MARGIN = 20
# Nobody's addresses were verified before this, so an unverify sent with it unverifies nothing.
HARMLESS_VERIFIED_BEFORE = "1970-01-01T00:00:00Z"
TIMEOUT = (5.0, 30.0)

_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


class CheckFailed(Exception):
    """The registry broke the contract; the message says how, in a few words."""


# --- The contract -------------------------------------------------------------------------------

# The JSON Schema keywords the validator below checks, and those it may ignore (annotations).
# tests/integration/test_conformance.py checks that the contract uses no other, so that a new
# keyword in the spec is noticed rather than silently skipped.
VALIDATED_KEYWORDS = frozenset(
    {
        "$ref",
        "oneOf",
        "type",
        "enum",
        "const",
        "required",
        "properties",
        "additionalProperties",
        "items",
        "maxItems",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "pattern",
        "format",
    }
)
ANNOTATION_KEYWORDS = frozenset({"description", "examples", "example", "default", "title"})

_JSON_TYPES: dict[str, Callable[[object], bool]] = {
    "object": lambda value: isinstance(value, dict),
    "array": lambda value: isinstance(value, list),
    "string": lambda value: isinstance(value, str),
    "integer": lambda value: isinstance(value, int) and not isinstance(value, bool),
    "number": lambda value: isinstance(value, int | float) and not isinstance(value, bool),
    "boolean": lambda value: isinstance(value, bool),
    "null": lambda value: value is None,
}


class Contract:
    """docs/registry-api.yaml, read: its operations, parameters, responses and schemas."""

    def __init__(self, spec: dict) -> None:
        self.spec = spec
        # operationId: (path, operation); the checks name operations, never paths.
        self._operations: dict[str, tuple[str, dict]] = {}
        for path, methods in spec["paths"].items():
            for operation in methods.values():
                self._operations[operation["operationId"]] = (path, operation)

    @classmethod
    def load(cls, path: Path = SPEC_PATH) -> Contract:
        try:
            with open(path, encoding="utf-8") as spec:
                return cls(yaml.safe_load(spec))
        except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
            raise UsageError(f"cannot read the registry API contract {path}: {exc}") from None

    def resolve(self, node: dict) -> dict:
        """The node a `$ref` names (local references only, as the contract uses), or the node."""
        while "$ref" in node:
            target: Any = self.spec
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            node = target
        return node

    def path(self, operation_id: str) -> str:
        return self._operations[operation_id][0]

    def parameter_schema(self, operation_id: str, name: str) -> dict:
        operation = self._operations[operation_id][1]
        for parameter in operation.get("parameters", []):
            parameter = self.resolve(parameter)
            if parameter["name"] == name:
                return self.resolve(parameter["schema"])
        raise KeyError(f"{operation_id} has no parameter {name}")

    def request_schema(self, operation_id: str) -> dict:
        operation = self._operations[operation_id][1]
        body = self.resolve(operation["requestBody"])
        return self.resolve(body["content"]["application/json"]["schema"])

    def response(self, operation_id: str, status: int) -> dict | None:
        responses = self._operations[operation_id][1]["responses"]
        response = responses.get(str(status)) or responses.get(f"{str(status)[0]}XX")
        return None if response is None else self.resolve(response)

    def response_schema(self, operation_id: str, status: int) -> dict | None:
        response = self.response(operation_id, status)
        if response is None or "content" not in response:
            return None
        return self.resolve(response["content"]["application/json"]["schema"])

    def required_headers(self, operation_id: str, status: int) -> list[str]:
        response = self.response(operation_id, status) or {}
        return [name for name, header in response.get("headers", {}).items() if header.get("required")]

    def problems(self, value: object, schema: dict, where: str = "body") -> Iterator[str]:
        """What makes `value` break `schema`, for the subset of JSON Schema the contract uses
        (VALIDATED_KEYWORDS; of the formats, date-time, its only one)."""
        schema = self.resolve(schema)
        if "oneOf" in schema:
            matching = [option for option in schema["oneOf"] if not next(self.problems(value, option), None)]
            if len(matching) != 1:
                yield f"{where}: {_short(value)} matches {len(matching)} of the allowed forms, not one"
            return
        if "type" in schema:
            types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            if not any(_JSON_TYPES[name](value) for name in types):
                yield f"{where}: {_short(value)} is not of type {' or '.join(types)}"
                return
        if "enum" in schema and value not in schema["enum"]:
            yield f"{where}: {_short(value)} is not one of {', '.join(map(str, schema['enum']))}"
        if "const" in schema and value != schema["const"]:
            yield f"{where}: {_short(value)} is not {schema['const']!r}"
        yield from self._kind_problems(value, schema, where)

    def _kind_problems(self, value: object, schema: dict, where: str) -> Iterator[str]:
        """The problems of the keywords for `value`'s kind of JSON value."""
        if isinstance(value, dict):
            yield from self._object_problems(value, schema, where)
        elif isinstance(value, list):
            yield from self._list_problems(value, schema, where)
        elif isinstance(value, str):
            yield from _string_problems(value, schema, where)
        elif _JSON_TYPES["number"](value):
            yield from _number_problems(value, schema, where)

    def _list_problems(self, value: list, schema: dict, where: str) -> Iterator[str]:
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            yield f"{where}: {len(value)} items, more than {schema['maxItems']}"
        if "items" in schema:
            for index, item in enumerate(value):
                yield from self.problems(item, schema["items"], f"{where}[{index}]")

    def _object_problems(self, value: dict, schema: dict, where: str) -> Iterator[str]:
        for name in schema.get("required", []):
            if name not in value:
                yield f"{where}: {name} is missing"
        properties = schema.get("properties", {})
        if schema.get("additionalProperties") is False:
            for name in value:
                if name not in properties:
                    yield f"{where}: {name} is not allowed"
        for name, property_schema in properties.items():
            if name in value:
                yield from self.problems(value[name], property_schema, f"{where}.{name}")


def _string_problems(value: str, schema: dict, where: str) -> Iterator[str]:
    if "minLength" in schema and len(value) < schema["minLength"]:
        yield f"{where}: {_short(value)} is shorter than {schema['minLength']} characters"
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        yield f"{where}: {_short(value)} is longer than {schema['maxLength']} characters"
    if "pattern" in schema and not re.search(schema["pattern"], value):
        yield f"{where}: {_short(value)} does not match the pattern {schema['pattern']}"
    if schema.get("format") == "date-time" and not _is_rfc3339(value):
        yield f"{where}: {_short(value)} is not an RFC 3339 date-time"


def _number_problems(value: object, schema: dict, where: str) -> Iterator[str]:
    number: Any = value
    if "minimum" in schema and number < schema["minimum"]:
        yield f"{where}: {number} is less than the minimum {schema['minimum']}"
    if "maximum" in schema and number > schema["maximum"]:
        yield f"{where}: {number} is more than the maximum {schema['maximum']}"


def _is_rfc3339(text: str) -> bool:
    if not _RFC3339.fullmatch(text):
        return False
    try:
        datetime.fromisoformat(text.upper())
    except ValueError:  # a well-formed but impossible date, such as February 30
        return False
    return True


def _short(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


# --- Talking to the registry --------------------------------------------------------------------


class _Authorization(AuthBase):
    """Sets the Authorization header to exactly `value`, or sends none when it is None.

    Always passed as the request's auth, so that requests never adds credentials of its own
    from ~/.netrc: "without a token" must mean without one.
    """

    def __init__(self, value: str | None) -> None:
        self._value = value

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers.pop("Authorization", None)
        if self._value is not None:
            request.headers["Authorization"] = self._value
        return request

    def __repr__(self) -> str:
        return "_Authorization(<redacted>)"


# Which credentials a call carries.
REAL_TOKEN = "real"
NO_TOKEN = "none"
WRONG_TOKEN = "wrong"


class RegistryHttp:
    """Calls to one registry: never a redirect followed, the token redacted from every message."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        wrong = token
        while wrong == token:
            wrong = "lapsewatch-conformance-" + secrets.token_urlsafe(18)
        self._headers = {REAL_TOKEN: f"Bearer {token}", WRONG_TOKEN: f"Bearer {wrong}", NO_TOKEN: None}
        self._session = requests.Session()
        # A registry may rate-limit the many small pages: listings honour 429 and Retry-After as
        # lapsewatch does. POSTs are never retried here, so that each check sees its own answer,
        # and an unreachable host is reported at once rather than after a backoff.
        retry = CappedRetry(
            total=4,
            connect=0,
            read=0,
            backoff_factor=0.5,
            status_forcelist=RETRY_STATUSES,
            allowed_methods=frozenset({"GET"}),
            respect_retry_after_header=True,
            retry_after_cap=30.0,
            raise_on_status=False,
        )
        self._session.mount(self.base_url + "/", HTTPAdapter(max_retries=retry))

    def close(self) -> None:
        self._session.close()

    def redact(self, text: str) -> str:
        return text.replace(self._token, "<token>")

    def get(
        self, path: str, params: dict[str, Any] | None = None, token: str = REAL_TOKEN
    ) -> requests.Response:
        return self._request("GET", path, params=params, token=token)

    def post(
        self, path: str, body: bytes, idempotency_key: str | None, token: str = REAL_TOKEN
    ) -> requests.Response:
        headers = {"Content-Type": "application/json"}
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        return self._request("POST", path, data=body, headers=headers, token=token)

    def _request(self, method: str, path: str, *, token: str, **kwargs: Any) -> requests.Response:
        return self._session.request(
            method,
            self.base_url + path,
            auth=_Authorization(self._headers[token]),
            timeout=TIMEOUT,
            allow_redirects=False,
            **kwargs,
        )


def _no_answer(exc: requests.RequestException) -> str:
    """Why a request got no answer, in plain words."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, socket.gaierror):
            return "the host name does not resolve"
        cause = cause.__cause__ or cause.__context__
    if isinstance(exc, requests.Timeout):
        return "no answer in time"
    if isinstance(exc, requests.exceptions.SSLError):
        return "the TLS handshake failed"
    return f"no answer ({type(exc).__name__})"


# --- The checks ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CheckResult:
    check: str
    passed: bool
    detail: str = ""


@dataclass
class Listing:
    """One pass through the listing at one page size, as far as it got."""

    limit: int
    pages: list[list[str]] = field(default_factory=list)  # the domains on each page, in order
    schema_problem: str | None = None  # the first page that broke the schema, and how
    problem: str | None = None  # why the pass did not end properly

    @property
    def domains(self) -> set[str]:
        return {domain for page in self.pages for domain in page}


class Conformance:
    """The checks against one registry, reported one by one as they finish."""

    def __init__(
        self,
        registry: RegistryHttp,
        contract: Contract,
        report: Callable[[CheckResult], None],
        write_domain: str | None = None,
    ) -> None:
        self.registry = registry
        self.contract = contract
        self.report = report
        self.write_domain = write_domain
        # Each run's Idempotency-Keys are new, so that a second run's first call is not a replay.
        self.run_id = secrets.token_hex(8)
        self.results: list[CheckResult] = []

    def check(self, name: str, run: Callable[[], str | None]) -> bool:
        """Run one check: passed unless it raises CheckFailed or gets no answer. `run` may return
        a note, shown beside a pass."""
        try:
            note = run() or ""
            result = CheckResult(name, True, note)
        except CheckFailed as exc:
            result = CheckResult(name, False, str(exc))
        except requests.RequestException as exc:
            result = CheckResult(name, False, _no_answer(exc))
        result = CheckResult(result.check, result.passed, self.registry.redact(result.detail))
        self.results.append(result)
        self.report(result)
        return result.passed

    def run(self) -> list[CheckResult]:
        self.check_auth()
        self.check_listing()
        self.check_limits()
        if self.write_domain is not None:
            self.check_unverify(self.write_domain)
            self.check_notify(self.write_domain)
        return self.results

    # An answer, checked against the contract.

    def expect(self, answer: requests.Response, operation_id: str, status: int) -> Any:
        """The answer's JSON body when it has `status` and matches what the contract says of
        that status (schema, required headers); CheckFailed otherwise."""
        if 300 <= answer.status_code < 400:
            location = answer.headers.get("Location", "nowhere")
            raise CheckFailed(f"{answer.status_code}, a redirect to {location} (not followed)")
        if answer.status_code != status:
            raise CheckFailed(f"{answer.status_code} instead of {status}{_said(answer)}")
        for header in self.contract.required_headers(operation_id, status):
            if header not in answer.headers:
                raise CheckFailed(f"{status} as expected, but without the {header} header")
        try:
            body = answer.json()
        except ValueError:
            raise CheckFailed(f"{status} as expected, but the body is not JSON") from None
        schema = self.contract.response_schema(operation_id, status)
        if schema is not None and (problem := next(self.contract.problems(body, schema), None)):
            raise CheckFailed(f"{status} as expected, but {problem}")
        return body

    def answers(
        self, status: int, operation_id: str, send: Callable[[], requests.Response]
    ) -> Callable[[], None]:
        """A check that `send` gets `status`, as the contract describes that answer."""

        def run() -> None:
            self.expect(send(), operation_id, status)

        return run

    # Authentication.

    def check_auth(self) -> None:
        path = self.contract.path(LIST_EMAIL_DOMAINS)
        for token, name in ((NO_TOKEN, "without a token"), (WRONG_TOKEN, "with a wrong token")):
            send = partial(self.registry.get, path, {"limit": 1}, token=token)
            self.check(f"auth: 401 {name}", self.answers(401, LIST_EMAIL_DOMAINS, send))

    # Paging.

    def check_listing(self) -> None:
        limit_schema = self.contract.parameter_schema(LIST_EMAIL_DOMAINS, "limit")
        largest = limit_schema["maximum"]
        full = self.page_through(largest, MAX_LISTING_PAGES)
        self.check(f"paging: limit={largest} pages to the end", lambda: _ended(full))
        expected_domains = len(full.domains)
        small = [
            self.page_through(limit, 2 * math.ceil(expected_domains / limit) + SMALL_PASS_MARGIN)
            for limit in SMALL_PAGE_LIMITS
        ]
        for listing in small:
            self.check(f"paging: limit={listing.limit} pages to the end", partial(_ended, listing))
        passes = [full, *small]
        self.check("paging: no domain on two pages", lambda: _no_repeats(passes))
        self.check("paging: the same domains at every page size", lambda: _same_domains(full, small))
        self.check("schema: every page and item as EmailDomainPage says", lambda: _schema_kept(passes))

    def page_through(self, limit: int, max_pages: int) -> Listing:
        """Follow the cursors from the start at `limit` until the listing ends, a cursor comes
        back a second time, or `max_pages` pages have a next cursor."""
        listing = Listing(limit)
        path = self.contract.path(LIST_EMAIL_DOMAINS)
        page_schema = self.contract.response_schema(LIST_EMAIL_DOMAINS, 200) or {}
        cursor: str | None = None
        cursors_seen: set[str] = set()
        while True:
            number = len(listing.pages) + 1
            params: dict[str, Any] = (
                {"limit": limit} if cursor is None else {"limit": limit, "cursor": cursor}
            )
            body, failure = self._page_body(path, params, number)
            if failure is not None:
                listing.problem = failure
                return listing
            problem = next(self.contract.problems(body, page_schema), None)
            if problem is not None and listing.schema_problem is None:
                listing.schema_problem = f"page {number} at limit={limit}: {problem}"
            items = body.get("items") if isinstance(body, dict) else None
            next_cursor = body.get("next_cursor") if isinstance(body, dict) else None
            if not isinstance(items, list) or not (next_cursor is None or isinstance(next_cursor, str)):
                listing.problem = f"page {number}: no items list or next_cursor to page on"
                return listing
            listing.pages.append(
                [
                    item["domain"]
                    for item in items
                    if isinstance(item, dict) and isinstance(item.get("domain"), str)
                ]
            )
            if len(items) > limit:
                listing.problem = f"page {number} holds {len(items)} items, more than the limit of {limit}"
                return listing
            if next_cursor is None:
                return listing
            if next_cursor in cursors_seen:
                listing.problem = f"page {number} hands out a cursor handed out before: the listing loops"
                return listing
            if number >= max_pages:
                listing.problem = (
                    f"the listing has not ended after {max_pages} pages: stopped, not paging forever"
                )
                return listing
            cursors_seen.add(next_cursor)
            cursor = next_cursor

    def _page_body(self, path: str, params: dict[str, Any], number: int) -> tuple[object, str | None]:
        """Page `number`'s JSON body, or why there is none."""
        try:
            answer = self.registry.get(path, params)
        except requests.RequestException as exc:
            return None, f"page {number}: {_no_answer(exc)}"
        if answer.status_code != 200:
            return None, f"page {number}: {answer.status_code} instead of 200{_said(answer)}"
        try:
            return answer.json(), None
        except ValueError:
            return None, f"page {number}: the body is not JSON"

    # The limit and cursor parameters.

    def check_limits(self) -> None:
        path = self.contract.path(LIST_EMAIL_DOMAINS)
        limit_schema = self.contract.parameter_schema(LIST_EMAIL_DOMAINS, "limit")
        refused = (
            (limit_schema["minimum"] - 1, "below the minimum"),
            (limit_schema["maximum"] + 1, "above the maximum"),
            ("ten", "not a number"),
        )
        for value, why in refused:
            send = partial(self.registry.get, path, {"limit": value})
            self.check(
                f"limit: {value} ({why}) refused with 400", self.answers(400, LIST_EMAIL_DOMAINS, send)
            )
        default = limit_schema["default"]

        def default_limit() -> str:
            page = self.expect(self.registry.get(path), LIST_EMAIL_DOMAINS, 200)
            if len(page["items"]) > default:
                raise CheckFailed(f"{len(page['items'])} items, more than the default limit of {default}")
            return f"{len(page['items'])} items"

        self.check(f"limit: none given pages at most {default} (the default)", default_limit)
        send = partial(self.registry.get, path, {"limit": 1, "cursor": "not-a-cursor-this-registry-gave"})
        self.check("cursor: a bogus cursor refused with 400", self.answers(400, LIST_EMAIL_DOMAINS, send))

    # Unverify (--write-domain only).

    def check_unverify(self, domain: str) -> None:
        path = self.contract.path(UNVERIFY)
        body = {
            "domain": domain,
            "include_subdomains": True,
            "verified_before": HARMLESS_VERIFIED_BEFORE,
            "reason": "redemption",
            "evidence": {"checked_by": "lapsewatch registry conformance", "run": self.run_id},
        }
        schema = self.contract.request_schema(UNVERIFY)
        _check_own_body(self.contract, body, schema)
        reasons = self.contract.resolve(schema["properties"]["reason"])["enum"]
        other_body = {**body, "reason": next(reason for reason in reasons if reason != body["reason"])}
        self._check_idempotent_call("unverify", UNVERIFY, path, body, other_body, count="unverified")
        self._check_junk_refused("unverify", UNVERIFY, path, body, schema)

    def check_notify(self, domain: str) -> None:
        path = self.contract.path(NOTIFY)
        body = {
            "domain": domain,
            "stage": "grace",
            "expires_at": None,
            "include_subdomains": True,
            "evidence": {"checked_by": "lapsewatch registry conformance", "run": self.run_id},
        }
        schema = self.contract.request_schema(NOTIFY)
        _check_own_body(self.contract, body, schema)
        other_body = {**body, "stage": "hold"}
        if self._check_idempotent_call("notify", NOTIFY, path, body, other_body, count="notified"):
            self._check_junk_refused("notify", NOTIFY, path, body, schema)

    def _check_idempotent_call(
        self, name: str, operation_id: str, path: str, body: dict, other_body: dict, *, count: str
    ) -> bool:
        """A first call, then its replay, the same key with another body, and no token; False
        when the registry does not implement the (optional) endpoint."""
        key = self._key(f"{name}-first")
        first: dict[str, Any] = {}
        optional = operation_id == NOTIFY

        def first_call() -> str:
            answer = self.registry.post(path, _json_bytes(body), key)
            if optional and answer.status_code == 404:
                first["unsupported"] = True
                return "404: not supported, which the contract allows"
            result = self.expect(answer, operation_id, 200)
            if result["replayed"] is not False:
                raise CheckFailed(f"replayed is {_short(result['replayed'])} on a new Idempotency-Key")
            first.update(result)
            return f"{count} {result[count]}"

        self.check(f"{name}: the first call succeeds", first_call)
        if first.get("unsupported"):
            return False

        def replay() -> None:
            if not first:
                raise CheckFailed("the first call failed: no answer to compare with")
            result = self.expect(self.registry.post(path, _json_bytes(body), key), operation_id, 200)
            if result["replayed"] is not True:
                raise CheckFailed(f"replayed is {_short(result['replayed'])}, not true")
            if result[count] != first[count]:
                raise CheckFailed(f"{count} {result[count]} where the first call answered {first[count]}")

        self.check(f"{name}: the same key and body again replay the first answer", replay)
        reuse = partial(self.registry.post, path, _json_bytes(other_body), key)
        self.check(f"{name}: the same key with another body gets 409", self.answers(409, operation_id, reuse))
        no_token = partial(
            self.registry.post, path, _json_bytes(body), self._key(f"{name}-no-token"), token=NO_TOKEN
        )
        self.check(f"{name}: 401 without a token", self.answers(401, operation_id, no_token))
        return True

    def _check_junk_refused(self, name: str, operation_id: str, path: str, body: dict, schema: dict) -> None:
        def refused(junk: bytes, key: str | None) -> None:
            self.expect(self.registry.post(path, junk, key), operation_id, 400)

        self.check(
            f"{name}: 400 without an Idempotency-Key",
            lambda: refused(_json_bytes(body), None),
        )
        self.check(
            f"{name}: 400 on a body that is not JSON",
            lambda: refused(b"this is not JSON {", self._key(f"{name}-not-json")),
        )

        def each_field_required() -> None:
            for missing in schema["required"]:
                incomplete = {key: value for key, value in body.items() if key != missing}
                try:
                    refused(_json_bytes(incomplete), self._key(f"{name}-without-{missing}"))
                except CheckFailed as exc:
                    raise CheckFailed(f"without {missing}: {exc}") from None

        self.check(f"{name}: 400 on a body missing a field", each_field_required)

        # Never a public suffix such as co.uk here: should the registry wrongly accept it, it
        # would act on everyone under it. Each of these is D itself or a name under D.
        domain = body["domain"]
        bad_domains = (domain.upper(), f"conformance-check.{domain}", f"not a domain.{domain}")

        def bad_domains_refused() -> None:
            for number, bad in enumerate(bad_domains):
                try:
                    refused(_json_bytes({**body, "domain": bad}), self._key(f"{name}-bad-domain-{number}"))
                except CheckFailed as exc:
                    raise CheckFailed(f"domain {bad!r}: {exc}") from None

        self.check(f"{name}: 400 on a domain that is not a lowercase registrable one", bad_domains_refused)

    def _key(self, purpose: str) -> str:
        return f"lapsewatch-conformance-{self.run_id}-{purpose}"


def _check_own_body(contract: Contract, body: dict, schema: dict) -> None:
    # A body of ours the contract refuses would make the checks themselves wrong.
    if problem := next(contract.problems(body, schema), None):
        raise AssertionError(f"the conformance checks send a body the contract refuses: {problem}")


def _json_bytes(body: object) -> bytes:
    return json.dumps(body).encode()


def _said(answer: requests.Response) -> str:
    """What the registry said about its answer, briefly: its `error` field, when it sent one."""
    try:
        error = answer.json().get("error")
    except (ValueError, AttributeError):
        return ""
    return f" ({_short(error)})" if isinstance(error, str) else ""


def _ended(listing: Listing) -> str:
    if listing.problem is not None:
        raise CheckFailed(listing.problem)
    return f"{len(listing.domains)} domains on {len(listing.pages)} pages"


def _no_repeats(passes: list[Listing]) -> None:
    repeats = []
    for listing in passes:
        first_page: dict[str, int] = {}
        for number, page in enumerate(listing.pages, start=1):
            for domain in page:
                if domain in first_page:
                    where = (
                        f"twice on page {number}"
                        if first_page[domain] == number
                        else (f"on pages {first_page[domain]} and {number}")
                    )
                    repeats.append(f"{domain} {where} at limit={listing.limit}")
                else:
                    first_page[domain] = number
    if repeats:
        more = f" (and {len(repeats) - 1} more)" if len(repeats) > 1 else ""
        raise CheckFailed(repeats[0] + more)


def _same_domains(full: Listing, small: list[Listing]) -> None:
    for listing in [full, *small]:
        if listing.problem is not None:
            raise CheckFailed(f"cannot compare: the pass at limit={listing.limit} did not end properly")
    for listing in small:
        extra = sorted(listing.domains - full.domains)
        missing = sorted(full.domains - listing.domains)
        if extra or missing:
            raise CheckFailed(
                f"limit={listing.limit} lists {len(extra)} domains limit={full.limit} does not "
                f"{_examples(extra)}and misses {len(missing)} it lists {_examples(missing)}".rstrip()
            )


def _examples(domains: list[str]) -> str:
    return f"({', '.join(domains[:3])}{', ...' if len(domains) > 3 else ''}) " if domains else ""


def _schema_kept(passes: list[Listing]) -> str:
    for listing in passes:
        if listing.schema_problem is not None:
            raise CheckFailed(listing.schema_problem)
    return f"{sum(len(listing.pages) for listing in passes)} pages"


# --- The command --------------------------------------------------------------------------------


def _write_domain(text: str) -> str:
    try:
        domain = to_ascii(text.strip().rstrip("."))
        registrable = registrable_domain(domain)
    except InvalidDomain as exc:
        raise UsageError(f"--write-domain {text!r} is not a domain name: {exc}") from None
    if registrable != domain:
        raise UsageError(
            f"--write-domain must be a registrable domain: {text!r} is a name under {registrable!r}"
        )
    return domain


def _printer(as_json: bool) -> Callable[[CheckResult], None]:
    def print_result(result: CheckResult) -> None:
        if as_json:
            line = json.dumps({"check": result.check, "passed": result.passed, "detail": result.detail})
        elif result.passed:
            line = f"PASS  {result.check}" + (f" ({result.detail})" if result.detail else "")
        else:
            line = f"FAIL  {result.check}: {result.detail}"
        print(line, flush=True)

    return print_result


def conformance_command(args) -> int:
    """`lapsewatch registry conformance`: 0 every check passed, 1 one failed, 2 usage or unreachable."""
    token = os.environ.get(TOKEN_VARIABLE)
    if not token:
        raise UsageError(f"set {TOKEN_VARIABLE} to the token the registry issued to lapsewatch")
    url = args.url.rstrip("/")
    # The token is sent with every call: over plain http it could be read on the way.
    if not url_allowed(url, allow_loopback_http=True):
        raise UsageError(f"--url must be https:// (or http:// to this machine), not {args.url!r}")
    write_domain = None if args.write_domain is None else _write_domain(args.write_domain)
    contract = Contract.load()
    registry = RegistryHttp(url, token)
    try:
        try:
            # A first call, to tell "cannot reach it" (a usage error) from a failed check.
            registry.get(contract.path(LIST_EMAIL_DOMAINS), {"limit": 1}, token=NO_TOKEN)
        except requests.RequestException as exc:
            print(
                f"lapsewatch: error: cannot reach the registry at {url}: {_no_answer(exc)}", file=sys.stderr
            )
            return 2
        results = Conformance(registry, contract, _printer(args.json), write_domain).run()
    finally:
        registry.close()
    failed = sum(not result.passed for result in results)
    if args.json:
        print(json.dumps({"checks": len(results), "failed": failed, "passed": len(results) - failed}))
    else:
        print(f"{len(results)} checks, {failed} failed")
    return 1 if failed else 0
