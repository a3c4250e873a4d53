"""The OpenAPI 3.1 document served at ``/_mockgraph/openapi.json``."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from mockgraph import Config, create_app
from mockgraph.config import BASE_PATH
from mockgraph.features import openapi
from mockgraph.features.auth import permission_table
from mockgraph.features.tokens import make_token
from mockgraph.http.contracts import Contracts, compile_contract
from mockgraph.http.rendering import no_content
from mockgraph.http.routing import Operation
from mockgraph.resources import RESOURCES
from mockgraph.resources.keysets.models import SECRET_FIELDS
from mockgraph.state import mockgraph

DOC_URI = "urn:mockgraph:openapi"
OPERATIONS = {op.id: op for resource in RESOURCES for op in resource.operations}


def build(
    contracts: Contracts,
    operations: list[Operation] | None = None,
    config: Config | None = None,
    examples: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The document of ``operations`` (default: every operation of the mock)."""
    chosen = list(OPERATIONS.values()) if operations is None else operations
    return openapi.build_document(
        chosen, contracts, permission_table(chosen, contracts), config, examples or []
    )


@pytest.fixture
def document(client: FlaskClient) -> dict[str, Any]:
    answer = client.get(openapi.DOCUMENT_PATH)
    assert answer.status_code == 200
    body: dict[str, Any] = answer.get_json()
    return body


def operations(document: Mapping[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method != "parameters":
                yield path, method, operation


def validator(document: Mapping[str, Any], pointer: str) -> Draft202012Validator:
    """A validator for the schema at ``pointer`` (``/components/...``) of ``document``."""
    registry: Registry[Any] = Registry().with_resource(
        DOC_URI, Resource.from_contents(dict(document), default_specification=DRAFT202012)
    )
    return Draft202012Validator({"$ref": DOC_URI + "#" + pointer}, registry=registry)


def success_schema(document: Mapping[str, Any], operation_id: str) -> Draft202012Validator:
    for _, _, operation in operations(document):
        if operation["operationId"] == operation_id:
            for status, response in operation["responses"].items():
                if status[0] == "2":
                    ref = response["content"]["application/json"]["schema"]["$ref"]
                    return validator(document, ref[1:])
    raise AssertionError(f"no operation {operation_id}")


def test_document_is_served_without_a_token(app: Flask) -> None:
    answer = app.test_client().get(openapi.DOCUMENT_PATH)
    assert answer.status_code == 200
    assert answer.mimetype == "application/json"
    assert answer.get_json()["openapi"] == "3.1.0"


def test_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    errors = [e.message for e in OpenAPIV31SpecValidator(document).iter_errors()]
    assert errors == []


def test_every_contract_is_an_operation_with_its_success_status(
    document: dict[str, Any], contracts: Contracts
) -> None:
    documented = {
        op["x-mockgraph-operation"]: (method.upper(), path, set(op["responses"]))
        for path, method, op in operations(document)
        if op["operationId"] == op["x-mockgraph-operation"]
    }
    expected = {
        c.operation: (c.method, c.path, {str(c.status), "4XX", "5XX"}) for c in contracts.values()
    }
    assert documented == expected


def test_update_is_documented_as_put_and_as_the_sdks_patch(document: dict[str, Any]) -> None:
    item = document["paths"]["/trustFramework/keySets/{id}"]
    assert item["put"]["operationId"] == "updateKeySet"
    assert item["patch"]["operationId"] == "updateKeySetPatch"
    assert item["patch"]["requestBody"] == item["put"]["requestBody"]


def test_every_documented_operation_is_routed_to_its_view(
    app: Flask, document: dict[str, Any]
) -> None:
    adapter = app.url_map.bind("localhost")
    for path, method, operation in operations(document):
        url = BASE_PATH + path.replace("{id}", "B2C_1A_x").replace("{kid}", "k1")
        endpoint, _ = adapter.match(url, method=method.upper())
        assert endpoint == operation["x-mockgraph-operation"], (method, path)


def test_every_reference_resolves_inside_the_document(document: dict[str, Any]) -> None:
    def refs(value: Any) -> Iterator[str]:
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "$ref":
                    yield item
                else:
                    yield from refs(item)
        elif isinstance(value, list):
            for item in value:
                yield from refs(item)

    found = list(refs(document))
    assert found
    for ref in found:
        assert ref.startswith("#/components/"), ref
        node: Any = document
        for part in ref[2:].split("/"):
            node = node[part]


def test_servers_name_the_beta_base_of_the_serving_host(document: dict[str, Any]) -> None:
    # Relative, so it resolves against wherever the document was fetched (any port).
    assert document["servers"][0]["url"] == BASE_PATH


def test_created_key_set_conforms_to_the_documented_response(
    client: FlaskClient, document: dict[str, Any]
) -> None:
    answer = client.post("/beta/trustFramework/keySets", json={"id": "docs"})
    assert answer.status_code == 201
    assert list(success_schema(document, "createKeySet").iter_errors(answer.get_json())) == []


def test_error_answer_conforms_to_the_documented_error_body(
    client: FlaskClient, document: dict[str, Any]
) -> None:
    answer = client.get("/beta/trustFramework/keySets/B2C_1A_missing")
    assert answer.status_code == 404
    check = validator(document, "/components/schemas/" + openapi.ERROR_SCHEMA)
    assert list(check.iter_errors(answer.get_json())) == []
    assert list(check.iter_errors({"error": {"code": "x"}})) != []


def test_secret_members_appear_in_no_response_example(document: dict[str, Any]) -> None:
    def keys(value: Any) -> Iterator[str]:
        if isinstance(value, dict):
            for key, item in value.items():
                yield key
                yield from keys(item)
        elif isinstance(value, list):
            for item in value:
                yield from keys(item)

    shown = 0
    for _, _, operation in operations(document):
        for status, response in operation["responses"].items():
            media = response.get("content", {}).get("application/json", {})
            for example in media.get("examples", {}).values():
                shown += 1
                assert not SECRET_FIELDS & set(keys(example["value"])), (status, example)
    assert shown > 0


def test_every_example_conforms_to_its_schema(document: dict[str, Any]) -> None:
    checked = 0
    for _, _, operation in operations(document):
        media_types = [operation.get("requestBody", {}).get("content", {})]
        media_types += [r.get("content", {}) for r in operation["responses"].values()]
        for content in media_types:
            media = content.get("application/json", {})
            for name, example in media.get("examples", {}).items():
                check = validator(document, media["schema"]["$ref"][1:])
                assert list(check.iter_errors(example["value"])) == [], name
                checked += 1
    assert checked > 0


def upload_secret_examples(contracts: Contracts, request: Any, response: Any) -> dict[str, Any]:
    example = {
        "name": "ex",
        "operation": "uploadSecret",
        "documented": True,
        "request": {"body": request},
        "response": {"status": 200, "body": response},
    }
    document = build(contracts, [OPERATIONS["uploadSecret"]], examples=[example])
    operation = document["paths"]["/trustFramework/keySets/{id}/uploadSecret"]["post"]
    return {
        "request": operation["requestBody"]["content"]["application/json"].get("examples"),
        "response": operation["responses"]["200"]["content"]["application/json"].get("examples"),
    }


def test_response_example_is_shown_without_its_write_only_secret(contracts: Contracts) -> None:
    shown = upload_secret_examples(
        contracts, {"use": "sig", "k": "c2VjcmV0"}, {"kid": "k1", "kty": "oct", "k": "c2VjcmV0"}
    )
    assert shown["request"]["ex"]["value"] == {"use": "sig", "k": "c2VjcmV0"}
    assert shown["response"]["ex"]["value"] == {"kid": "k1", "kty": "oct"}


def test_example_with_a_docs_placeholder_is_left_out(contracts: Contracts) -> None:
    shown = upload_secret_examples(
        contracts, {"use": "sig", "k": "k-value"}, {"kid": "kid-value", "kty": "oct"}
    )
    assert shown == {"request": None, "response": None}


def test_example_that_breaks_its_contract_is_left_out(contracts: Contracts) -> None:
    shown = upload_secret_examples(contracts, {"use": "both", "k": "c2VjcmV0"}, {"kid": 7})
    assert shown == {"request": None, "response": None}


def test_recorded_exchanges_are_not_served_as_documented_examples(tmp_path: Any) -> None:
    (tmp_path / "recorded.json").write_text('{"name": "r", "documented": false}')
    (tmp_path / "documented.json").write_text('{"name": "d", "documented": true}')
    assert [e["name"] for e in openapi.load_examples(tmp_path)] == ["d"]


def test_definitions_that_differ_between_contracts_are_kept_apart(
    contracts: Contracts,
) -> None:
    original = contracts["getKeySet"].schema
    changed = copy.deepcopy(dict(original))
    changed["x-mockgraph"] = {**original["x-mockgraph"], "operation": "getOther", "path": "/x/{id}"}
    changed["$defs"]["microsoft.graph.trustFrameworkKey.read"]["properties"]["kid"] = {
        "type": "integer"
    }
    other = Operation("getOther", ("GET",), "/x/{id}", lambda call: no_content())
    both = Contracts([compile_contract(changed), contracts["getKeySet"]])
    # The first contract (by path) keeps the plain names.
    document = build(both, [other, OPERATIONS["getKeySet"]])
    schemas = document["components"]["schemas"]
    assert "microsoft.graph.trustFrameworkKey.read" in schemas
    assert "getOther.microsoft.graph.trustFrameworkKey.read" in schemas
    # The key set that reaches the changed key is renamed too, so no reference crosses over.
    other = schemas["getOther.microsoft.graph.trustFrameworkKeySet.read"]
    assert other["properties"]["keys"]["items"]["$ref"].endswith(
        "/getOther.microsoft.graph.trustFrameworkKey.read"
    )


def test_list_options_follow_the_config(contracts: Contracts) -> None:
    document = build(contracts, config=Config(max_page_size=50))
    parameters = document["paths"]["/trustFramework/keySets"]["get"]["parameters"]
    top = next(p for p in parameters if p["name"] == "$top")
    assert top["schema"]["maximum"] == 50
    assert {p["name"] for p in parameters} == {
        "$top",
        "$skip",
        "$skiptoken",
        "$select",
        "$orderby",
        "$filter",
        "$count",
    }


def test_security_names_the_permissions_each_operation_accepts(
    document: dict[str, Any],
) -> None:
    by_id = {op["operationId"]: op for _, _, op in operations(document)}
    assert by_id["listKeySets"]["security"] == [
        {"bearer": ["TrustFrameworkKeySet.Read.All"]},
        {"bearer": ["TrustFrameworkKeySet.ReadWrite.All"]},
    ]
    assert by_id["createKeySet"]["security"] == [{"bearer": ["TrustFrameworkKeySet.ReadWrite.All"]}]
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_without_auth_the_document_allows_anonymous_calls(contracts: Contracts) -> None:
    document = build(contracts, config=Config(require_auth=False))
    listing = document["paths"]["/trustFramework/keySets"]["get"]
    assert {} in listing["security"]


def test_document_is_built_once_per_app(
    contracts: Contracts, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    real = openapi.build_document

    def counting(*args: Any, **kwargs: Any) -> dict[str, Any]:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(openapi, "build_document", counting)
    app = create_app(Config(), contracts=contracts)
    first = app.test_client().get(openapi.DOCUMENT_PATH).data
    second = app.test_client().get(openapi.DOCUMENT_PATH).data
    assert first == second
    assert len(calls) == 1


def test_security_lists_exactly_what_the_server_demands(
    app: Flask, document: dict[str, Any]
) -> None:
    table = mockgraph(app).permissions
    for _, _, operation in operations(document):
        needed = table[operation["x-mockgraph-operation"]]
        listed = {p for alternative in operation["security"] for p in alternative["bearer"]}
        assert listed == needed.delegated | needed.application, operation["operationId"]


def test_update_key_v2_names_the_permission_its_calls_need(
    client: FlaskClient, document: dict[str, Any]
) -> None:
    patch = document["paths"]["/trustFramework/keySets/{id}/keys_v2/{kid}"]["patch"]
    assert patch["security"] == [{"bearer": ["TrustFrameworkKeySet.ReadWrite.All"]}]
    keys = [{"kid": "k1", "kty": "oct", "k": "c2VjcmV0"}]
    client.post("/beta/trustFramework/keySets", json={"id": "v2", "keys": keys})
    url = "/beta/trustFramework/keySets/B2C_1A_v2/keys_v2/k1"

    def patch_with(permission: str) -> int:
        token = make_token(scp=permission)
        headers = {"Authorization": f"Bearer {token}"}
        return client.patch(url, json={"status": "disabled"}, headers=headers).status_code

    assert patch_with("TrustFrameworkKeySet.Read.All") == 403
    assert patch_with(patch["security"][0]["bearer"][0]) == 204


def test_a_creates_answer_links_to_the_operations_on_what_it_made(
    document: dict[str, Any],
) -> None:
    create = document["paths"]["/trustFramework/keySets"]["post"]
    links = create["responses"]["201"]["links"]
    assert {"getKeySet", "updateKeySet", "deleteKeySet", "generateKey"} <= set(links)
    assert links["getKeySet"] == {
        "operationId": "getKeySet",
        "parameters": {"id": "$response.body#/id"},
    }
    assert "links" not in create


def test_retry_after_is_documented_as_the_whole_seconds_the_server_sends(
    contracts: Contracts, document: dict[str, Any]
) -> None:
    header = document["components"]["headers"]["Retry-After"]
    assert header["schema"] == {"type": "integer", "minimum": 0}
    throttled = create_app(Config(faults=("all -> 429 retry-after=2",)), contracts=contracts)
    answer = throttled.test_client().get(
        "/beta/trustFramework/keySets", headers={"Authorization": "Bearer t"}
    )
    assert answer.status_code == 429
    sent = answer.headers["Retry-After"]
    assert sent.isdigit()
    check = validator(document, "/components/headers/Retry-After/schema")
    assert list(check.iter_errors(int(sent))) == []
