"""The control API under /_mockgraph/: reset, the journal, state dump and load, health and the
clock; no token needed, never under /beta, every bad input a Graph-shaped error that changes
nothing."""

from __future__ import annotations

import json
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from graph_errors import assert_graph_error
from werkzeug.test import TestResponse

from mockgraph import Config, Key, KeySet, MockGraphServer, create_app
from mockgraph.features.redact import REDACTED
from mockgraph.http.contracts import Contracts
from mockgraph.state import MockGraph, mockgraph

KEYSETS = "/beta/trustFramework/keySets"
SECRET = "dGhlLXNlY3JldC12YWx1ZQ"


def create(client: FlaskClient, keyset_id: str) -> TestResponse:
    return client.post(KEYSETS, json={"id": keyset_id})


@pytest.fixture(scope="module")
def module_app(contracts: Contracts) -> Flask:
    return create_app(Config(), contracts=contracts)


@pytest.fixture
def app(module_app: Flask) -> Flask:
    """One app for the module (building one costs tens of ms), reset before each test."""
    mockgraph(module_app).reset()
    return module_app


@pytest.fixture
def anonymous(app: Flask) -> FlaskClient:
    """A client with no Authorization header."""
    return app.test_client()


# -- health and where the API lives -------------------------------------------------------------


def test_health_answers_without_a_token(anonymous: FlaskClient, state: MockGraph) -> None:
    state.stores["keySets"].load([KeySet("B2C_1A_a")])
    response = anonymous.get("/_mockgraph/health")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == {"status": "ok", "keySets": 1}


def test_the_control_api_is_not_under_the_graph_base_path(client: FlaskClient) -> None:
    assert_graph_error(client.get("/beta/_mockgraph/health"), 404, "itemNotFound", "")
    assert_graph_error(client.post("/beta/_mockgraph/reset"), 404, "itemNotFound", "")


def test_a_wrong_method_is_a_graph_405(anonymous: FlaskClient) -> None:
    response = anonymous.get("/_mockgraph/reset")
    assert_graph_error(response, 405, "notAllowed", "not allowed")
    assert response.headers["Allow"] == "OPTIONS, POST"


# -- reset ------------------------------------------------------------------------------------


def test_reset_empties_store_and_journal_and_returns_the_clock(
    client: FlaskClient, state: MockGraph
) -> None:
    create(client, "a")
    state.clock.set(5.0)
    response = client.post("/_mockgraph/reset")
    assert response.status_code == 204
    assert response.get_data() == b""
    assert len(state.stores["keySets"]) == 0
    assert client.get("/_mockgraph/requests").get_json() == {"requests": []}
    assert state.clock.now() > 1_600_000_000
    assert create(client, "a").status_code == 201


def test_reset_returns_to_the_key_sets_of_the_state_file(
    tmp_path: Path, contracts: Contracts
) -> None:
    path = tmp_path / "seed.json"
    path.write_text(json.dumps({"keySets": [{"id": "B2C_1A_seeded", "keys": []}]}), "utf-8")
    app = create_app(Config(state=path), contracts=contracts)
    client = app.test_client()
    client.delete(KEYSETS + "/B2C_1A_seeded", headers={"Authorization": "Bearer t"})
    assert len(mockgraph(app).stores["keySets"]) == 0
    client.post("/_mockgraph/reset")
    assert [k.id for k in mockgraph(app).stores["keySets"]] == ["B2C_1A_seeded"]


def test_reset_restarts_the_fault_counters(contracts: Contracts) -> None:
    app = create_app(Config(faults=("every 2nd createKeySet -> 503",)), contracts=contracts)
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = "Bearer t"
    assert create(client, "one").status_code == 201
    client.post("/_mockgraph/reset")
    assert create(client, "two").status_code == 201  # the count started again
    assert create(client, "three").status_code == 503


# -- the journal ------------------------------------------------------------------------------


def test_requests_lists_the_journal_oldest_first_with_secrets_redacted(
    client: FlaskClient,
) -> None:
    create(client, "a")
    client.post(KEYSETS + "/B2C_1A_a/uploadSecret", json={"use": "sig", "k": SECRET})
    body = client.get("/_mockgraph/requests").get_json()
    first, second = body["requests"]
    assert (first["method"], first["path"], first["status"]) == ("POST", KEYSETS, 201)
    assert first["operation"] == "createKeySet"
    assert first["headers"]["Authorization"] == f"Bearer {REDACTED}"
    assert first["violations"] == []
    assert second["operation"] == "uploadSecret"
    assert second["body"] == {"use": "sig", "k": REDACTED}
    assert SECRET not in json.dumps(body)
    assert "test-token" not in json.dumps(body)


def test_control_calls_are_not_journaled(client: FlaskClient) -> None:
    create(client, "a")
    client.get("/_mockgraph/health")
    client.get("/_mockgraph/requests")
    paths = [e["path"] for e in client.get("/_mockgraph/requests").get_json()["requests"]]
    assert paths == [KEYSETS]


def test_requests_filters_by_operation_method_and_limit(client: FlaskClient) -> None:
    for name in ("a", "b", "c"):
        create(client, name)
    client.get(KEYSETS)
    client.get(KEYSETS + "/B2C_1A_a")

    def ops(query: str) -> list[Any]:
        got = client.get("/_mockgraph/requests" + query).get_json()["requests"]
        return [(e["operation"], e["body"]) for e in got]

    assert ops("?operation=createKeySet&limit=2") == [
        ("createKeySet", {"id": "b"}),
        ("createKeySet", {"id": "c"}),
    ]
    assert ops("?method=get") == [("listKeySets", None), ("getKeySet", None)]
    assert ops("?limit=1") == [("getKeySet", None)]
    assert ops("?limit=0") == []
    assert len(ops("?limit=99")) == 5


@pytest.mark.parametrize(
    "query",
    ["?limit=-1", "?limit=two", "?limit=1.5", "?limit=", "?limit=%C2%B2", "?limit=%D9%A3"],
)
def test_a_bad_limit_is_a_400(client: FlaskClient, query: str) -> None:
    response = client.get("/_mockgraph/requests" + query)
    assert_graph_error(response, 400, "invalidRequest", "'limit' must be a whole number")


def test_an_unknown_query_parameter_is_a_400(client: FlaskClient) -> None:
    response = client.get("/_mockgraph/requests?operations=createKeySet")
    assert_graph_error(response, 400, "invalidRequest", "'operations' is not supported")


def test_delete_requests_clears_the_journal_only(client: FlaskClient, state: MockGraph) -> None:
    create(client, "a")
    assert client.delete("/_mockgraph/requests").status_code == 204
    assert client.get("/_mockgraph/requests").get_json() == {"requests": []}
    assert len(state.stores["keySets"]) == 1


# -- state dump and load ----------------------------------------------------------------------

SIGNING = KeySet(
    "B2C_1A_signing",
    (Key(kid="s", kty="oct", use="sig", k=SECRET, nbf=1, exp=2),
     Key(kid="r", kty="RSA", use="sig", n="bg", e="AQAB", d="ZA", x5c=("QUJD",))),
)  # fmt: skip


def test_get_state_redacts_secrets_by_default(client: FlaskClient, state: MockGraph) -> None:
    state.stores["keySets"].load([SIGNING])
    response = client.get("/_mockgraph/state")
    assert response.status_code == 200
    body = response.get_json()
    keys = body["keySets"][0]["keys"]
    assert keys[0]["k"] == REDACTED
    assert keys[1]["d"] == REDACTED
    assert keys[1]["n"] == "bg"
    assert SECRET not in response.get_data(as_text=True)


def test_get_state_with_secrets_is_a_file_that_loads_back(
    client: FlaskClient, state: MockGraph
) -> None:
    state.stores["keySets"].load([SIGNING, KeySet("B2C_1A_empty")])
    dump = client.get("/_mockgraph/state?secrets=true").get_json()
    assert dump == {
        "keySets": [
            {"id": "B2C_1A_empty", "keys": []},
            {"id": "B2C_1A_signing", "keys": [
                {"kid": "s", "kty": "oct", "use": "sig", "k": SECRET, "nbf": 1, "exp": 2},
                {"kid": "r", "kty": "RSA", "use": "sig", "x5c": ["QUJD"], "e": "AQAB", "d": "ZA",
                 "n": "bg"},
            ]},
        ]
    }  # fmt: skip
    client.post("/_mockgraph/reset")
    assert client.post("/_mockgraph/state", json=dump).status_code == 204
    assert list(state.stores["keySets"]) == [KeySet("B2C_1A_empty"), SIGNING]


def test_a_bad_secrets_flag_is_a_400(client: FlaskClient) -> None:
    response = client.get("/_mockgraph/state?secrets=please")
    assert_graph_error(response, 400, "invalidRequest", "'secrets' must be true or false")


def test_post_state_replaces_every_key_set(client: FlaskClient, state: MockGraph) -> None:
    create(client, "old")
    document = {"keySets": [{"id": "new", "keys": [{"kid": "k", "kty": "oct", "k": SECRET}]}]}
    assert client.post("/_mockgraph/state", json=document).status_code == 204
    listed = client.get(KEYSETS).get_json()["value"]
    assert listed == [{"id": "B2C_1A_new", "keys": [{"kid": "k", "kty": "oct"}]}]
    assert state.stores["keySets"].get("B2C_1A_new").keys[0].k == SECRET


@pytest.mark.parametrize(
    ("document", "part"),
    [
        ({"keySets": [{"id": "ok"}, {"id": "OK"}]}, "keySets[1].id: duplicate id"),
        (
            {"keySets": [{"id": "x", "keys": [{"nbf": "soon"}]}]},
            "keySets[0].keys[0].nbf: not a valid integer",
        ),
        ({"keySets": [{"id": "x", "keys": [{"k": REDACTED}]}]}, "keys[0].k: is redacted"),
        ({"keysets": []}, "unknown member 'keysets'"),
        ([], "The request body must be a JSON object."),
    ],
)
def test_a_bad_state_document_is_a_400_and_changes_nothing(
    client: FlaskClient, state: MockGraph, document: Any, part: str
) -> None:
    create(client, "kept")
    response = client.post("/_mockgraph/state", json=document)
    assert_graph_error(response, 400, "invalidRequest", part)
    assert [k.id for k in state.stores["keySets"]] == ["B2C_1A_kept"]


def test_a_redacted_dump_cannot_be_loaded_back(client: FlaskClient, state: MockGraph) -> None:
    state.stores["keySets"].load([SIGNING])
    dump = client.get("/_mockgraph/state").get_json()
    response = client.post("/_mockgraph/state", json=dump)
    assert_graph_error(response, 400, "invalidRequest", "keySets[0].keys[0].k: is redacted")
    assert list(state.stores["keySets"]) == [SIGNING]


def test_post_state_needs_a_json_body(client: FlaskClient) -> None:
    assert_graph_error(
        client.post("/_mockgraph/state", data="{}", content_type="text/plain"),
        415,
        "notSupported",
        "application/json",
    )
    assert_graph_error(
        client.post("/_mockgraph/state", data="{", content_type="application/json"),
        400,
        "invalidRequest",
        "not valid JSON",
    )


# -- the clock --------------------------------------------------------------------------------


def test_get_clock_is_the_wall_clock_by_default(client: FlaskClient) -> None:
    before = time.time()
    body = client.get("/_mockgraph/clock").get_json()
    assert before <= body["now"] <= time.time()
    assert body["iso"].endswith("Z")


@pytest.mark.parametrize(
    ("value", "seconds", "iso"),
    [
        (1_900_000_000, 1_900_000_000.0, "2030-03-17T17:46:40Z"),
        (1.5, 1.5, "1970-01-01T00:00:01Z"),
        ("2030-01-01T00:00:00Z", 1_893_456_000.0, "2030-01-01T00:00:00Z"),
        ("2030-01-01T02:00:00+02:00", 1_893_456_000.0, "2030-01-01T00:00:00Z"),
        ("2030-01-01T00:00:00", 1_893_456_000.0, "2030-01-01T00:00:00Z"),  # no offset: UTC
        ("2030-01-01", 1_893_456_000.0, "2030-01-01T00:00:00Z"),
    ],
)
def test_post_clock_freezes_the_clock(
    client: FlaskClient, state: MockGraph, value: Any, seconds: float, iso: str
) -> None:
    response = client.post("/_mockgraph/clock", json={"now": value})
    assert response.status_code == 200
    assert response.get_json() == {"now": seconds, "iso": iso}
    assert state.clock.now() == seconds
    assert client.get("/_mockgraph/clock").get_json() == {"now": seconds, "iso": iso}


def test_null_returns_to_the_wall_clock(client: FlaskClient, state: MockGraph) -> None:
    client.post("/_mockgraph/clock", json={"now": 5})
    body = client.post("/_mockgraph/clock", json={"now": None}).get_json()
    assert abs(body["now"] - time.time()) < 60
    assert abs(state.clock.now() - datetime.now(UTC).timestamp()) < 60


@pytest.mark.parametrize(
    ("body", "part"),
    [
        ({}, "The property 'now' is required."),
        ({"now": 1, "tz": "UTC"}, "The property 'tz' does not exist on the clock."),
        ({"now": True}, "must be a number of seconds, an ISO 8601 string or null"),
        ({"now": [1]}, "must be a number of seconds, an ISO 8601 string or null"),
        ({"now": "tomorrow"}, "is not an ISO 8601 date-time"),
        ({"now": 1e20}, "out of range"),
        ({"now": -1e20}, "out of range"),
    ],
)
def test_a_bad_clock_is_a_400_and_leaves_the_clock(
    client: FlaskClient, state: MockGraph, body: Any, part: str
) -> None:
    client.post("/_mockgraph/clock", json={"now": 77})
    assert_graph_error(client.post("/_mockgraph/clock", json=body), 400, "invalidRequest", part)
    assert state.clock.now() == 77


def test_the_clock_decides_which_key_get_active_key_answers(
    client: FlaskClient, state: MockGraph
) -> None:
    old = Key(kid="old", kty="oct", use="sig", k=SECRET, nbf=1_000, exp=2_000)
    new = Key(kid="new", kty="oct", use="sig", k=SECRET, nbf=1_500, exp=3_000)
    state.stores["keySets"].load([KeySet("B2C_1A_rolling", (old, new))])
    url = KEYSETS + "/B2C_1A_rolling/getActiveKey"
    for now, kid in ((1_200, "old"), (1_600, "new"), (2_500, "new")):
        client.post("/_mockgraph/clock", json={"now": now})
        assert client.get(url).get_json()["kid"] == kid
    client.post("/_mockgraph/clock", json={"now": "1970-01-01T01:00:00Z"})  # 3600: none
    assert client.get(url).status_code == 404


# -- the README's "inspect what a frontend sent" snippet, against a live server ------------------


def curl(method: str, url: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
    """``curl -s -X METHOD URL [-H 'Authorization: Bearer ...'] [-d BODY]``."""
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as answer:
        raw = answer.read()
        return answer.status, json.loads(raw) if raw else None


def test_readme_inspect_what_a_frontend_sent(
    tmp_path: Path, contracts: Contracts, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `mockgraph serve --state keysets.json`, as a live server of this process.
    examples = Path(__file__).parents[1] / "examples" / "keysets.json"
    monkeypatch.setattr(Contracts, "load", classmethod(lambda cls, directory=None: contracts))
    with MockGraphServer(Config(state=examples)) as server:
        root = server.root_url
        # The frontend's call:
        curl("POST", server.url + KEYSETS.removeprefix("/beta") + "/B2C_1A_signing/uploadSecret",
             {"use": "enc", "k": "frontend-secret"}, token="frontend-token")  # fmt: skip
        status, sent = curl("GET", root + "/_mockgraph/requests?limit=5")
        assert status == 200
        (entry,) = sent["requests"]
        assert (entry["operation"], entry["status"]) == ("uploadSecret", 200)
        assert entry["body"] == {"use": "enc", "k": REDACTED}
        assert entry["headers"]["Authorization"] == f"Bearer {REDACTED}"
        status, clock = curl("POST", root + "/_mockgraph/clock", {"now": "2030-06-01T00:00:00Z"})
        assert clock["iso"] == "2030-06-01T00:00:00Z"
        assert curl("POST", root + "/_mockgraph/reset")[0] == 204
        assert [len(k.keys) for k in server.store] == [2]  # back to keysets.json
        assert server.requests == []
