"""POST /beta/trustFramework/keySets end to end through the app: the documented behaviour and
every way a body is refused, each leaving the store as it was."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient
from graph_errors import assert_graph_error

from mockgraph.state import MockGraph

URL = "/beta/trustFramework/keySets"


def post(client: FlaskClient, body: Any, **kw: Any):  # type: ignore[no-untyped-def]
    return client.post(URL, data=json.dumps(body), content_type="application/json", **kw)


def test_create_adds_the_b2c_prefix_and_answers_201_with_location(client: FlaskClient) -> None:
    response = post(client, {"id": "keyset1"})
    assert response.status_code == 201
    assert response.headers["Location"] == "/trustFramework/keySets('B2C_1A_keyset1')"
    body = response.get_json()
    assert body["id"] == "B2C_1A_keyset1"
    assert body["keys"] == []
    assert (
        body["@odata.context"] == "http://localhost/beta/$metadata#trustFramework/keySets/$entity"
    )


def test_create_keeps_an_id_that_already_has_the_prefix(client: FlaskClient) -> None:
    assert post(client, {"id": "B2C_1A_Mine"}).get_json()["id"] == "B2C_1A_Mine"
    assert post(client, {"id": "b2c_1a_other"}).get_json()["id"] == "b2c_1a_other"


def test_created_key_set_can_be_read_back_at_its_location(client: FlaskClient) -> None:
    location = post(client, {"id": "keyset1"}).headers["Location"]
    response = client.get("/beta" + location)
    assert response.status_code == 200
    assert response.get_json()["id"] == "B2C_1A_keyset1"


def test_secrets_are_stored_but_never_returned(client: FlaskClient, state: MockGraph) -> None:
    key = {"kid": "k1", "kty": "RSA", "use": "sig", "n": "nnn", "e": "AQAB",
           "d": "D", "p": "P", "q": "Q", "dp": "DP", "dq": "DQ", "qi": "QI"}  # fmt: skip
    response = post(client, {"id": "s", "keys": [key, {"kty": "oct", "k": "K", "use": "enc"}]})
    returned = response.get_json()["keys"]
    assert returned[0] == {"kid": "k1", "kty": "RSA", "use": "sig", "n": "nnn", "e": "AQAB"}
    assert returned[1] == {"kty": "oct", "use": "enc"}
    stored = state.stores["keySets"].get("B2C_1A_s").keys
    assert (stored[0].d, stored[0].qi, stored[1].k) == ("D", "QI", "K")
    for secret in ('"D"', '"QI"', '"K"'):
        assert secret not in response.get_data(as_text=True)


def test_duplicate_id_conflicts_and_keeps_the_first(client: FlaskClient, state: MockGraph) -> None:
    post(client, {"id": "dup", "keys": [{"kid": "first"}]})
    response = post(client, {"id": "B2C_1A_dup", "keys": []})
    assert_graph_error(response, 409, "nameAlreadyExists", "B2C_1A_dup")
    assert state.stores["keySets"].get("B2C_1A_dup").keys[0].kid == "first"


def test_request_id_is_sent_and_client_request_id_echoed(client: FlaskClient) -> None:
    response = post(client, {"id": "a"}, headers={"client-request-id": "abc-123"})
    assert response.headers["client-request-id"] == "abc-123"
    assert len(response.headers["request-id"]) == 36
    other = post(client, {"id": "b"})
    assert other.headers["client-request-id"] == other.headers["request-id"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "'id' is required"),
        ({"id": "a", "keys": [{"exp": "soon"}]}, "'keys[0].exp' must be an integer or null"),
        ({"id": "a", "keys": [{"x5c": "not-a-list"}]}, "'keys[0].x5c' must be an array or null"),
        ({"id": "a", "colour": "red"}, "'colour' does not exist"),
        ({"id": "a", "keys": [{"kid": "x", "bogus": 1}]}, "'keys[0].bogus' does not exist"),
        ({"id": 5}, "'id' must be a string"),
        ({"id": "a", "keys": {}}, "'keys' must be an array or null"),
        ({"id": "a/b"}, "'id' has an invalid value; expected letters, digits"),
        ({"id": ""}, "'id' has an invalid value"),
        ({"id": "x\n"}, "'id' has an invalid value"),  # ECMA-262's "$": the very end
        ({"id": "a", "keys": [{"nbf": 1.5}]}, "'keys[0].nbf' must be an integer or null"),
        ({"id": "a", "keys": [{"nbf": 2**70}]}, "'keys[0].nbf'"),
    ],
)
def test_invalid_bodies_are_400_naming_the_property(
    client: FlaskClient, state: MockGraph, body: Any, message: str
) -> None:
    assert_graph_error(post(client, body), 400, "invalidRequest", message)
    assert len(state.stores["keySets"]) == 0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"id": ', "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'"text"', "must be a JSON object"),
        (b"", "request body is required"),
        (b'{"id": NaN}', "not valid JSON"),
        (b"\xff\xfe", "not valid UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "nested more than 64 levels deep"),
        (b'{"id": ' + b"9" * 5000 + b"}", "not valid JSON"),
    ],
)
def test_malformed_bodies_are_400(
    client: FlaskClient, state: MockGraph, data: bytes, message: str
) -> None:
    response = client.post(URL, data=data, content_type="application/json")
    assert_graph_error(response, 400, "invalidRequest", message)
    assert len(state.stores["keySets"]) == 0


def test_non_json_content_type_is_415(client: FlaskClient, state: MockGraph) -> None:
    response = client.post(URL, data="id=a", content_type="application/x-www-form-urlencoded")
    assert_graph_error(response, 415, "notSupported", "application/json")
    assert len(state.stores["keySets"]) == 0


def test_json_with_charset_parameter_is_accepted(client: FlaskClient) -> None:
    response = client.post(URL, data='{"id": "a"}', content_type="application/json; charset=utf-8")
    assert response.status_code == 201


def test_body_over_the_limit_is_413(client: FlaskClient, state: MockGraph) -> None:
    big = {"id": "a", "keys": [{"kid": "x" * (1024 * 1024)}]}
    assert_graph_error(post(client, big), 413, "invalidRequest", "larger than")
    assert len(state.stores["keySets"]) == 0


@pytest.mark.parametrize("header", [None, "", "Basic dXNlcjpwYXNz", "Bearer", "Bearer   "])
def test_missing_or_non_bearer_authorization_is_401(
    client: FlaskClient, state: MockGraph, header: str | None
) -> None:
    client.environ_base.pop("HTTP_AUTHORIZATION", None)
    headers = {} if header is None else {"Authorization": header}
    response = post(client, {"id": "a"}, headers=headers)
    assert_graph_error(response, 401, "InvalidAuthenticationToken")
    assert len(state.stores["keySets"]) == 0


def test_any_bearer_token_is_accepted(client: FlaskClient) -> None:
    response = post(client, {"id": "a"}, headers={"Authorization": "bearer opaque.token"})
    assert response.status_code == 201


def test_unknown_path_is_404_and_wrong_method_405(client: FlaskClient) -> None:
    assert_graph_error(client.get("/beta/trustFramework/nothing"), 404, "itemNotFound")
    assert_graph_error(client.get("/elsewhere"), 404, "itemNotFound")
    response = client.patch(URL, json={"id": "a"})
    assert_graph_error(response, 405, "notAllowed")
    assert "POST" in response.headers["Allow"]


def test_integral_numbers_written_as_floats_are_integers(client: FlaskClient) -> None:
    # JSON Schema (the contract) counts 5.0 as an integer: the parser agrees.
    response = post(client, {"id": "f", "keys": [{"kid": "a", "nbf": -266.0, "exp": 5.0}]})
    assert response.status_code == 201
    assert response.get_json()["keys"] == [{"kid": "a", "nbf": -266, "exp": 5}]


def test_odata_type_annotations_sent_by_sdks_are_accepted(client: FlaskClient) -> None:
    body = {
        "@odata.type": "#microsoft.graph.trustFrameworkKeySet",
        "id": "sdk",
        "keys": [{"@odata.type": "#microsoft.graph.trustFrameworkKey", "kid": "a"}],
    }
    response = post(client, body)
    assert response.status_code == 201
    assert response.get_json()["keys"] == [{"kid": "a"}]
