"""Request bodies -> typed values (marshmallow): what the parser accepts and refuses on its own,
with the contract check off, as ``MOCKGRAPH_VALIDATE_REQUESTS=0`` runs it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import Schema, ValidationError

from mockgraph import Config, create_app
from mockgraph.http import parsing
from mockgraph.http.contracts import Contracts
from mockgraph.http.errors import BadRequest
from mockgraph.http.parsing import BODY_SCHEMAS, JsonProblem, load, strict_json
from mockgraph.resources.keysets.models import KEY_FIELDS, Key, KeySet
from mockgraph.state import mockgraph

URL = "/beta/trustFramework/keySets"


def refused(operation: str, body: dict[str, Any]) -> str:
    with pytest.raises(BadRequest) as caught:
        load(operation, body)
    return caught.value.message


def test_a_key_set_body_becomes_typed_keys() -> None:
    body = {
        "id": "keyset1",
        "keys": [
            {"kid": "a", "kty": "RSA", "use": "sig", "e": "AQAB", "n": "bg", "nbf": 1, "exp": 2},
            {"kid": "b", "kty": "oct", "k": "c2VjcmV0", "x5c": ["MIIB"], "nbf": None},
        ],
    }
    assert load("createKeySet", body) == KeySet(
        "B2C_1A_keyset1",
        (
            Key(kid="a", kty="RSA", use="sig", e="AQAB", n="bg", nbf=1, exp=2),
            Key(kid="b", kty="oct", k="c2VjcmV0", x5c=("MIIB",)),
        ),
    )


def test_odata_annotations_are_ignored_on_the_set_and_on_each_key() -> None:
    body = {
        "@odata.type": "#microsoft.graph.trustFrameworkKeySet",
        "id": "B2C_1A_a",
        "keys": [{"@odata.type": "#microsoft.graph.trustFrameworkKey", "kid": "k"}],
    }
    assert load("createKeySet", body) == KeySet("B2C_1A_a", (Key(kid="k"),))


def test_an_integral_float_is_an_integer_and_a_fraction_is_not() -> None:
    assert load("createKeySet", {"id": "a", "keys": [{"nbf": 5.0}]}).keys[0].nbf == 5
    message = refused("createKeySet", {"id": "a", "keys": [{"nbf": 5.5}]})
    assert message.startswith("The property 'keys[0].nbf' is invalid")


@pytest.mark.parametrize(
    ("key", "path"),
    [
        ({"kid": 7}, "keys[0].kid"),
        ({"kid": "a", "colour": "red"}, "keys[0].colour"),
        ({"x5c": "MIIB"}, "keys[0].x5c"),
        ({"x5c": ["MIIB", 3]}, "keys[0].x5c[1]"),
        ({"exp": 2**63}, "keys[0].exp"),
        ({"exp": "soon"}, "keys[0].exp"),
        ({"exp": True}, "keys[0].exp"),
    ],
)
def test_a_bad_key_member_is_named_by_its_path(key: dict[str, Any], path: str) -> None:
    assert f"'{path}'" in refused("createKeySet", {"id": "a", "keys": [key]})


def test_a_key_that_is_no_object_is_refused() -> None:
    assert "'keys[0]'" in refused("createKeySet", {"id": "a", "keys": ["kid"]})


def test_an_unknown_member_is_said_not_to_exist() -> None:
    message = refused("createKeySet", {"id": "a", "keys": [{"colour": "red"}]})
    assert message == "The property 'keys[0].colour' does not exist on this resource."


def test_the_int64_bounds_are_inclusive() -> None:
    keys = load("createKeySet", {"id": "a", "keys": [{"nbf": -(2**63), "exp": 2**63 - 1}]}).keys
    assert (keys[0].nbf, keys[0].exp) == (-(2**63), 2**63 - 1)


def test_an_id_with_a_final_newline_is_refused() -> None:
    # re's "$" would match before the newline; the parser anchors at the very end.
    assert "'id'" in refused("createKeySet", {"id": "keyset1\n"})


def test_a_refused_secret_is_never_quoted() -> None:
    message = refused("createKeySet", {"id": "a", "keys": [{"k": 123456789}]})
    assert "123456789" not in message


@pytest.fixture
def unchecked(contracts: Contracts) -> Flask:
    return create_app(Config(validate_requests=False), contracts=contracts)


@pytest.fixture
def unchecked_client(unchecked: Flask) -> FlaskClient:
    client = unchecked.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = "Bearer test-token"
    return client


@pytest.mark.parametrize(
    "body",
    [
        {"id": "a", "keys": [{"kid": 7}]},
        {"id": "a", "keys": [{"colour": "red"}]},
        {"id": "a b"},
        {"keys": []},
        {"id": "a", "keys": {"kid": "x"}},
    ],
)
def test_with_the_contract_check_off_the_parser_still_refuses_with_a_graph_400(
    unchecked: Flask, unchecked_client: FlaskClient, body: dict[str, Any]
) -> None:
    answer = unchecked_client.post(URL, data=json.dumps(body), content_type="application/json")
    assert answer.status_code == 400
    assert answer.get_json()["error"]["code"] == "invalidRequest"
    assert len(mockgraph(unchecked).stores["keySets"]) == 0


# The quick path of GraphSchema.load against marshmallow's own Schema.load, for every schema:
# the same typed value, or the same errors.
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6)
    | st.sampled_from(["sig", "enc", "RSA", "rsa", "oct", "enabled", "disabled", "B2C_1A_x", "k1"])
)
_KEYS = st.dictionaries(
    st.sampled_from([*KEY_FIELDS, "@odata.type", "bogus"]),
    _SCALARS | st.lists(st.text(max_size=4) | st.integers(), max_size=3),
    max_size=5,
)
_VALUES = _SCALARS | st.lists(_KEYS | _SCALARS, max_size=3) | _KEYS


@pytest.mark.parametrize("operation", sorted(BODY_SCHEMAS))
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_the_quick_load_and_marshmallow_s_own_give_the_same_value_or_the_same_errors(
    operation: str, data: st.DataObject
) -> None:
    schema = BODY_SCHEMAS[operation]
    names = st.sampled_from([*schema.load_fields, "@odata.type", "bogus"])
    body = data.draw(st.dictionaries(names, _VALUES, max_size=5))
    outcomes = []
    for loader in (schema.load, lambda body: Schema.load(schema, body)):
        try:
            outcomes.append(("value", loader(body)))
        except ValidationError as exc:
            outcomes.append(("errors", exc.messages))
    assert outcomes[0] == outcomes[1]


def _same(a: Any, b: Any) -> bool:
    """Equal JSON values of equal types: 1 is not 1.0, -0.0 is not 0.0."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return repr(a) == repr(b)
    return bool(a == b)


def _decoded(data: bytes) -> tuple[str, Any]:
    try:
        return "value", strict_json(data)
    except JsonProblem as problem:
        return "problem", str(problem)


_JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=12,
)
_JSON_TEXTS = _JSON_VALUES.map(lambda value: json.dumps(value).encode()) | st.sampled_from(
    [
        b"1e400",
        b"NaN",
        b"-Infinity",
        b'"\\ud800"',
        b"\xef\xbb\xbf{}",
        b"[" * 3000,
        b'"a\x01"',
        b"[" * 256 + b"]" * 256,
        b"[" * 257 + b"]" * 257,
    ]
)


@settings(max_examples=500, deadline=None)
@given(data=_JSON_TEXTS | st.binary(max_size=40))
def test_orjson_and_the_standard_library_decode_a_body_to_the_same_value_or_problem(
    data: bytes, monkeypatch_module: pytest.MonkeyPatch
) -> None:
    fast = _decoded(data)
    with monkeypatch_module.context() as patch:
        patch.setattr(parsing, "_orjson", None)
        reference = _decoded(data)
    assert fast[0] == reference[0]
    assert _same(fast[1], reference[1]) if fast[0] == "value" else fast[1] == reference[1]


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        yield patch
