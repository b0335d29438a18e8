"""Properties over random answers: no body outside the rules ever reads as a lapse."""

import json

from hypothesis import given
from hypothesis import strategies as st

from lapsewatch.lifecycle import Lifecycle
from lapsewatch.net.doubt import Doubt
from lapsewatch.net.strict_json import read_json
from lapsewatch.providers.domainr import TOKENS, lifecycle_from_tokens, token_contradiction
from lapsewatch.providers.rdap import _ERROR_MEMBERS, _check_not_found_body
from lapsewatch.providers.rdap_answers import read_answer

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)
_members = st.sampled_from(sorted(_ERROR_MEMBERS | {"message", "domainSearchResults", "ldhName", "status"}))


def _accepted_as_not_found(body: bytes) -> bool:
    try:
        _check_not_found_body(body, "https://rdap.example/domain/a.com")
    except Doubt:
        return False
    return True


@given(st.dictionaries(_members, _json, max_size=6))
def test_a_404_body_counts_only_as_an_rdap_error_response_for_a_404(document):
    accepted = _accepted_as_not_found(json.dumps(document).encode())
    is_error_response = (
        document.keys() <= _ERROR_MEMBERS
        and ("errorCode" in document or "rdapConformance" in document)
        and document.get("errorCode", 404) == 404
        and type(document.get("errorCode", 404)) is int
        and str(document.get("objectClassName", "error")).lower() == "error"
        and isinstance(document.get("objectClassName", "error"), str)
        and (
            "rdapConformance" not in document
            or (
                isinstance(document["rdapConformance"], list)
                and all(isinstance(i, str) for i in document["rdapConformance"])
            )
        )
    )
    assert accepted is is_error_response


@given(st.binary(max_size=60))
def test_random_bytes_are_never_a_not_found_unless_blank_or_an_error_response(body):
    if _accepted_as_not_found(body) and body.strip():
        document = read_json(body)
        assert isinstance(document, dict) and document.keys() <= _ERROR_MEMBERS


_statuses = st.lists(
    st.sampled_from(["active", "redemption period", "pending delete", "client hold", "ok", "inactive", "x"]),
    max_size=4,
)


@given(
    st.fixed_dictionaries(
        {},
        optional={
            "objectClassName": st.sampled_from(["domain", "Domain", "entity", 1]),
            "ldhName": st.sampled_from(["a.com", "A.COM.", "b.com", None, ["a.com"]]),
            "unicodeName": st.sampled_from(["a.com", "b.com", "ä.com", 7, "", "a..com"]),
            "status": _statuses,
        },
    )
)
def test_a_200_is_unsafe_only_as_the_asked_domains_own_object(document):
    observation = read_answer(json.dumps(document).encode(), "a.com")
    if observation.lifecycle not in (Lifecycle.UNKNOWN, Lifecycle.ACTIVE):
        assert document["objectClassName"] == "domain"
        assert str(document["ldhName"]).lower().rstrip(".") == "a.com"
        assert document.get("unicodeName", "a.com") == "a.com"


@given(st.binary(max_size=80))
def test_read_json_accepts_only_strict_utf8_json(body):
    try:
        document = read_json(body)
    except Doubt:
        return
    text = body.decode("utf-8")  # it was UTF-8
    assert not text.startswith("\ufeff")
    assert json.loads(text) == document
    assert "NaN" not in json.dumps(document) and "Infinity" not in json.dumps(document)


@given(st.lists(st.sampled_from([*TOKENS, "dpml", "unknown"]), min_size=1, max_size=5))
def test_a_status_saying_both_held_and_free_never_reads_as_a_lapse(tokens):
    lifecycle = lifecycle_from_tokens(tokens)
    lowered = {t.lower() for t in tokens}
    if "active" in lowered and lowered & {"inactive", "deleting"}:
        assert lifecycle is Lifecycle.UNKNOWN
        assert token_contradiction(tokens)
