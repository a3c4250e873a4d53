"""JSON batching: ``POST /beta/$batch`` through the app. Items go through the
same routes, validation, permissions, faults and journal as direct requests; a malformed batch
is refused whole, with nothing run."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from mockgraph import Config, create_app
from mockgraph.features.batch import MAX_REQUESTS
from mockgraph.features.tokens import make_token
from mockgraph.http.contracts import Contracts
from mockgraph.serve.live import MockGraphServer
from mockgraph.state import MockGraph, mockgraph

BATCH = "/beta/$batch"
KEYSETS = "/trustFramework/keySets"
JSON = {"Content-Type": "application/json"}
SECRET = "c2VjcmV0LXZhbHVlLW5ldmVyLWVjaG9lZA"


def create(item_id: str, keyset_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": item_id,
        "method": "POST",
        "url": KEYSETS,
        "headers": JSON,
        "body": {"id": keyset_id},
        **extra,
    }


def run(client: FlaskClient, *items: dict[str, Any], **kwargs: Any) -> dict[str, dict[str, Any]]:
    response = client.post(BATCH, json={"requests": list(items)}, **kwargs)
    assert response.status_code == 200, response.get_data(as_text=True)
    answers = response.get_json()["responses"]
    assert [a["id"] for a in answers] == [i["id"] for i in items]
    return {a["id"]: a for a in answers}


def refused(client: FlaskClient, body: Any) -> dict[str, Any]:
    response = client.post(BATCH, data=json.dumps(body), content_type="application/json")
    assert response.status_code == 400, response.get_data(as_text=True)
    error: dict[str, Any] = response.get_json()["error"]
    assert error["code"] == "invalidRequest"
    assert {"code", "message", "innerError"} <= set(error)
    return error


# -- running items --------------------------------------------------------------------------


def test_batch_runs_each_request_and_answers_each_status(client: FlaskClient) -> None:
    answers = run(
        client,
        create("1", "one"),
        {"id": "2", "method": "GET", "url": KEYSETS + "/B2C_1A_one", "dependsOn": ["1"]},
        {"id": "3", "method": "GET", "url": KEYSETS + "/B2C_1A_missing"},
    )
    assert answers["1"]["status"] == 201
    assert answers["1"]["headers"]["Location"] == "/trustFramework/keySets('B2C_1A_one')"
    assert answers["1"]["body"]["id"] == "B2C_1A_one"
    assert answers["2"]["status"] == 200
    assert answers["2"]["body"]["id"] == "B2C_1A_one"
    assert answers["3"]["status"] == 404
    assert answers["3"]["body"]["error"]["code"] == "itemNotFound"


def test_an_item_runs_after_its_dependency_even_when_listed_before_it(
    client: FlaskClient,
) -> None:
    answers = run(
        client,
        {"id": "get", "method": "GET", "url": KEYSETS + "/B2C_1A_later", "dependsOn": ["make"]},
        create("make", "later"),
    )
    assert answers["make"]["status"] == 201
    assert answers["get"]["status"] == 200


def test_an_item_whose_dependency_failed_gets_424_and_is_not_run(
    client: FlaskClient, state: MockGraph
) -> None:
    answers = run(
        client,
        {"id": "bad", "method": "POST", "url": KEYSETS, "headers": JSON, "body": {"nope": 1}},
        create("after", "after", dependsOn=["bad"]),
        create("after-after", "afterafter", dependsOn=["after"]),
        create("free", "free"),
    )
    assert answers["bad"]["status"] == 400
    for item_id in ("after", "after-after"):
        assert answers[item_id]["status"] == 424
        assert answers[item_id]["body"]["error"]["code"] == "failedDependency"
    assert answers["free"]["status"] == 201
    assert "B2C_1A_after" not in state.stores["keySets"]
    assert "B2C_1A_free" in state.stores["keySets"]


def test_an_item_not_run_answers_graphs_error_body_with_ids_of_its_own(
    client: FlaskClient,
) -> None:
    response = client.post(
        BATCH,
        json={
            "requests": [
                {"id": "missing", "method": "GET", "url": KEYSETS + "/B2C_1A_missing"},
                {"id": "mine", "method": "GET", "url": KEYSETS, "dependsOn": ["missing"],
                 "headers": {"client-request-id": "item-id"}},
                {"id": "plain", "method": "GET", "url": KEYSETS, "dependsOn": ["missing"]},
            ]
        },
        headers={"client-request-id": "batch-id"},
    )  # fmt: skip
    answers = {a["id"]: a for a in response.get_json()["responses"]}
    outer_id = response.headers["request-id"]
    for item_id, client_request_id in (("mine", "item-id"), ("plain", None)):
        answer = answers[item_id]
        assert answer["status"] == 424
        assert answer["headers"]["Content-Type"] == "application/json"
        error = answer["body"]["error"]
        assert set(error) == {"code", "message", "innerError"}
        assert error["code"] == "failedDependency"
        assert error["message"] == (
            f"Request '{item_id}' was not run: request 'missing', which it depends on, failed."
        )
        inner = error["innerError"]
        assert set(inner) == {"date", "request-id", "client-request-id"}
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", inner["date"])
        assert inner["request-id"] == answer["headers"]["request-id"] != outer_id
        expected = client_request_id or inner["request-id"]
        assert inner["client-request-id"] == answer["headers"]["client-request-id"] == expected
    assert answers["mine"]["headers"]["request-id"] != answers["plain"]["headers"]["request-id"]


@pytest.mark.parametrize("client_request_id", ["caf\u00e9", "\u2603", "tab\there", "nul\x00"])
def test_an_item_with_a_client_request_id_that_is_not_printable_ascii_gets_its_own_400(
    client: FlaskClient, state: MockGraph, client_request_id: str
) -> None:
    answers = run(
        client,
        create("bad", "bad", headers={**JSON, "client-request-id": client_request_id}),
        create("good", "good", headers={**JSON, "client-request-id": "fine-id"}),
    )
    assert answers["bad"]["status"] == 400
    error = answers["bad"]["body"]["error"]
    assert error["code"] == "invalidRequest"
    assert error["message"] == "The header 'client-request-id' must be printable ASCII text."
    assert client_request_id not in json.dumps(answers["bad"], ensure_ascii=False)
    assert answers["good"]["status"] == 201
    assert answers["good"]["headers"]["client-request-id"] == "fine-id"
    assert [k.id for k in state.stores["keySets"]] == ["B2C_1A_good"]


def test_items_are_validated_and_routed_like_direct_requests(client: FlaskClient) -> None:
    answers = run(
        client,
        {"id": "1", "method": "POST", "url": KEYSETS, "headers": JSON, "body": ["not", "obj"]},
        {"id": "2", "method": "GET", "url": "/nowhere"},
        {"id": "3", "method": "DELETE", "url": KEYSETS},
        {"id": "4", "method": "POST", "url": KEYSETS, "headers": {"Content-Type": "text/plain"},
         "body": "aGk="},
    )  # fmt: skip
    assert answers["1"]["status"] == 400
    assert answers["2"]["status"] == 404
    assert answers["3"]["status"] == 405
    assert answers["4"]["status"] == 415


def test_urls_may_omit_the_leading_slash_and_carry_a_query(client: FlaskClient) -> None:
    answers = run(
        client,
        create("a", "a"),
        create("b", "b"),
        {"id": "list", "method": "get", "url": "trustFramework/keySets?$top=1", "dependsOn": ["b"]},
    )
    page = answers["list"]["body"]
    assert len(page["value"]) == 1
    assert "@odata.nextLink" in page


def test_an_absolute_url_to_the_mock_itself_is_accepted(client: FlaskClient) -> None:
    answers = run(client, {"id": "1", "method": "GET", "url": "http://localhost/beta" + KEYSETS})
    assert answers["1"]["status"] == 200


def test_a_delete_item_has_a_status_and_no_body(client: FlaskClient) -> None:
    run(client, create("1", "gone"))
    answers = run(client, {"id": "1", "method": "DELETE", "url": KEYSETS + "/B2C_1A_gone"})
    assert answers["1"]["status"] == 204
    assert "body" not in answers["1"]


def test_item_headers_are_the_items_own_not_the_outer_answers(client: FlaskClient) -> None:
    response = client.post(
        BATCH,
        json={"requests": [create("1", "hdr", headers={**JSON, "client-request-id": "mine"})]},
        headers={"Origin": "http://localhost:3000"},
    )
    assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    (answer,) = response.get_json()["responses"]
    names = {name.lower() for name in answer["headers"]}
    assert "content-length" not in names
    assert "vary" not in names
    assert not any(name.startswith("access-control-") for name in names)
    assert answer["headers"]["client-request-id"] == "mine"
    assert answer["headers"]["request-id"] != response.headers["request-id"]


def test_exactly_the_limit_of_requests_is_accepted(client: FlaskClient) -> None:
    items = [{"id": str(i), "method": "GET", "url": KEYSETS} for i in range(MAX_REQUESTS)]
    assert len(run(client, *items)) == MAX_REQUESTS


# -- permissions, faults, journal, secrets ---------------------------------------------------


def test_the_batch_itself_needs_a_bearer_token(app: Flask) -> None:
    response = app.test_client().post(BATCH, json={"requests": [create("1", "x")]})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "InvalidAuthenticationToken"
    assert len(mockgraph(app).stores["keySets"]) == 0


def test_every_item_runs_with_the_batchs_token_and_not_its_own(app: Flask) -> None:
    reader = "Bearer " + make_token(scp="TrustFrameworkKeySet.Read.All")
    writer = "Bearer " + make_token(scp="TrustFrameworkKeySet.ReadWrite.All")
    client = app.test_client()
    answers = run(
        client,
        {"id": "read", "method": "GET", "url": KEYSETS},
        create("write", "w", headers={**JSON, "Authorization": writer}),
        headers={"Authorization": reader},
    )
    assert answers["read"]["status"] == 200
    assert answers["write"]["status"] == 403
    assert answers["write"]["body"]["error"]["code"] == "accessDenied"


def test_an_item_can_carry_its_own_fault_header(client: FlaskClient) -> None:
    answers = run(
        client,
        {"id": "1", "method": "GET", "url": KEYSETS,
         "headers": {"X-MockGraph-Fault": "429 retry-after=3"}},
        {"id": "2", "method": "GET", "url": KEYSETS},
    )  # fmt: skip
    assert answers["1"]["status"] == 429
    assert answers["1"]["headers"]["Retry-After"] == "3"
    assert answers["1"]["body"]["error"]["code"] == "TooManyRequests"
    assert answers["2"]["status"] == 200


def test_fault_rules_count_batch_items_as_requests(contracts: Contracts) -> None:
    app = create_app(Config(faults=("next 1 createKeySet -> 503",)), contracts=contracts)
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = "Bearer t"
    answers = run(client, create("1", "first"), create("2", "second"))
    assert answers["1"]["status"] == 503
    assert answers["2"]["status"] == 201


def test_the_journal_keeps_the_batch_and_each_item(client: FlaskClient, state: MockGraph) -> None:
    run(client, create("1", "j"), {"id": "2", "method": "GET", "url": KEYSETS})
    entries = state.journal.entries()
    assert [(e.method, e.operation, e.status) for e in entries] == [
        ("POST", "createKeySet", 201),
        ("GET", "listKeySets", 200),
        ("POST", "batch", 200),
    ]


def test_secrets_in_item_bodies_are_not_echoed(client: FlaskClient, state: MockGraph) -> None:
    upload = KEYSETS + "/B2C_1A_s/uploadSecret"
    response = client.post(
        BATCH,
        json={
            "requests": [
                create("1", "s"),
                {"id": "2", "method": "POST", "url": upload, "headers": JSON,
                 "body": {"use": "sig", "k": SECRET}, "dependsOn": ["1"]},
                {"id": "3", "method": "POST", "url": upload, "headers": JSON,
                 "body": {"use": "sig", "k": SECRET, "extra": 1}, "dependsOn": ["1"]},
                {"id": "4", "method": "POST", "url": upload, "headers": JSON,
                 "body": {"use": 5, "k": SECRET}, "dependsOn": ["1"]},
            ]
        },
    )  # fmt: skip
    answers = {a["id"]: a for a in response.get_json()["responses"]}
    assert [answers[i]["status"] for i in "1234"] == [201, 200, 400, 400]
    assert SECRET not in response.get_data(as_text=True)
    for entry in state.journal.entries():
        assert SECRET not in json.dumps(entry.to_json())


# -- malformed batches ----------------------------------------------------------------------

GET = {"id": "ok", "method": "GET", "url": KEYSETS}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([GET], "must be a JSON object"),
        ({}, "'requests' array"),
        ({"requests": {"id": "1"}}, "'requests' array"),
        ({"requests": [GET], "extra": 1}, "unknown member 'extra'"),
        ({"requests": []}, "at least one request"),
        ({"requests": ["GET /x"]}, "of the batch must be a JSON object"),
        ({"requests": [{**GET, "verb": "GET"}]}, "unknown member 'verb'"),
        ({"requests": [{"method": "GET", "url": KEYSETS}]}, "non-empty string 'id'"),
        ({"requests": [{**GET, "id": 1}]}, "non-empty string 'id'"),
        ({"requests": [GET, {**GET, "method": "POST"}]}, "more than one request with id 'ok'"),
        ({"requests": [{"id": "1", "url": KEYSETS}]}, "must have a 'method'"),
        ({"requests": [{**GET, "method": "HEAD"}]}, "has the method 'HEAD'"),
        ({"requests": [{"id": "1", "method": "GET"}]}, "must have a 'url'"),
        ({"requests": [{**GET, "url": "https://evil.example/beta" + KEYSETS}]}, "another host"),
        ({"requests": [{**GET, "url": "//evil.example/beta" + KEYSETS}]}, "another host"),
        ({"requests": [{**GET, "url": "http://localhost/v1.0" + KEYSETS}]}, "version root"),
        ({"requests": [{**GET, "method": "POST", "url": "/$batch"}]}, "cannot be nested"),
        ({"requests": [{**GET, "method": "POST", "url": "%24batch"}]}, "cannot be nested"),
        ({"requests": [{**GET, "method": "POST", "body": {"id": "x"}}]}, "no 'Content-Type'"),
        ({"requests": [{**GET, "headers": ["Accept"]}]}, "'headers' that are not"),
        ({"requests": [{**GET, "headers": {"Accept": 1}}]}, "header 'Accept'"),
        ({"requests": [{**GET, "headers": {" ": "x"}}]}, "a header without a name"),
        (
            {"requests": [{**GET, "headers": {"Content-Type": "text/plain"}, "body": "%%"}]},
            "not base64",
        ),
        ({"requests": [{**GET, "dependsOn": ["ghost"]}]}, "depends on 'ghost'"),
        ({"requests": [{**GET, "dependsOn": "ok"}]}, "'dependsOn' that is not an array"),
        ({"requests": [{**GET, "dependsOn": ["ok"]}]}, "forms a cycle"),
        (
            {"requests": [{**GET, "dependsOn": ["b"]}, {**GET, "id": "b", "dependsOn": ["ok"]}]},
            "forms a cycle",
        ),
    ],
)
def test_a_malformed_batch_is_refused_whole_and_nothing_runs(
    client: FlaskClient, state: MockGraph, body: Any, message: str
) -> None:
    if isinstance(body, dict) and isinstance(body.get("requests"), list) and body["requests"]:
        # A valid create first: it must not run when a later item is malformed.
        body = {**body, "requests": [create("first", "first"), *body["requests"]]}
    error = refused(client, body)
    assert message in error["message"]
    assert len(state.stores["keySets"]) == 0


def test_more_than_the_limit_of_requests_is_refused(client: FlaskClient, state: MockGraph) -> None:
    items = [create(str(i), f"k{i}") for i in range(MAX_REQUESTS + 1)]
    error = refused(client, {"requests": items})
    assert f"at most {MAX_REQUESTS}" in error["message"]
    assert len(state.stores["keySets"]) == 0


def test_a_batch_that_is_not_json_is_refused(client: FlaskClient) -> None:
    assert client.post(BATCH, data="x", content_type="text/plain").status_code == 415
    response = client.post(BATCH, data="{", content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalidRequest"


def test_get_on_batch_is_405(client: FlaskClient) -> None:
    response = client.get(BATCH)
    assert response.status_code == 405
    assert response.get_json()["error"]["code"] == "notAllowed"


def test_readme_batch_example() -> None:
    # Twin of the README's "$batch" snippet: keep the two identical.
    with MockGraphServer() as server:
        answer = requests.post(
            server.url + "/$batch",
            headers={"Authorization": "Bearer any-token"},
            json={
                "requests": [
                    {"id": "1", "method": "POST", "url": "/trustFramework/keySets",
                     "headers": {"Content-Type": "application/json"}, "body": {"id": "signing"}},
                    {"id": "2", "method": "POST",
                     "url": "/trustFramework/keySets/B2C_1A_signing/generateKey",
                     "headers": {"Content-Type": "application/json"},
                     "body": {"use": "sig", "kty": "RSA"}, "dependsOn": ["1"]},
                ]
            },
        ).json()  # fmt: skip
        assert [r["status"] for r in answer["responses"]] == [201, 200]
