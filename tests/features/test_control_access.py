"""Who may call the control API under /_mockgraph/: programs, never web pages of another
origin (whatever the method or content type, and never with CORS headers), only under a Host
name this server answers for, and the secrets only for clients on this machine."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from graph_errors import assert_graph_error
from werkzeug.test import TestResponse

from mockgraph import Config, Key, KeySet, create_app
from mockgraph.http.contracts import Contracts
from mockgraph.state import MockGraph, mockgraph

KEYSETS = "/beta/trustFramework/keySets"
SECRET = "dGhlLXNlY3JldC12YWx1ZQ"
SIGNING = KeySet("B2C_1A_signing", (Key(kid="s", kty="oct", use="sig", k=SECRET),))


def create(client: FlaskClient, keyset_id: str) -> TestResponse:
    return client.post(KEYSETS, json={"id": keyset_id})


@pytest.fixture(scope="module")
def module_app(contracts: Contracts) -> Flask:
    return create_app(Config(), contracts=contracts)


@pytest.fixture
def app(module_app: Flask) -> Flask:
    """One app for the module, reset before each test."""
    mockgraph(module_app).reset()
    return module_app


@pytest.fixture
def anonymous(app: Flask) -> FlaskClient:
    """A client with no Authorization header."""
    return app.test_client()


#: Every operation of the control API: (method, path, JSON body).
CONTROL_CALLS: list[tuple[str, str, Any]] = [
    ("POST", "/_mockgraph/reset", None),
    ("GET", "/_mockgraph/requests", None),
    ("DELETE", "/_mockgraph/requests", None),
    ("GET", "/_mockgraph/state", None),
    ("POST", "/_mockgraph/state", {"keySets": []}),
    ("GET", "/_mockgraph/health", None),
    ("GET", "/_mockgraph/clock", None),
    ("POST", "/_mockgraph/clock", {"now": 5}),
]


def no_cors_headers(response: TestResponse) -> bool:
    return not any(name.lower().startswith("access-control-") for name in response.headers.keys())


def test_a_form_post_from_a_web_page_cannot_reset(client: FlaskClient, state: MockGraph) -> None:
    # What a page of another site can send without a preflight: a "simple" cross-site POST.
    create(client, "kept")
    response = client.post(
        "/_mockgraph/reset",
        data="{}",
        headers={"Origin": "https://evil.example", "Content-Type": "text/plain"},
    )
    assert_graph_error(response, 403, "accessDenied", "does not answer web pages")
    assert no_cors_headers(response)
    assert [k.id for k in state.stores["keySets"]] == ["B2C_1A_kept"]
    assert len(state.journal.entries()) == 1


@pytest.mark.parametrize(("method", "path", "body"), CONTROL_CALLS)
@pytest.mark.parametrize(
    "origin", ["https://evil.example", "http://localhost:3000", "http://127.0.0.1", "null"]
)
def test_every_control_call_from_another_origin_is_403_and_changes_nothing(
    anonymous: FlaskClient, state: MockGraph, method: str, path: str, body: Any, origin: str
) -> None:
    state.stores["keySets"].load([KeySet("B2C_1A_kept")])
    state.clock.set(77.0)
    response = anonymous.open(path, method=method, json=body, headers={"Origin": origin})
    assert_graph_error(response, 403, "accessDenied", "does not answer web pages")
    assert no_cors_headers(response)
    assert [k.id for k in state.stores["keySets"]] == ["B2C_1A_kept"]
    assert state.clock.now() == 77.0


@pytest.mark.parametrize(("method", "path", "body"), CONTROL_CALLS)
def test_the_servers_own_origin_may_call_the_control_api_without_cors_headers(
    anonymous: FlaskClient, method: str, path: str, body: Any
) -> None:
    # The test client addresses http://localhost: a page served by the mock itself.
    response = anonymous.open(
        path, method=method, json=body, headers={"Origin": "http://localhost"}
    )
    assert response.status_code in (200, 204), response.get_data(as_text=True)
    assert no_cors_headers(response)


def test_a_preflight_to_the_control_api_is_refused(anonymous: FlaskClient) -> None:
    for origin in ("http://localhost:3000", "http://localhost"):
        response = anonymous.options(
            "/_mockgraph/reset",
            headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
        )
        assert_graph_error(response, 403, "accessDenied", "")
        assert no_cors_headers(response)


@pytest.mark.parametrize(("method", "path", "body"), CONTROL_CALLS)
def test_a_control_call_naming_another_host_is_400_and_changes_nothing(
    anonymous: FlaskClient, state: MockGraph, method: str, path: str, body: Any
) -> None:
    # A page whose DNS name was rebound to 127.0.0.1 still sends its own name as Host.
    state.stores["keySets"].load([KeySet("B2C_1A_kept")])
    response = anonymous.open(
        path, method=method, json=body, base_url="http://rebound.evil.example:8000"
    )
    assert_graph_error(response, 400, "invalidRequest", "Host header")
    assert [k.id for k in state.stores["keySets"]] == ["B2C_1A_kept"]


def test_secrets_are_refused_to_a_client_on_another_machine(
    client: FlaskClient, state: MockGraph
) -> None:
    state.stores["keySets"].load([SIGNING])
    for flag in ("1", "true"):
        response = client.get(
            f"/_mockgraph/state?secrets={flag}", environ_overrides={"REMOTE_ADDR": "192.0.2.7"}
        )
        assert_graph_error(response, 403, "accessDenied", "same machine")
        assert SECRET not in response.get_data(as_text=True)
    redacted = client.get("/_mockgraph/state", environ_overrides={"REMOTE_ADDR": "192.0.2.7"})
    assert redacted.status_code == 200
