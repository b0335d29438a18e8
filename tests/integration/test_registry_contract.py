"""The reference registry against docs/registry-api.yaml, with schemathesis.

Every operation gets generated requests, valid and invalid, with and without the token; each
answer must match the documented statuses, headers and schemas, valid requests must be accepted
and invalid ones rejected.
"""

import json
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import settings
from schemathesis.core.parameters import ParameterLocation

from lapsewatch.domains import InvalidDomain, registrable_domain, to_ascii
from lapsewatch_tools.registry.app import RegistryApp
from lapsewatch_tools.registry.server import RegistryServer

SPEC = Path(__file__).resolve().parents[2] / "docs" / "registry-api.yaml"
TOKEN = "contract-test-token"

schema = schemathesis.openapi.from_path(
    SPEC,
    # Authenticated through the spec's own security scheme, so that schemathesis also sends
    # requests without it (and expects 401).
    config=schemathesis.Config.from_dict({"auth": {"openapi": {"bearer": {"bearer": TOKEN}}}}),
)


@pytest.fixture(scope="module")
def registry():
    with RegistryServer(RegistryApp(token=TOKEN)) as server:
        server.load_seed(
            json.dumps({"user": f"u{n}", "email": f"u{n}@example{n}.com", "verified": True, "verified_at": t})
            for n, t in enumerate(["2019-05-01T12:00:00Z", "2020-01-01T00:00:00Z", "2021-07-01T08:30:00Z"])
        )
        yield server


@pytest.fixture(scope="module")
def issued_cursor(registry):
    answer = requests.get(
        f"{registry.url}/v1/email-domains", params={"limit": 1}, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    return answer.json()["next_cursor"]


def _is_a_label(domain):
    try:
        return to_ascii(domain) == domain
    except InvalidDomain:
        return False


def _is_registrable(domain):
    try:
        return registrable_domain(domain) == domain
    except InvalidDomain:
        return False


def _keep_valid_cases_valid(case, issued_cursor):
    """JSON Schema cannot say which cursors the registry gave out, which names are valid IDNA (a
    generated `xn--` label rarely is), nor which are registrable domains under the Public Suffix
    List: in valid cases, such values are replaced by real ones."""
    if case.query and not case.meta.is_negative_at(ParameterLocation.QUERY):
        if "cursor" in case.query:
            case.query["cursor"] = issued_cursor
        if not _is_a_label(case.query.get("domain", "example.com")):
            case.query["domain"] = "example.com"
    body = case.body
    valid_body = isinstance(body, dict) and not case.meta.is_negative_at(ParameterLocation.BODY)
    if valid_body and not _is_registrable(body["domain"]):
        body["domain"] = "example.com"


@pytest.mark.integration
@schema.parametrize()
@settings(max_examples=25, deadline=None)
def test_the_reference_registry_keeps_the_contract(case, registry, issued_cursor):
    _keep_valid_cases_valid(case, issued_cursor)
    case.call_and_validate(base_url=registry.url)
