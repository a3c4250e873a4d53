"""The offline sign-in authority, in-process: its OpenID configuration, the client-credentials
token endpoint (open, and with registered apps), its refusals in the identity platform's body,
and the RS256 tokens Graph then takes (or, verifying, refuses when forged)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from flask.testing import FlaskClient

from mockgraph import Config, create_app
from mockgraph.features.tokens import make_token

TOKEN = "/tenant-1/oauth2/v2.0/token"
GRAPH = "/beta/trustFramework/keySets"
SCOPE = "https://graph.microsoft.com/.default"
READ, WRITE = "TrustFrameworkKeySet.Read.All", "TrustFrameworkKeySet.ReadWrite.All"


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOCKGRAPH_HOME", str(tmp_path / "home"))  # never the user's CA


def client_of(**config: Any) -> FlaskClient:
    return create_app(Config(**config)).test_client()


def sign_in(client: FlaskClient, **form: str) -> Any:
    fields = {"grant_type": "client_credentials", "client_id": "app", "scope": SCOPE}
    fields.update(form)
    return client.post(TOKEN, data=fields)


def test_the_openid_configuration_names_this_server_and_its_endpoints() -> None:
    document = client_of().get("/tenant-1/v2.0/.well-known/openid-configuration").get_json()
    assert document["issuer"] == "http://localhost/tenant-1/v2.0"
    assert document["token_endpoint"] == "http://localhost/tenant-1/oauth2/v2.0/token"
    assert document["jwks_uri"] == "http://localhost/tenant-1/discovery/v2.0/keys"
    assert document["authorization_endpoint"].startswith("http://localhost/tenant-1/")


def test_any_app_gets_a_graph_token_with_every_role_when_none_is_registered() -> None:
    client = client_of(clock=1_900_000_000.0)
    answer = sign_in(client, client_secret="anything")
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3599
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["aud"] == "https://graph.microsoft.com"
    assert claims["tid"] == "tenant-1" and claims["appid"] == claims["azp"] == "app"
    assert claims["iat"] == claims["nbf"] == 1_900_000_000
    assert claims["exp"] == 1_900_000_000 + 3599  # by the mock's clock
    assert set(claims["roles"]) == {READ, WRITE}


def test_the_token_is_signed_by_the_key_of_the_jwks() -> None:
    client = client_of()
    token = sign_in(client, client_secret="s").get_json()["access_token"]
    (jwk,) = client.get("/tenant-1/discovery/v2.0/keys").get_json()["keys"]
    key = jwt.PyJWK(jwk).key
    claims = jwt.decode(token, key, algorithms=["RS256"], audience="https://graph.microsoft.com")
    assert jwt.get_unverified_header(token)["kid"] == jwk["kid"]
    assert claims["appid"] == "app"


def test_a_registered_app_gets_its_roles_and_graph_holds_it_to_them() -> None:
    client = client_of(apps=(f"reader:s3cret={READ}",))
    token = sign_in(client, client_id="reader", client_secret="s3cret").get_json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.get(GRAPH, headers=bearer).status_code == 200
    refused = client.post(GRAPH, json={"id": "x"}, headers=bearer)
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "accessDenied"


def test_a_wrong_secret_is_invalid_client_with_aadsts7000215() -> None:
    answer = sign_in(client_of(apps=("app:right=" + WRITE,)), client_secret="wrong")
    assert answer.status_code == 401
    body = answer.get_json()
    assert body["error"] == "invalid_client" and body["error_codes"] == [7000215]
    assert body["error_description"].startswith("AADSTS7000215: Invalid client secret provided.")
    assert "wrong" not in answer.get_data(as_text=True)


def test_an_unknown_app_is_unauthorized_client_with_aadsts700016() -> None:
    answer = sign_in(client_of(apps=("app:right=" + WRITE,)), client_id="other", client_secret="x")
    assert answer.status_code == 400
    body = answer.get_json()
    assert body["error"] == "unauthorized_client" and body["error_codes"] == [700016]
    assert "Application with identifier 'other' was not found" in body["error_description"]


@pytest.mark.parametrize(
    ("form", "error", "code"),
    [
        ({"grant_type": "password", "client_secret": "s"}, "unsupported_grant_type", 70003),
        ({"client_secret": "s", "scope": ""}, "invalid_request", 900144),
        (
            {"client_secret": "s", "scope": "https://vault.azure.net/.default"},
            "invalid_resource",
            500011,
        ),
        ({}, "invalid_request", 900144),
    ],
)
def test_a_malformed_token_request_gets_the_oauth_error(
    form: dict[str, str], error: str, code: int
) -> None:
    answer = sign_in(client_of(), **form)
    assert answer.status_code in (400, 401)
    assert (answer.get_json()["error"], answer.get_json()["error_codes"]) == (error, [code])


def assertion(**claims: Any) -> str:
    now = int(time.time())
    payload = {"iss": "app", "sub": "app", "aud": "http://localhost" + TOKEN, "exp": now + 60}
    payload.update(claims)
    return jwt.encode(payload, "a client key of 32 bytes or more!", algorithm="HS256")


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": float("nan")},
        {"exp": 1e400},
        {"nbf": float("nan")},
        {"exp": int(time.time()) - 10},
        {"nbf": int(time.time()) + 600, "exp": int(time.time()) + 60},
        {"iss": "someone-else"},
        {"aud": "https://login.microsoftonline.com/x/oauth2/v2.0/token"},
    ],
)
def test_an_impossible_or_foreign_client_assertion_is_refused(claims: dict[str, Any]) -> None:
    answer = sign_in(
        client_of(),
        client_assertion_type="urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        client_assertion=assertion(**claims),
    )
    assert answer.status_code == 401
    assert answer.get_json()["error_codes"] == [700027]


def test_a_client_assertion_naming_the_app_gets_a_token() -> None:
    answer = sign_in(client_of(), client_assertion=assertion())
    assert answer.status_code == 200 and answer.get_json()["access_token"].count(".") == 2


def test_verifying_graph_takes_the_authoritys_tokens_and_refuses_forged_ones() -> None:
    client = client_of(verify_tokens=True)
    signed = sign_in(client, client_secret="s").get_json()["access_token"]
    assert client.get(GRAPH, headers={"Authorization": f"Bearer {signed}"}).status_code == 200
    forged = make_token(roles=[WRITE])  # HS256, anyone can make it
    for token in (forged, "opaque-token"):
        answer = client.get(GRAPH, headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 401
        assert answer.get_json()["error"]["code"] == "InvalidAuthenticationToken"


def test_a_bad_app_registration_is_a_startup_error() -> None:
    from mockgraph.http.errors import StartupError

    with pytest.raises(StartupError, match="CLIENT_ID:SECRET=ROLE"):
        create_app(Config(apps=("no-secret-here",)))
