"""Operations tables -> routes: every URL form Graph accepts for an operation reaches it, with
its path parameters decoded."""

from __future__ import annotations

from typing import Any

import pytest
from crypto_factory import cert_der_b64, make_certificate, make_pfx_b64
from flask import Flask, Response
from flask.testing import FlaskClient
from url_forms import url_forms

from mockgraph.http import routing
from mockgraph.http.rendering import json_response
from mockgraph.http.routing import Call, Operation
from mockgraph.resources.keysets.operations import OPERATIONS


def echo(call: Call) -> Response:
    return json_response({"op": call.operation.id, "params": dict(call.params)})


TABLE = (
    Operation("getThing", ("GET",), "/things/{id}", echo),
    Operation("doIt", ("POST",), "/things/{id}/doIt", echo, kind="action"),
    Operation("readIt", ("GET",), "/things/{id}/parts/{part}/readIt", echo, kind="function"),
)


FUNCTION_FORMS = ("readIt", "readIt()", "microsoft.graph.readIt", "microsoft.graph.readIt()")


@pytest.fixture
def things() -> FlaskClient:
    app = Flask("things")
    app.extensions["mockgraph"] = object()
    routing.register(app, TABLE)
    return app.test_client()


def reached(client: FlaskClient, method: str, path: str) -> dict[str, Any]:
    answer = client.open(path, method=method)
    assert answer.status_code == 200, (method, path, answer.status_code)
    body: dict[str, Any] = answer.get_json()
    return body


def test_an_entity_answers_at_its_path_and_in_the_odata_key_form(things: FlaskClient) -> None:
    for path in ("/beta/things/x1", "/beta/things('x1')"):
        assert reached(things, "GET", path) == {"op": "getThing", "params": {"id": "x1"}}


def test_an_odata_key_has_its_doubled_quotes_undone(things: FlaskClient) -> None:
    assert reached(things, "GET", "/beta/things('o''k')")["params"] == {"id": "o'k"}


def test_an_action_answers_by_name_and_by_namespaced_name(things: FlaskClient) -> None:
    for item in ("/x1", "('x1')"):
        for name in ("doIt", "microsoft.graph.doIt"):
            body = reached(things, "POST", f"/beta/things{item}/{name}")
            assert body == {"op": "doIt", "params": {"id": "x1"}}
    assert things.post("/beta/things/x1/doIt()").status_code == 404  # no call form


def test_a_function_answers_in_every_name_and_call_form(things: FlaskClient) -> None:
    forms = 0
    for item in ("/x1", "('x1')"):
        for part in ("/p2", "('p2')"):
            for name in FUNCTION_FORMS:
                body = reached(things, "GET", f"/beta/things{item}/parts{part}/{name}")
                assert body == {"op": "readIt", "params": {"id": "x1", "part": "p2"}}
                forms += 1
    assert forms == len(url_forms(TABLE[2])) == 16


def test_an_operation_answers_only_its_methods(things: FlaskClient) -> None:
    answer = things.delete("/beta/things/x1")
    assert answer.status_code == 405
    assert set(answer.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}


# -- the key sets table, through the app -----------------------------------------------------

KEYSET = "B2C_1A_ks"
_BODIES: dict[str, Any] = {
    "createKeySet": {"id": "other"},
    "updateKeySet": {"keys": [{"kid": "k1"}]},
    "generateKey": {"use": "sig", "kty": "oct"},
    "uploadSecret": {"use": "sig", "k": "secret"},
    "uploadCertificate": {"key": cert_der_b64(make_certificate()[1])},
    "uploadPkcs12": {"key": make_pfx_b64("pw"), "password": "pw"},
    "updateKeyV2": {"status": "enabled"},
}
#: The answer of each operation where the docs give it (the others answer 200).
_STATUS = {"createKeySet": 201, "deleteKeySet": 204, "updateKeyV2": 204, "countKeySets": 400}


def _urls(operation: Operation) -> list[str]:
    """Every form of the operation's URL, for the key set KEYSET and its key k1."""
    return [form.format(id=KEYSET, kid="k1") for form in url_forms(operation)]


@pytest.mark.parametrize(
    ("operation", "url"),
    [(op, url) for op in OPERATIONS for url in _urls(op)],
    ids=lambda value: value.id if isinstance(value, Operation) else value,
)
def test_every_url_form_of_every_key_set_operation_answers(
    client: FlaskClient, operation: Operation, url: str
) -> None:
    client.post("/beta/trustFramework/keySets", json={"id": "ks", "keys": [{"kid": "k1"}]})
    for method in operation.methods:
        answer = client.open(url, method=method, json=_BODIES.get(operation.id))
        expected = _STATUS.get(operation.id, 200)
        assert answer.status_code == expected, (method, url, answer.get_data(as_text=True))
