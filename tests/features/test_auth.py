"""Permissions from bearer tokens: what each operation needs (read from its contract), and the
401/403 answers for expired, malformed, foreign or under-privileged JWTs."""

from __future__ import annotations

import base64
import dataclasses
import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mockgraph import Config, create_app
from mockgraph.features.auth import Permissions, permission_table
from mockgraph.features.tokens import make_token
from mockgraph.http.contracts import Contracts
from mockgraph.resources.keysets.operations import OPERATIONS
from mockgraph.state import MockGraph, mockgraph

READ = "TrustFrameworkKeySet.Read.All"
READ_WRITE = "TrustFrameworkKeySet.ReadWrite.All"
URL = "/beta/trustFramework/keySets"
NOW = 1_800_000_000.0
#: One request per routed operation: (operation, method, url, body).
CALLS: list[tuple[str, str, str, Any]] = [
    ("listKeySets", "GET", URL, None),
    ("getKeySet", "GET", URL + "/B2C_1A_seeded", None),
    ("getActiveKey", "GET", URL + "/B2C_1A_seeded/getActiveKey", None),
    ("createKeySet", "POST", URL, {"id": "new"}),
    ("updateKeySet", "PUT", URL + "/B2C_1A_seeded", {"keys": []}),
    ("deleteKeySet", "DELETE", URL + "/B2C_1A_seeded", None),
    ("generateKey", "POST", URL + "/B2C_1A_seeded/generateKey", {"use": "sig", "kty": "oct"}),
    ("uploadSecret", "POST", URL + "/B2C_1A_seeded/uploadSecret", {"use": "sig", "k": "c2Vj"}),
]
READS = {"listKeySets", "getKeySet", "getActiveKey"}


def call(client: FlaskClient, method: str, url: str, body: Any, token: str | None) -> Any:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    data = None if body is None else json.dumps(body)
    return client.open(
        url, method=method, data=data, content_type="application/json", headers=headers
    )


def assert_error(response: Any, status: int, code: str, message_part: str = "") -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["code"] == code
    assert message_part in error["message"]


@pytest.fixture
def config() -> Config:
    return Config(clock=NOW)


@pytest.fixture
def seeded(client: FlaskClient, state: MockGraph) -> FlaskClient:
    created = call(client, "POST", URL, {"id": "seeded"}, None)
    assert created.status_code == 201
    return client


def token(**kw: Any) -> str:
    return make_token(now=NOW, **kw)


def test_reads_accept_read_or_read_write_and_writes_need_read_write(
    contracts: Contracts,
) -> None:
    table = permission_table(OPERATIONS, contracts)
    for op in READS:
        assert table[op] == Permissions(
            frozenset({READ, READ_WRITE}), frozenset({READ, READ_WRITE})
        )
    for op in ("createKeySet", "updateKeySet", "deleteKeySet", "generateKey", "uploadPkcs12"):
        assert table[op] == Permissions(frozenset({READ_WRITE}), frozenset({READ_WRITE}))


def test_an_operation_whose_page_lists_no_permission_needs_what_every_write_needs(
    contracts: Contracts,
) -> None:
    assert contracts["updateKeyV2"].permissions["delegatedWork"] == []
    needed = permission_table(OPERATIONS, contracts)["updateKeyV2"]
    assert needed == Permissions(frozenset({READ_WRITE}), frozenset({READ_WRITE}), inferred=True)


def test_permissions_come_from_the_contracts_not_from_a_fixed_table(contracts: Contracts) -> None:
    custom = {"delegatedWork": ["Custom.Read"], "application": []}
    changed = Contracts(
        dataclasses.replace(c, permissions=custom) if op == "listKeySets" else c
        for op, c in contracts.items()
    )
    with create_app(Config(clock=NOW), contracts=changed).test_client() as client:
        assert call(client, "GET", URL, None, token(scp="Custom.Read")).status_code == 200
        denied = call(client, "GET", URL, None, token(scp=READ_WRITE))
        assert_error(denied, 403, "accessDenied", "delegated permissions Custom.Read")
        denied = call(client, "GET", URL, None, token(roles=[READ_WRITE]))
        assert_error(denied, 403, "accessDenied", "a permission type the operation does not")


@pytest.mark.parametrize(("operation", "method", "url", "body"), CALLS)
def test_read_write_token_may_call_every_operation(
    seeded: FlaskClient, operation: str, method: str, url: str, body: Any
) -> None:
    response = call(seeded, method, url, body, token(scp=READ_WRITE))
    # getActiveKey of a key set without keys is 404: past the permission check all the same.
    assert response.status_code < 400 or operation == "getActiveKey", response.get_json()
    assert response.status_code not in (401, 403)


@pytest.mark.parametrize(("operation", "method", "url", "body"), CALLS)
def test_read_only_token_may_read_but_not_write(
    seeded: FlaskClient, state: MockGraph, operation: str, method: str, url: str, body: Any
) -> None:
    before = state.state_document()
    response = call(seeded, method, url, body, token(roles=[READ]))
    if operation in READS:
        assert response.status_code not in (401, 403)
    else:
        assert_error(response, 403, "accessDenied", f"{operation} needs one of the application")
        assert READ_WRITE in response.get_json()["error"]["message"]
        assert state.state_document() == before


@pytest.mark.parametrize(("operation", "method", "url", "body"), CALLS)
def test_token_without_scp_or_roles_is_denied_everything(
    seeded: FlaskClient, operation: str, method: str, url: str, body: Any
) -> None:
    response = call(seeded, method, url, body, token())
    assert_error(response, 403, "accessDenied", "Insufficient privileges")
    message = response.get_json()["error"]["message"]
    assert "delegated permissions" in message and "application permissions" in message


def test_scopes_of_other_apis_do_not_count(client: FlaskClient) -> None:
    response = call(client, "GET", URL, None, token(scp="User.Read Directory.Read.All"))
    assert_error(response, 403, "accessDenied", f"delegated permissions {READ}, {READ_WRITE}")
    assert "application" not in response.get_json()["error"]["message"]


def test_token_expired_by_the_mocks_clock_is_401(client: FlaskClient, state: MockGraph) -> None:
    fresh = token(scp=READ_WRITE, expires_in=60)
    assert call(client, "GET", URL, None, fresh).status_code == 200
    state.clock.set(NOW + 61)
    expired = call(client, "GET", URL, None, fresh)
    assert_error(expired, 401, "InvalidAuthenticationToken", "the token is expired")


def test_token_not_yet_valid_is_401(client: FlaskClient) -> None:
    early = token(scp=READ_WRITE, claims={"nbf": NOW + 30})
    response = call(client, "GET", URL, None, early)
    assert_error(response, 401, "InvalidAuthenticationToken", "not yet valid")


@pytest.mark.parametrize(
    "audience", ["https://graph.microsoft.com/", "00000003-0000-0000-c000-000000000000"]
)
def test_both_graph_audiences_are_accepted(client: FlaskClient, audience: str) -> None:
    response = call(client, "GET", URL, None, token(scp=READ, audience=audience))
    assert response.status_code == 200


def test_token_for_another_audience_is_401(client: FlaskClient) -> None:
    response = call(client, "GET", URL, None, token(scp=READ, audience="api://my-api"))
    assert_error(response, 401, "InvalidAuthenticationToken", "Invalid audience")


@pytest.mark.parametrize("bad", ["a b.c.d", "eyJhbGciOiJub25lIn0.bm90IGpzb24.", "x..y"])
def test_malformed_jwt_is_401_and_the_answer_does_not_echo_it(
    client: FlaskClient, state: MockGraph, bad: str
) -> None:
    response = call(client, "POST", URL, {"id": "a"}, bad)
    assert_error(
        response, 401, "InvalidAuthenticationToken", "The access token is not valid: it does not"
    )
    assert bad not in response.get_data(as_text=True)
    assert len(state.stores["keySets"]) == 0


def test_opaque_token_is_still_allowed(client: FlaskClient) -> None:
    assert call(client, "POST", URL, {"id": "a"}, "opaque-token").status_code == 201


def test_require_jwt_refuses_opaque_tokens(contracts: Contracts) -> None:
    app = create_app(Config(clock=NOW, require_jwt=True), contracts=contracts)
    with app.test_client() as client:
        assert_error(
            call(client, "GET", URL, None, "opaque-token"),
            401,
            "InvalidAuthenticationToken",
            "must be a JWT",
        )
        assert call(client, "GET", URL, None, token(scp=READ)).status_code == 200


def test_check_permissions_off_lets_any_current_jwt_write(contracts: Contracts) -> None:
    app: Flask = create_app(Config(clock=NOW, check_permissions=False), contracts=contracts)
    with app.test_client() as client:
        created = call(client, "POST", URL, {"id": "a"}, token(scp="User.Read", audience="x"))
        assert created.status_code == 201
        expired = call(client, "GET", URL, None, token(scp=READ, expires_in=-1))
        assert_error(expired, 401, "InvalidAuthenticationToken", "expired")
    assert len(mockgraph(app).stores["keySets"]) == 1


def test_denied_request_is_journaled_with_its_status(client: FlaskClient, state: MockGraph) -> None:
    call(client, "POST", URL, {"id": "a"}, token(scp=READ))
    entry = state.journal.entries()[-1]
    assert (entry.status, entry.operation) == (403, "createKeySet")
    assert entry.headers["Authorization"] == "Bearer <redacted>"


def test_readme_a_read_only_token_may_list_but_not_create() -> None:
    app = create_app(Config())
    client = app.test_client()
    reader = {"Authorization": "Bearer " + make_token(scp="TrustFrameworkKeySet.Read.All")}
    assert client.get("/beta/trustFramework/keySets", headers=reader).status_code == 200
    response = client.post("/beta/trustFramework/keySets", json={"id": "x"}, headers=reader)
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "accessDenied"


def unsigned(payload: bytes) -> str:
    """An unsigned JWT with ``payload`` as given (``NaN``, ``1e400``: JSON that ``json.dumps``
    would not write)."""
    header = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
    return header + "." + base64.urlsafe_b64encode(payload).rstrip(b"=").decode() + "."


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        (
            b'{"scp": "%s", "exp": NaN}' % READ_WRITE.encode(),
            "the 'exp' claim is not a finite number",
        ),
        (
            b'{"scp": "%s", "exp": 1e400}' % READ_WRITE.encode(),
            "the 'exp' claim is not a finite number",
        ),
        (
            b'{"scp": "%s", "nbf": -1e400}' % READ_WRITE.encode(),
            "the 'nbf' claim is not a finite number",
        ),
        (
            b'{"scp": "%s", "nbf": 1800000100, "exp": 1800000050}' % READ_WRITE.encode(),
            "its 'nbf' is later than its 'exp'",
        ),
    ],
)
def test_a_token_with_an_impossible_lifetime_is_401_and_changes_nothing(
    client: FlaskClient, state: MockGraph, payload: bytes, why: str
) -> None:
    response = call(client, "POST", URL, {"id": "a"}, unsigned(payload))
    assert_error(
        response, 401, "InvalidAuthenticationToken", f"The access token is not valid: {why}."
    )
    assert len(state.stores["keySets"]) == 0


def test_verify_tokens_refuses_opaque_tokens_and_jwts_it_has_no_key_to_check(
    contracts: Contracts,
) -> None:
    app = create_app(Config(clock=NOW, verify_tokens=True), contracts=contracts)
    with app.test_client() as client:
        opaque = call(client, "POST", URL, {"id": "a"}, "opaque-token")
        assert_error(opaque, 401, "InvalidAuthenticationToken", "must be a JWT")
        # Anyone can mint a test token: without an authority key, no JWT can be trusted.
        minted = call(client, "POST", URL, {"id": "a"}, token(scp=READ_WRITE))
        assert_error(minted, 401, "InvalidAuthenticationToken", "The access token is not valid")
    assert len(mockgraph(app).stores["keySets"]) == 0
