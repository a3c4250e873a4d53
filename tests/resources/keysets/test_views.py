"""Every keySet operation after create (issue 3), through the app: statuses, shapes, errors,
and that a failed request leaves the store as it was."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from crypto_factory import (
    NOT_AFTER,
    NOT_BEFORE,
    cert_der_b64,
    cert_pem,
    cert_pem_b64,
    make_certificate,
    make_pfx_b64,
)
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask.testing import FlaskClient

from mockgraph.resources.keysets.models import Key
from mockgraph.state import MockGraph

BASE = "/beta/trustFramework/keySets"


def b64url_int(value: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")


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


def action(client: FlaskClient, keyset_id: str, name: str, body: Any) -> Any:
    return client.post(f"{BASE}/{keyset_id}/{name}", json=body)


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
    assert error_of(client.delete(f"{BASE}/{keyset}"), 404)["code"] == "itemNotFound"
    assert error_of(client.get(f"{BASE}/{keyset}"), 404)


def test_delete_by_odata_key(client: FlaskClient, keyset: str) -> None:
    assert client.delete(f"{BASE}('{keyset}')").status_code == 204


# -- generateKey -------------------------------------------------------------------------


def test_generate_rsa_key_returns_public_parts_and_keeps_the_private(
    client: FlaskClient, state: MockGraph, keyset: str
) -> None:
    body = {"use": "sig", "kty": "rsa", "nbf": 1508969811, "exp": 1908969811}
    response = action(client, keyset, "generateKey", body)
    assert response.status_code == 200
    key = response.get_json()
    assert key["@odata.context"].endswith("#microsoft.graph.trustFrameworkKey")
    assert (key["kty"], key["use"], key["e"], key["nbf"], key["exp"]) == (
        "RSA", "sig", "AQAB", 1508969811, 1908969811,
    )  # fmt: skip
    assert b64url_int(key["n"]).bit_length() == 2048
    assert not {"d", "p", "q", "dp", "dq", "qi", "k"} & set(key)
    stored = state.stores["keySets"].get(keyset).keys[-1]
    assert stored.kid == key["kid"] and stored.d is not None
    numbers = rsa.RSAPrivateNumbers(
        p=b64url_int(stored.p or ""),
        q=b64url_int(stored.q or ""),
        d=b64url_int(stored.d or ""),
        dmp1=b64url_int(stored.dp or ""),
        dmq1=b64url_int(stored.dq or ""),
        iqmp=b64url_int(stored.qi or ""),
        public_numbers=rsa.RSAPublicNumbers(65537, b64url_int(key["n"])),
    )
    assert numbers.private_key().key_size == 2048


def test_generate_oct_key_keeps_the_secret(
    client: FlaskClient, state: MockGraph, keyset: str
) -> None:
    key = action(client, keyset, "generateKey", {"use": "enc", "kty": "OCT"}).get_json()
    assert key["kty"] == "oct" and "k" not in key
    assert state.stores["keySets"].get(keyset).keys[-1].k


def test_generate_key_also_answers_at_the_namespaced_action(
    client: FlaskClient, keyset: str
) -> None:
    url = f"{BASE}('{keyset}')/microsoft.graph.generateKey"
    assert client.post(url, json={"use": "sig", "kty": "oct"}).status_code == 200


@pytest.mark.parametrize(
    ("body", "part"),
    [
        ({"use": "sign", "kty": "RSA"}, "use"),
        ({"use": "sig", "kty": "EC"}, "kty"),
        ({"kty": "RSA"}, "use"),
        ({"use": "sig"}, "kty"),
        ({"use": "sig", "kty": "RSA", "exp": "later"}, "exp"),
        ({"use": "sig", "kty": "RSA", "extra": 1}, "extra"),
    ],
)
def test_generate_key_rejects_bad_parameters_and_adds_nothing(
    client: FlaskClient, state: MockGraph, keyset: str, body: dict[str, Any], part: str
) -> None:
    error = error_of(action(client, keyset, "generateKey", body), 400)
    assert part in error["message"]
    assert state.stores["keySets"].get(keyset).keys == ()


def test_actions_on_an_unknown_key_set_are_404(client: FlaskClient) -> None:
    response = action(client, "B2C_1A_none", "generateKey", {"use": "sig", "kty": "RSA"})
    assert error_of(response, 404)["code"] == "itemNotFound"


# -- uploadSecret ------------------------------------------------------------------------


def test_upload_secret_stores_an_oct_key_and_never_reads_k_back(
    client: FlaskClient, state: MockGraph, keyset: str
) -> None:
    body = {"use": "sig", "k": "application-secret", "nbf": 1508969811, "exp": 1508973711}
    response = action(client, keyset, "uploadSecret", body)
    assert response.status_code == 200
    key = response.get_json()
    assert (key["kty"], key["use"], key["nbf"], key["exp"]) == (
        "oct",
        "sig",
        1508969811,
        1508973711,
    )
    assert "application-secret" not in response.get_data(as_text=True)
    assert state.stores["keySets"].get(keyset).keys[-1].k == "application-secret"
    listed = client.get(f"{BASE}/{keyset}").get_data(as_text=True)
    assert "application-secret" not in listed


def test_upload_secret_requires_k(client: FlaskClient, state: MockGraph, keyset: str) -> None:
    assert "'k'" in error_of(action(client, keyset, "uploadSecret", {"use": "sig"}), 400)["message"]
    assert state.stores["keySets"].get(keyset).keys == ()


# -- uploadCertificate -------------------------------------------------------------------


@pytest.mark.parametrize("encode", [cert_der_b64, cert_pem_b64])
def test_upload_certificate_takes_the_key_from_the_certificate(
    client: FlaskClient, keyset: str, encode: Any
) -> None:
    private, cert = make_certificate()
    response = action(client, keyset, "uploadCertificate", {"key": encode(cert)})
    assert response.status_code == 200
    key = response.get_json()
    der = cert.public_bytes(serialization.Encoding.DER)
    thumb = base64.urlsafe_b64encode(hashlib.sha1(der).digest()).decode().rstrip("=")
    assert key["x5t"] == thumb
    assert key["x5c"] == [base64.b64encode(der).decode()]
    public = private.public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    assert b64url_int(key["n"]) == public.public_numbers().n
    assert key["e"] == "AQAB" and key["kty"] == "RSA"
    assert key["nbf"] == int(NOT_BEFORE.timestamp()) and key["exp"] == int(NOT_AFTER.timestamp())
    assert x509.load_pem_x509_certificate(cert_pem(cert).encode()) == cert


@pytest.mark.parametrize("value", ["not base64 !!", base64.b64encode(b"hello").decode(), ""])
def test_upload_certificate_rejects_what_is_not_a_certificate(
    client: FlaskClient, state: MockGraph, keyset: str, value: str
) -> None:
    error_of(action(client, keyset, "uploadCertificate", {"key": value}), 400)
    assert state.stores["keySets"].get(keyset).keys == ()


# -- uploadPkcs12 ------------------------------------------------------------------------


def test_upload_pkcs12_takes_the_key_and_keeps_the_private_part(
    client: FlaskClient, state: MockGraph, keyset: str
) -> None:
    response = action(
        client, keyset, "uploadPkcs12", {"key": make_pfx_b64("pfx-pass"), "password": "pfx-pass"}
    )
    assert response.status_code == 200
    key = response.get_json()
    assert key["kty"] == "RSA" and key["x5t"] and key["n"]
    assert "pfx-pass" not in response.get_data(as_text=True)
    stored = state.stores["keySets"].get(keyset).keys[-1]
    assert stored.d is not None
    assert "pfx-pass" not in json.dumps(state.state_document())


@pytest.mark.parametrize(
    "body",
    [
        {"key": "PFX", "password": "x"},
        {"password": "x"},
    ],
)
def test_upload_pkcs12_rejects_broken_files(
    client: FlaskClient, state: MockGraph, keyset: str, body: dict[str, Any]
) -> None:
    error_of(action(client, keyset, "uploadPkcs12", body), 400)
    assert state.stores["keySets"].get(keyset).keys == ()


def test_upload_pkcs12_wrong_password_is_400_without_echoing_it(
    client: FlaskClient, state: MockGraph, keyset: str
) -> None:
    response = action(
        client, keyset, "uploadPkcs12", {"key": make_pfx_b64("right"), "password": "wrong-pw"}
    )
    error_of(response, 400)
    assert "wrong-pw" not in response.get_data(as_text=True)
    assert state.stores["keySets"].get(keyset).keys == ()


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
