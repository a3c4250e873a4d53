"""The actions that add a key to a key set, through the app: generateKey, uploadSecret,
uploadCertificate and uploadPkcs12; what each stores and answers, and that a refused one adds
nothing."""

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
    make_ec_key,
    make_pfx_b64,
)
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from flask.testing import FlaskClient

from mockgraph.resources.keysets import keys
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


@pytest.mark.parametrize("make_key", [make_ec_key, ed25519.Ed25519PrivateKey.generate])
def test_upload_certificate_of_a_key_that_is_not_rsa_is_400_and_stores_nothing(
    client: FlaskClient, state: MockGraph, keyset: str, make_key: Any
) -> None:
    _, cert = make_certificate(key=make_key())
    error = error_of(action(client, keyset, "uploadCertificate", {"key": cert_der_b64(cert)}), 400)
    assert error["code"] == "invalidRequest"
    assert "RSA or oct" in error["message"]
    assert state.stores["keySets"].get(keyset).keys == ()


def test_uploading_a_key_whose_kid_the_set_has_is_400_and_changes_nothing(
    client: FlaskClient, state: MockGraph, keyset: str
) -> None:
    private, cert = make_certificate()
    body = {"key": cert_der_b64(cert)}
    assert action(client, keyset, "uploadCertificate", body).status_code == 200
    before = state.state_document()
    error = error_of(action(client, keyset, "uploadCertificate", body), 400)
    assert error["message"] == f"The key set '{keyset}' already has a key with this kid."
    pfx = {"key": make_pfx_b64("pw", key=private, cert=cert), "password": "pw"}
    assert (
        error_of(action(client, keyset, "uploadPkcs12", pfx), 400)["message"] == (error["message"])
    )
    assert state.state_document() == before


def test_an_uploaded_certificate_valid_from_after_its_expiry_is_400_naming_nbf(
    client: FlaskClient, state: MockGraph, keyset: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The certificate builder refuses such dates; a crafted certificate can carry them.
    crafted = Key(kid="x", kty="RSA", use="sig", n="AQAB", e="AQAB", nbf=20, exp=10)
    monkeypatch.setattr(keys, "certificate_key", lambda key: crafted)
    error = error_of(action(client, keyset, "uploadCertificate", {"key": "MIIB"}), 400)
    assert error["message"] == "The new key's 'nbf' must not be later than 'exp'."
    assert state.stores["keySets"].get(keyset).keys == ()


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("generateKey", {"use": "sig", "kty": "oct", "nbf": 20, "exp": 10}),
        ("uploadSecret", {"use": "sig", "k": "s", "nbf": 20, "exp": 10}),
    ],
)
def test_a_new_key_with_nbf_later_than_exp_is_400_naming_nbf(
    client: FlaskClient, state: MockGraph, keyset: str, name: str, body: dict[str, Any]
) -> None:
    error = error_of(action(client, keyset, name, body), 400)
    assert error["message"] == "The property 'nbf' must not be later than 'exp'."
    assert state.stores["keySets"].get(keyset).keys == ()
    body["exp"] = 20
    assert action(client, keyset, name, body).status_code == 200


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
