"""The key set reads and writes after create, through the app: list, get, update, delete,
getActiveKey and keys_v2; statuses, shapes, query options, errors, and that a failed request
leaves the store as it was (the actions that add a key: ``test_actions.py``)."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from mockgraph.resources.keysets.models import Key
from mockgraph.state import MockGraph

BASE = "/beta/trustFramework/keySets"


def error_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    error: dict[str, Any] = response.get_json()["error"]
    assert {"code", "message", "innerError"} <= set(error)
    return error


@pytest.fixture
def keyset(client: FlaskClient) -> str:
    response = client.post(BASE, json={"id": "ks"})
    assert response.status_code == 201
    return str(response.get_json()["id"])


# -- list ---------------------------------------------------------------------------------


def test_list_is_a_collection_with_context(client: FlaskClient) -> None:
    for name in ("b", "a"):
        client.post(BASE, json={"id": name})
    body = client.get(BASE).get_json()
    assert body["@odata.context"].endswith("/beta/$metadata#trustFramework/keySets")
    assert [k["id"] for k in body["value"]] == ["B2C_1A_a", "B2C_1A_b"]
    assert "@odata.nextLink" not in body


def test_list_pages_with_top_and_absolute_next_links(client: FlaskClient) -> None:
    for i in range(7):
        client.post(BASE, json={"id": f"k{i}"})
    seen: list[str] = []
    url: str | None = BASE + "?$top=3"
    pages = 0
    while url:
        body = client.get(url).get_json()
        seen += [k["id"] for k in body["value"]]
        url = body.get("@odata.nextLink")
        if url:
            assert url.startswith("http://localhost/beta/trustFramework/keySets?")
            assert "$skiptoken=" in url and "$top=3" in url
        pages += 1
    assert pages == 3
    assert seen == [f"B2C_1A_k{i}" for i in range(7)]


def test_items_created_while_paging_never_repeat(client: FlaskClient) -> None:
    for i in range(0, 6, 2):
        client.post(BASE, json={"id": f"k{i}"})
    first = client.get(BASE + "?$top=2").get_json()
    client.post(BASE, json={"id": "k1"})
    client.post(BASE, json={"id": "k5"})
    rest = client.get(first["@odata.nextLink"]).get_json()
    ids = [k["id"] for k in first["value"] + rest["value"]]
    assert len(ids) == len(set(ids))
    assert ids == ["B2C_1A_k0", "B2C_1A_k2", "B2C_1A_k4", "B2C_1A_k5"]


def test_default_page_size_applies_without_top(state: MockGraph, client: FlaskClient) -> None:
    for i in range(105):
        client.post(BASE, json={"id": f"k{i:03d}"})
    body = client.get(BASE).get_json()
    assert len(body["value"]) == state.config.default_page_size == 100
    assert "@odata.nextLink" in body


def test_list_select_orderby_and_filter(client: FlaskClient) -> None:
    for name in ("alpha", "alps", "beta"):
        client.post(BASE, json={"id": name, "keys": [{"kid": name}]})
    body = client.get(BASE + "?$select=id&$orderby=id desc").get_json()
    assert body["value"] == [{"id": "B2C_1A_beta"}, {"id": "B2C_1A_alps"}, {"id": "B2C_1A_alpha"}]
    assert body["@odata.context"].endswith("#trustFramework/keySets(id)")
    eq = client.get(BASE + "?$filter=id eq 'B2C_1A_beta'").get_json()["value"]
    assert [k["id"] for k in eq] == ["B2C_1A_beta"]
    starts = client.get(BASE + "?$filter=startswith(id,'B2C_1A_al')").get_json()["value"]
    assert [k["id"] for k in starts] == ["B2C_1A_alpha", "B2C_1A_alps"]
    assert client.get(BASE + "?$filter=id eq 'nope'").get_json()["value"] == []


@pytest.mark.parametrize(
    "query",
    ["$top=0", "$top=x", "$count=true", "$bogus=1", "$filter=keys eq 1", "$orderby=keys"],
)
def test_bad_query_options_are_400(client: FlaskClient, query: str) -> None:
    assert error_of(client.get(f"{BASE}?{query}"), 400)["code"] == "invalidRequest"


# -- get, OData key form -----------------------------------------------------------------


def test_get_by_path_and_by_odata_key(client: FlaskClient, keyset: str) -> None:
    by_path = client.get(f"{BASE}/{keyset}")
    by_key = client.get(f"{BASE}('{keyset}')")
    assert by_path.status_code == by_key.status_code == 200
    assert by_path.get_json() == by_key.get_json()
    assert by_path.get_json()["@odata.context"].endswith("#trustFramework/keySets/$entity")


def test_get_with_select_id_answers_only_the_id_and_says_so_in_its_context(
    client: FlaskClient, keyset: str
) -> None:
    client.put(f"{BASE}/{keyset}", json={"keys": [{"kid": "a"}]})
    body = client.get(f"{BASE}/{keyset}?$select=id").get_json()
    assert body == {
        "@odata.context": "http://localhost/beta/$metadata#trustFramework/keySets(id)/$entity",
        "id": keyset,
    }
    assert set(client.get(f"{BASE}('{keyset}')?select=keys,id").get_json()) == {
        "@odata.context", "id", "keys"
    }  # fmt: skip


def test_get_with_select_of_an_unknown_property_is_400(client: FlaskClient, keyset: str) -> None:
    error = error_of(client.get(f"{BASE}/{keyset}?$select=foo"), 400)
    assert error["code"] == "invalidRequest"
    assert error["message"] == (
        "Could not find a property named 'foo' on type 'microsoft.graph.trustFrameworkKeySet'."
    )


@pytest.mark.parametrize("option", ["$top=1", "$skip=1", "$filter=id eq 'x'", "$orderby=id"])
def test_get_of_one_key_set_refuses_the_options_of_a_list(
    client: FlaskClient, keyset: str, option: str
) -> None:
    error = error_of(client.get(f"{BASE}/{keyset}?{option}"), 400)
    name = option.split("=")[0]
    assert error["message"] == f"Query option '{name}' is not supported on this resource."


@pytest.mark.parametrize("url", [f"{BASE}/$count", f"{BASE}/$count?$top=1", f"{BASE}?$count=true"])
def test_counting_key_sets_is_400_as_b2c_tenants_answer(client: FlaskClient, url: str) -> None:
    error = error_of(client.get(url), 400)
    assert error["code"] == "invalidRequest"
    assert error["message"] == "Query option '$count' is not supported in Azure AD B2C tenants."


def test_get_unknown_is_404(client: FlaskClient) -> None:
    assert error_of(client.get(f"{BASE}/B2C_1A_missing"), 404)["code"] == "itemNotFound"
    assert error_of(client.get(f"{BASE}('B2C_1A_missing')"), 404)["code"] == "itemNotFound"


# -- update (PUT and PATCH) --------------------------------------------------------------


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_update_replaces_the_keys(
    client: FlaskClient, state: MockGraph, keyset: str, method: str
) -> None:
    client.open(f"{BASE}/{keyset}", method=method, json={"keys": [{"kid": "old"}]})
    response = client.open(
        f"{BASE}/{keyset}", method=method, json={"keys": [{"kid": "new", "k": "secret"}]}
    )
    assert response.status_code == 200
    assert response.get_json()["keys"] == [{"kid": "new"}]
    assert state.stores["keySets"].get(keyset).keys == (Key(kid="new", k="secret"),)


def test_put_without_keys_empties_and_patch_without_keys_keeps(
    client: FlaskClient, keyset: str
) -> None:
    client.put(f"{BASE}/{keyset}", json={"keys": [{"kid": "a"}]})
    assert client.patch(f"{BASE}/{keyset}", json={}).get_json()["keys"] == [{"kid": "a"}]
    assert client.put(f"{BASE}/{keyset}", json={}).get_json()["keys"] == []


def test_update_with_matching_body_id_is_accepted(client: FlaskClient, keyset: str) -> None:
    assert client.put(f"{BASE}/{keyset}", json={"id": keyset, "keys": []}).status_code == 200
    assert client.put(f"{BASE}/{keyset}", json={"id": "ks", "keys": []}).status_code == 200


def test_update_with_a_different_body_id_is_400_and_changes_nothing(
    client: FlaskClient, state: MockGraph, keyset: str
) -> None:
    client.put(f"{BASE}/{keyset}", json={"keys": [{"kid": "keep"}]})
    before = state.state_document()
    response = client.put(f"{BASE}/{keyset}", json={"id": "other", "keys": []})
    assert "does not match" in error_of(response, 400)["message"]
    assert state.state_document() == before


def test_update_unknown_is_404_and_bad_body_is_400(
    client: FlaskClient, state: MockGraph, keyset: str
) -> None:
    assert error_of(client.put(f"{BASE}/B2C_1A_none", json={"keys": []}), 404)
    before = state.state_document()
    error = error_of(client.put(f"{BASE}/{keyset}", json={"keys": [{"nbf": "x"}]}), 400)
    assert "keys[0].nbf" in error["message"]
    assert state.state_document() == before


# -- delete ------------------------------------------------------------------------------


def test_delete_is_204_then_404(client: FlaskClient, keyset: str) -> None:
    response = client.delete(f"{BASE}/{keyset}")
    assert response.status_code == 204
    assert response.get_data() == b""
    assert "Content-Type" not in response.headers
    assert error_of(client.delete(f"{BASE}/{keyset}"), 404)["code"] == "itemNotFound"
    assert error_of(client.get(f"{BASE}/{keyset}"), 404)


def test_delete_by_odata_key(client: FlaskClient, keyset: str) -> None:
    assert client.delete(f"{BASE}('{keyset}')").status_code == 204


# -- getActiveKey ------------------------------------------------------------------------


def put_keys(client: FlaskClient, keyset: str, keys: list[dict[str, Any]]) -> None:
    assert client.put(f"{BASE}/{keyset}", json={"keys": keys}).status_code == 200


def test_get_active_key_is_the_newest_valid_now(
    client: FlaskClient, state: MockGraph, keyset: str
) -> None:
    state.clock.set(1000)
    put_keys(
        client,
        keyset,
        [
            {"kid": "expired", "nbf": 0, "exp": 1000},
            {"kid": "old", "nbf": 100, "exp": 5000},
            {"kid": "newest", "nbf": 900, "exp": 5000, "k": "s"},
            {"kid": "future", "nbf": 2000},
            {"kid": "open"},
        ],
    )
    response = client.get(f"{BASE}/{keyset}/getActiveKey")
    assert response.status_code == 200
    body = response.get_json()
    assert body["kid"] == "newest" and "k" not in body
    assert body["@odata.context"].endswith("#microsoft.graph.trustFrameworkKey")
    state.clock.set(6000)
    assert client.get(f"{BASE}/{keyset}/getActiveKey").get_json()["kid"] == "future"


def test_get_active_key_call_forms_are_the_same_operation(client: FlaskClient, keyset: str) -> None:
    put_keys(client, keyset, [{"kid": "only"}])
    for suffix in ("getActiveKey", "getActiveKey()", "microsoft.graph.getActiveKey()"):
        assert client.get(f"{BASE}/{keyset}/{suffix}").get_json()["kid"] == "only"
    assert client.get(f"{BASE}('{keyset}')/getActiveKey()").get_json()["kid"] == "only"


def test_get_active_key_without_one_is_404(
    client: FlaskClient, state: MockGraph, keyset: str
) -> None:
    state.clock.set(10)
    put_keys(client, keyset, [{"kid": "later", "nbf": 20}])
    error = error_of(client.get(f"{BASE}/{keyset}/getActiveKey"), 404)
    assert error["code"] == "itemNotFound" and "no active key" in error["message"]


def test_get_active_key_by_post_is_405(client: FlaskClient, keyset: str) -> None:
    response = client.post(f"{BASE}/{keyset}/getActiveKey", json={})
    assert error_of(response, 405)["code"] == "notAllowed"
    assert response.headers["Allow"].startswith("GET")


# -- keys_v2 -----------------------------------------------------------------------------


def test_keys_v2_status_patch_disables_a_key_for_get_active_key(
    client: FlaskClient, keyset: str
) -> None:
    put_keys(client, keyset, [{"kid": "a", "nbf": 1}, {"kid": "b", "nbf": 2}])
    assert client.get(f"{BASE}/{keyset}/keys_v2/b").get_json()["status"] == "enabled"
    response = client.patch(f"{BASE}/{keyset}/keys_v2/b", json={"status": "disabled"})
    assert response.status_code == 204 and response.get_data() == b""
    assert "Content-Type" not in response.headers
    assert client.get(f"{BASE}/{keyset}/keys_v2/b").get_json()["status"] == "disabled"
    assert client.get(f"{BASE}/{keyset}/getActiveKey").get_json()["kid"] == "a"
    listed = client.get(f"{BASE}/{keyset}/keys_v2").get_json()["value"]
    assert [(k["kid"], k["status"]) for k in listed] == [("a", "enabled"), ("b", "disabled")]


def test_keys_v2_patch_rejects_other_properties_and_unknown_keys(
    client: FlaskClient, state: MockGraph, keyset: str
) -> None:
    put_keys(client, keyset, [{"kid": "a"}])
    before = state.state_document()
    assert error_of(client.patch(f"{BASE}/{keyset}/keys_v2/a", json={"kid": "z"}), 400)
    assert error_of(client.patch(f"{BASE}/{keyset}/keys_v2/a", json={"status": "gone"}), 400)
    assert error_of(client.patch(f"{BASE}/{keyset}/keys_v2/zz", json={"status": "enabled"}), 404)
    assert state.state_document() == before


def test_keys_v2_pages_with_top_and_a_next_link_that_continues(
    client: FlaskClient, keyset: str
) -> None:
    put_keys(client, keyset, [{"kid": "a"}, {"kid": "b"}, {"kid": "c"}])
    first = client.get(f"{BASE}/{keyset}/keys_v2?$top=1").get_json()
    assert [k["kid"] for k in first["value"]] == ["a"]
    link = first["@odata.nextLink"]
    assert link.startswith(f"http://localhost/beta/trustFramework/keySets('{keyset}')/keys_v2?")
    seen = ["a"]
    while link:
        page = client.get(link).get_json()
        assert len(page["value"]) == 1
        seen += [k["kid"] for k in page["value"]]
        link = page.get("@odata.nextLink")
    assert seen == ["a", "b", "c"]
    whole = client.get(f"{BASE}/{keyset}/keys_v2").get_json()
    assert len(whole["value"]) == 3 and "@odata.nextLink" not in whole


@pytest.mark.parametrize("query", ["$top=0", "$select=kid", "$orderby=kid", "$count=true"])
def test_keys_v2_refuses_options_it_does_not_take(
    client: FlaskClient, keyset: str, query: str
) -> None:
    assert error_of(client.get(f"{BASE}/{keyset}/keys_v2?{query}"), 400)["code"] == (
        "invalidRequest"
    )
