"""azure-identity's ``ClientSecretCredential`` and MSAL's ``ConfidentialClientApplication`` sign
in at the mock's authority, and the official Graph beta SDK (``msgraph-beta-sdk``) calls
``mockgraph serve --tls --verify-tokens`` with their tokens; the refusals each client shows for a
wrong secret, an unknown app, an expired token, a missing permission and a token the mock did
not sign.

The clients trust the mock's CA as a user sets it up: ``REQUESTS_CA_BUNDLE`` for
azure-identity and MSAL (``requests``), ``SSL_CERT_FILE`` for the SDK (httpx). The SDK is
asynchronous; each SDK test runs one ``asyncio.run`` and closes its httpx client.
"""

from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import jwt
import msal
import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import ClientSecretCredential

#: The SDK's generated code (and kiota's) warns about its own deprecated classes as it imports
#: them, lazily, on first use: not ours to fix, and warnings are errors in this suite.
SDK_MODULES = r"(msgraph_beta|kiota_abstractions)(\.|$)"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::DeprecationWarning:msgraph_beta"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:kiota_abstractions"),
]

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=SDK_MODULES)
    from kiota_abstractions.base_request_configuration import RequestConfiguration
    from msgraph_beta import GraphServiceClient
    from msgraph_beta.generated.models.o_data_errors.o_data_error import ODataError
    from msgraph_beta.generated.models.trust_framework_key import TrustFrameworkKey
    from msgraph_beta.generated.models.trust_framework_key_set import TrustFrameworkKeySet
    from msgraph_beta.generated.trust_framework.key_sets.item.generate_key.generate_key_post_request_body import (  # noqa: E501
        GenerateKeyPostRequestBody,
    )
    from msgraph_beta.generated.trust_framework.key_sets.key_sets_request_builder import (
        KeySetsRequestBuilder,
    )

from mockgraph.features.authority import LIFETIME  # noqa: E402

if TYPE_CHECKING:
    from clients.conftest import HttpsMock, ServeHttps, Trust

T = TypeVar("T")
SCOPES = ["https://graph.microsoft.com/.default"]
TENANT = "00000000-0000-0000-0000-00000000b2c0"
WRITER, READER = "11111111-1111-1111-1111-111111111111", "33333333-3333-3333-3333-333333333333"
UNKNOWN = "22222222-2222-2222-2222-222222222222"
SECRET = "py~client~secret"
READ_WRITE, READ = "TrustFrameworkKeySet.ReadWrite.All", "TrustFrameworkKeySet.Read.All"


# -- harness ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def live(serve_https: ServeHttps, trust_in_python: Trust) -> Iterator[HttpsMock]:
    with serve_https(
        "--verify-tokens",
        "--app",
        f"{WRITER}:{SECRET}={READ_WRITE}",
        "--app",
        f"{READER}:{SECRET}={READ}",
    ) as mock:
        yield mock


@pytest.fixture
def mock(live: HttpsMock) -> HttpsMock:
    live.reset()
    return live


def credential(mock: HttpsMock, client_id: str = WRITER, secret: str = SECRET) -> Any:
    """azure-identity signing in at the mock: its authority, no instance discovery."""
    return ClientSecretCredential(
        TENANT, client_id, secret, authority=mock.root, disable_instance_discovery=True
    )


def msal_app(mock: HttpsMock, client_id: str = WRITER, secret: str = SECRET) -> Any:
    """A new MSAL app each time: an app object remembers a refusal for a minute."""
    return msal.ConfidentialClientApplication(
        client_id,
        client_credential=secret,
        authority=f"{mock.root}/{TENANT}",
        instance_discovery=False,
    )


class StaticToken:
    """An ``azure.core.credentials.TokenCredential`` handing out one token (from MSAL, or a
    test token), valid for an hour by the wall clock."""

    def __init__(self, token: str) -> None:
        self.token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self.token, int(time.time()) + 3600)


@asynccontextmanager
async def graph_client(mock: HttpsMock, token_credential: Any) -> AsyncIterator[GraphServiceClient]:
    """The SDK as the README sets it up (credentials, Graph's scope, the mock's base URL);
    its httpx client closed at the end (an open one warns, and warnings fail here)."""
    client = GraphServiceClient(credentials=token_credential, scopes=SCOPES)
    client.request_adapter.base_url = mock.url
    try:
        yield client
    finally:
        await close(client)


async def close(client: GraphServiceClient) -> None:
    """Close the SDK's httpx client and its connections. The SDK offers no public close, and
    msgraph-core's ``AsyncGraphTransport`` does not pass ``aclose`` on to the httpx transport it
    wraps: a kept-alive connection would stay open (an unclosed socket warns)."""
    http = client.request_adapter._http_client
    await http.aclose()
    for transport in [http._transport, *http._mounts.values()]:
        inner = getattr(transport, "transport", None)
        if inner is not None:
            await inner.aclose()


def run(
    mock: HttpsMock,
    scenario: Callable[[GraphServiceClient], Awaitable[T]],
    token_credential: Any = None,
) -> T:
    async def main(token_credential: Any) -> T:
        async with graph_client(mock, token_credential) as graph:
            return await scenario(graph)

    if token_credential is not None:
        return asyncio.run(main(token_credential))
    with credential(mock) as signer:
        return asyncio.run(main(signer))


def graph_calls(mock: HttpsMock) -> list[tuple[str, str, int]]:
    """Graph's exchanges of the journal: (method, operation, status)."""
    return [
        (e["method"], e["operation"], e["status"])
        for e in mock.requests()
        if e["path"].startswith("/beta/")
    ]


def signing_key(mock: HttpsMock, token: str) -> Any:
    """The key of the mock's JWKS that signed ``token``, found through its OpenID
    configuration (trusting the CA through ``SSL_CERT_FILE``, as any client would)."""
    config = mock.get(f"/{TENANT}/v2.0/.well-known/openid-configuration")
    return jwt.PyJWKClient(config["jwks_uri"]).get_signing_key_from_jwt(token).key


# -- tokens from the mock's authority ------------------------------------------------------------


def test_azure_identity_gets_a_token_the_mock_signed(mock: HttpsMock) -> None:
    with credential(mock) as signer:
        token = signer.get_token(*SCOPES)

    claims = jwt.decode(
        token.token,
        signing_key(mock, token.token),
        algorithms=["RS256"],
        audience="https://graph.microsoft.com",
    )
    assert (claims["appid"], claims["tid"], claims["roles"]) == (WRITER, TENANT, [READ_WRITE])
    assert abs(token.expires_on - (time.time() + LIFETIME)) < 60


def test_msal_gets_a_token_then_serves_it_from_its_cache(mock: HttpsMock) -> None:
    app = msal_app(mock, READER)
    first = app.acquire_token_for_client(scopes=SCOPES)
    again = app.acquire_token_for_client(scopes=SCOPES)

    assert (first["token_type"], first["expires_in"]) == ("Bearer", LIFETIME)
    assert first["token_source"] == "identity_provider" and again["token_source"] == "cache"
    assert again["access_token"] == first["access_token"]
    claims = jwt.decode(first["access_token"], options={"verify_signature": False})
    assert (claims["appid"], claims["roles"]) == (READER, [READ])
    assert [e["status"] for e in mock.requests(operation="authority.token")] == [200]


# -- refused sign-ins -------------------------------------------------------------------------


def test_azure_identity_with_a_wrong_secret_raises_aadsts7000215(mock: HttpsMock) -> None:
    with credential(mock, secret="not-the-secret") as signer:
        with pytest.raises(ClientAuthenticationError) as caught:
            signer.get_token(*SCOPES)

    assert "AADSTS7000215: Invalid client secret provided." in caught.value.message
    assert [e["status"] for e in mock.requests(operation="authority.token")] == [401]


def test_msal_with_a_wrong_secret_answers_invalid_client(mock: HttpsMock) -> None:
    result = msal_app(mock, secret="not-the-secret").acquire_token_for_client(scopes=SCOPES)

    assert "access_token" not in result
    assert result["error"] == "invalid_client"
    assert 7000215 in result["error_codes"]
    assert result["error_description"].startswith("AADSTS7000215: Invalid client secret provided.")


def test_azure_identity_for_an_unknown_app_raises_aadsts700016(mock: HttpsMock) -> None:
    with credential(mock, client_id=UNKNOWN) as signer:
        with pytest.raises(ClientAuthenticationError) as caught:
            signer.get_token(*SCOPES)

    assert f"AADSTS700016: Application with identifier '{UNKNOWN}'" in caught.value.message
    assert [e["status"] for e in mock.requests(operation="authority.token")] == [400]


def test_msal_for_an_unknown_app_answers_unauthorized_client(mock: HttpsMock) -> None:
    result = msal_app(mock, client_id=UNKNOWN).acquire_token_for_client(scopes=SCOPES)

    assert result["error"] == "unauthorized_client"
    assert 700016 in result["error_codes"]


# -- the SDK over HTTPS with those tokens -----------------------------------------------------


async def create(graph: GraphServiceClient, name: str) -> TrustFrameworkKeySet:
    created = await graph.trust_framework.key_sets.post(TrustFrameworkKeySet(id=name))
    assert created is not None and created.id is not None
    return created


def test_sdk_creates_updates_generates_reads_and_deletes_over_https(mock: HttpsMock) -> None:
    async def scenario(graph: GraphServiceClient) -> dict[str, Any]:
        created = await create(graph, "PyHttps")
        item = graph.trust_framework.key_sets.by_trust_framework_key_set_id(created.id)
        patched = await item.patch(
            TrustFrameworkKeySet(
                id=created.id,
                keys=[TrustFrameworkKey(kid="patched", kty="oct", use="sig", k="c2VjcmV0")],
            )
        )
        generated = await item.generate_key.post(GenerateKeyPostRequestBody(use="sig", kty="RSA"))
        active = await item.get_active_key.get()
        await item.delete()
        with pytest.raises(ODataError) as caught:
            await item.get()
        return {
            "created": created,
            "patched": patched,
            "generated": generated,
            "active": active,
            "gone": caught.value,
        }

    seen = run(mock, scenario)

    assert seen["created"].id == "B2C_1A_PyHttps"
    assert [(k.kid, k.kty, k.k) for k in seen["patched"].keys] == [("patched", "oct", None)]
    generated = seen["generated"]
    assert (generated.kty, generated.use, generated.e, generated.d) == ("RSA", "sig", "AQAB", None)
    assert seen["active"].kid in {"patched", generated.kid}
    assert seen["gone"].response_status_code == 404
    assert graph_calls(mock) == [
        ("POST", "createKeySet", 201),
        ("PATCH", "updateKeySet", 200),
        ("POST", "generateKey", 200),
        ("GET", "getActiveKey", 200),
        ("DELETE", "deleteKeySet", 204),
        ("GET", "getKeySet", 404),
    ]
    # One sign-in; the token, checked by --verify-tokens, was taken on every call.
    assert len(mock.requests(operation="authority.token")) == 1


def test_sdk_lists_key_sets_following_the_next_link_over_https(mock: HttpsMock) -> None:
    mock.seed({"keySets": [{"id": f"B2C_1A_PyList{n}", "keys": []} for n in range(5)]})

    async def scenario(graph: GraphServiceClient) -> tuple[list[str], list[str | None]]:
        query = KeySetsRequestBuilder.KeySetsRequestBuilderGetQueryParameters(top=2)
        config = RequestConfiguration(query_parameters=query)
        page = await graph.trust_framework.key_sets.get(config)
        ids, links = [k.id for k in page.value], [page.odata_next_link]
        while page.odata_next_link:
            page = await graph.trust_framework.key_sets.with_url(page.odata_next_link).get()
            ids += [k.id for k in page.value]
            links.append(page.odata_next_link)
        return ids, links

    ids, links = run(mock, scenario)

    assert ids == [f"B2C_1A_PyList{n}" for n in range(5)]
    assert links[-1] is None and all(link.startswith(mock.url) for link in links[:-1])
    assert graph_calls(mock) == [("GET", "listKeySets", 200)] * 3


def test_sdk_calls_with_a_token_msal_got(mock: HttpsMock) -> None:
    result = msal_app(mock).acquire_token_for_client(scopes=SCOPES)

    created = run(mock, lambda graph: create(graph, "PyMsal"), StaticToken(result["access_token"]))

    assert created.id == "B2C_1A_PyMsal"


# -- refused calls ----------------------------------------------------------------------------


def test_sdk_call_after_the_mock_clock_passes_the_tokens_exp_is_401(mock: HttpsMock) -> None:
    async def scenario(graph: GraphServiceClient) -> ODataError:
        await graph.trust_framework.key_sets.get()  # signs in: a token valid for an hour
        mock.set_clock(time.time() + LIFETIME + 60)
        # The client caches its token by the wall clock, so it sends the same one again.
        with pytest.raises(ODataError) as caught:
            await graph.trust_framework.key_sets.get()
        return caught.value

    try:
        error = run(mock, scenario)
    finally:
        mock.set_clock(None)

    assert error.response_status_code == 401
    assert error.error is not None and error.error.code == "InvalidAuthenticationToken"
    assert error.error.message == "Lifetime validation failed, the token is expired."
    assert len(mock.requests(operation="authority.token")) == 1


def test_sdk_with_a_read_only_app_reads_but_its_create_is_403(mock: HttpsMock) -> None:
    async def scenario(graph: GraphServiceClient) -> tuple[Any, ODataError]:
        listing = await graph.trust_framework.key_sets.get()
        with pytest.raises(ODataError) as caught:
            await create(graph, "PyReader")
        return listing, caught.value

    listing, error = run(mock, scenario, credential(mock, READER))

    assert listing.value == []
    assert error.response_status_code == 403
    assert error.error is not None and error.error.code == "accessDenied"
    assert READ_WRITE in error.error.message
    assert graph_calls(mock) == [("GET", "listKeySets", 200), ("POST", "createKeySet", 403)]


def test_verify_tokens_refuses_a_test_token_the_mock_did_not_sign(mock: HttpsMock) -> None:
    # `mockgraph token` makes an HS256 test token: anyone can mint one, so a server that
    # verifies tokens refuses it, whatever roles it claims.
    minted = mock.mockgraph("token", "--roles", READ_WRITE).strip()
    assert jwt.get_unverified_header(minted)["alg"] == "HS256"

    async def scenario(graph: GraphServiceClient) -> ODataError:
        with pytest.raises(ODataError) as caught:
            await graph.trust_framework.key_sets.get()
        return caught.value

    error = run(mock, scenario, StaticToken(minted))
    signed = run(mock, lambda graph: graph.trust_framework.key_sets.get())

    assert error.response_status_code == 401
    assert error.error is not None and error.error.code == "InvalidAuthenticationToken"
    assert error.error.message == "The access token is not valid: it does not decode."
    assert signed.value == []
    assert graph_calls(mock) == [("GET", "listKeySets", 401), ("GET", "listKeySets", 200)]
