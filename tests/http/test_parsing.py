"""Request bodies -> typed values (marshmallow): what the parser accepts and refuses on its own,
with the contract check off, as ``MOCKGRAPH_VALIDATE_REQUESTS=0`` runs it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mockgraph import Config, create_app
from mockgraph.http.contracts import Contracts
from mockgraph.http.errors import BadRequest
from mockgraph.http.parsing import first_message, is_json, load
from mockgraph.resources.keysets.models import Key, KeySet
from mockgraph.resources.keysets.operations import OPERATIONS
from mockgraph.state import mockgraph

URL = "/beta/trustFramework/keySets"


#: The body schema the operations table declares for createKeySet.
CREATE = next(op.body for op in OPERATIONS if op.id == "createKeySet")


def refused(schema: Any, body: dict[str, Any]) -> str:
    with pytest.raises(BadRequest) as caught:
        load(schema, body)
    return caught.value.message


def test_a_key_set_body_becomes_typed_keys() -> None:
    body = {
        "id": "keyset1",
        "keys": [
            {"kid": "a", "kty": "RSA", "use": "sig", "e": "AQAB", "n": "bg", "nbf": 1, "exp": 2},
            {"kid": "b", "kty": "oct", "k": "c2VjcmV0", "x5c": ["MIIB"], "nbf": None},
        ],
    }
    assert load(CREATE, body) == KeySet(
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
    assert load(CREATE, body) == KeySet("B2C_1A_a", (Key(kid="k"),))


def test_an_integral_float_is_an_integer_and_a_fraction_is_not() -> None:
    assert load(CREATE, {"id": "a", "keys": [{"nbf": 5.0}]}).keys[0].nbf == 5
    message = refused(CREATE, {"id": "a", "keys": [{"nbf": 5.5}]})
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
    assert f"'{path}'" in refused(CREATE, {"id": "a", "keys": [key]})


def test_a_key_that_is_no_object_is_refused() -> None:
    assert "'keys[0]'" in refused(CREATE, {"id": "a", "keys": ["kid"]})


def test_an_unknown_member_is_said_not_to_exist() -> None:
    message = refused(CREATE, {"id": "a", "keys": [{"colour": "red"}]})
    assert message == "The property 'keys[0].colour' does not exist on this resource."


def test_the_int64_bounds_are_inclusive() -> None:
    keys = load(CREATE, {"id": "a", "keys": [{"nbf": -(2**63), "exp": 2**63 - 1}]}).keys
    assert (keys[0].nbf, keys[0].exp) == (-(2**63), 2**63 - 1)


def test_an_id_with_a_final_newline_is_refused() -> None:
    # re's "$" would match before the newline; the parser anchors at the very end.
    assert "'id'" in refused(CREATE, {"id": "keyset1\n"})


def test_a_refused_secret_is_never_quoted() -> None:
    message = refused(CREATE, {"id": "a", "keys": [{"k": 123456789}]})
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
        {"id": "a", "keys": [{"kid": "x", "nbf": 2, "exp": 1}]},
        {"id": "a", "keys": [{"kid": "x"}, {"kid": "x"}]},
        {"id": "a", "keys": [{"kty": "EC"}]},
    ],
)
def test_with_the_contract_check_off_the_parser_still_refuses_with_a_graph_400(
    unchecked: Flask, unchecked_client: FlaskClient, body: dict[str, Any]
) -> None:
    answer = unchecked_client.post(URL, data=json.dumps(body), content_type="application/json")
    assert answer.status_code == 400
    assert answer.get_json()["error"]["code"] == "invalidRequest"
    assert len(mockgraph(unchecked).stores["keySets"]) == 0


def test_json_content_types_are_application_json_and_any_plus_json() -> None:
    assert is_json("application/json")
    assert is_json("Application/JSON; charset=utf-8")
    assert is_json("application/merge-patch+json")
    assert not is_json("text/json")
    assert not is_json(None)


@pytest.mark.parametrize(
    ("messages", "sentence"),
    [
        (
            {"keys": {0: {"colour": ["Unknown field."]}}},
            "The property 'keys[0].colour' does not exist on this resource.",
        ),
        ({"id": ["Missing data for required field."]}, "The property 'id' is required."),
        (
            {"keys": {1: {"nbf": ["Not a valid integer."]}}},
            "The property 'keys[1].nbf' is invalid: not a valid integer.",
        ),
        ({"_schema": ["Invalid input type."]}, "Invalid input type."),
    ],
)
def test_marshmallow_s_errors_become_one_sentence_naming_the_first_path(
    messages: dict[str, Any], sentence: str
) -> None:
    assert first_message(messages) == sentence
