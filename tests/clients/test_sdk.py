"""The official Microsoft Graph beta Python SDK (``msgraph-beta-sdk``) against a live mock
(issue 5, point 6): whatever the SDK sends must be accepted, whatever the mock answers must
parse into the SDK's models, and its retry handler must honour the mock's ``Retry-After``.

The SDK is asynchronous (httpx); each test runs one ``asyncio.run`` and closes its client.
"""

from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import pytest

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
    from azure.core.credentials import AccessToken
    from kiota_abstractions.base_request_configuration import RequestConfiguration
    from kiota_authentication_azure.azure_identity_authentication_provider import (
        AzureIdentityAuthenticationProvider,
    )
    from msgraph_beta import GraphRequestAdapter, GraphServiceClient
    from msgraph_beta.generated.models.o_data_errors.o_data_error import ODataError
    from msgraph_beta.generated.models.trust_framework_key import TrustFrameworkKey
    from msgraph_beta.generated.models.trust_framework_key_set import (
        TrustFrameworkKeySet,
    )
    from msgraph_beta.generated.trust_framework.key_sets.item.generate_key.generate_key_post_request_body import (  # noqa: E501
        GenerateKeyPostRequestBody,
    )
    from msgraph_beta.generated.trust_framework.key_sets.item.upload_certificate.upload_certificate_post_request_body import (  # noqa: E501
        UploadCertificatePostRequestBody,
    )
    from msgraph_beta.generated.trust_framework.key_sets.item.upload_pkcs12.upload_pkcs12_post_request_body import (  # noqa: E501
        UploadPkcs12PostRequestBody,
    )
    from msgraph_beta.generated.trust_framework.key_sets.item.upload_secret.upload_secret_post_request_body import (  # noqa: E501
        UploadSecretPostRequestBody,
    )
    from msgraph_beta.generated.trust_framework.key_sets.key_sets_request_builder import (
        KeySetsRequestBuilder,
    )

from crypto_factory import cert_der_b64, make_certificate, make_pfx_b64  # noqa: E402

from mockgraph import Config  # noqa: E402
from mockgraph.features.faults import waited_for_retry_after  # noqa: E402
from mockgraph.features.journal import Entry  # noqa: E402
from mockgraph.features.tokens import make_token  # noqa: E402
from mockgraph.serve.live import MockGraphServer  # noqa: E402

T = TypeVar("T")
KEYSET_TYPE = "#microsoft.graph.trustFrameworkKeySet"


# -- the README's snippet (its twin): point the SDK at the mock ------------------------------


class StaticToken:
    """An ``azure.core.credentials.TokenCredential`` that always hands out the same token."""

    def __init__(self, token: str = "any-token") -> None:
        self.token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self.token, int(time.time()) + 3600)


def mock_graph_client(base_url: str, credential: Any = None) -> GraphServiceClient:
    """A GraphServiceClient that talks to mockgraph at ``base_url``, e.g.
    ``http://127.0.0.1:8000/beta``.

    The SDK sends the bearer token only to the hosts in ``allowed_hosts`` (to any host when the
    list is empty), and plain http only to localhost, 127.0.0.1 or ::1."""
    auth = AzureIdentityAuthenticationProvider(
        credential or StaticToken(), allowed_hosts=["127.0.0.1", "localhost"]
    )
    adapter = GraphRequestAdapter(auth)
    adapter.base_url = base_url
    return GraphServiceClient(request_adapter=adapter)


# -- harness ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def live() -> Iterator[MockGraphServer]:
    with MockGraphServer(Config()) as server:
        yield server


@pytest.fixture
def server(live: MockGraphServer) -> Iterator[MockGraphServer]:
    live.reset()
    yield live
    if live.config.faults:  # a test that injected faults: back to the module's app
        live.reconfigure(Config())


@asynccontextmanager
async def connected(client: GraphServiceClient) -> AsyncIterator[GraphServiceClient]:
    """Close the SDK's httpx client at the end (an open one warns, and warnings fail here)."""
    try:
        yield client
    finally:
        await client.request_adapter._http_client.aclose()  # the SDK offers no public close


def run(
    server: MockGraphServer,
    scenario: Callable[[GraphServiceClient], Awaitable[T]],
    credential: Any = None,
) -> T:
    async def main() -> T:
        async with connected(mock_graph_client(server.url, credential)) as graph:
            return await scenario(graph)

    return asyncio.run(main())


def refused(entries: list[Entry]) -> list[tuple[str, str, int, Any]]:
    """Exchanges the mock refused or answered against its own contract."""
    return [
        (e.method, e.path, e.status, e.response_body)
        for e in entries
        if e.status >= 400 or e.violations
    ]


async def create(graph: GraphServiceClient, name: str) -> TrustFrameworkKeySet:
    created = await graph.trust_framework.key_sets.post(TrustFrameworkKeySet(id=name))
    assert created is not None and created.id is not None
    return created


# -- the operations --------------------------------------------------------------------------


def test_sdk_creates_and_reads_back_a_key_set(server: MockGraphServer) -> None:
    async def scenario(graph: GraphServiceClient) -> tuple[Any, Any]:
        # With the @odata.type annotation the SDK sends when a model's odata_type is set.
        body = TrustFrameworkKeySet(odata_type=KEYSET_TYPE, id="sdkCreate")
        created = await graph.trust_framework.key_sets.post(body)
        fetched = await graph.trust_framework.key_sets.by_trust_framework_key_set_id(
            "B2C_1A_sdkCreate"
        ).get()
        return created, fetched

    created, fetched = run(server, scenario)
    assert created.id == "B2C_1A_sdkCreate"
    assert fetched.id == "B2C_1A_sdkCreate"
    assert fetched.keys == []
    assert refused(server.requests) == []
    assert server.requests[0].body == {"@odata.type": KEYSET_TYPE, "id": "sdkCreate"}


def test_sdk_lists_key_sets_page_by_page_with_odata_options(server: MockGraphServer) -> None:
    async def scenario(graph: GraphServiceClient) -> list[str]:
        for name in ("sdkList3", "sdkList1", "sdkList2"):
            await create(graph, name)
        config = RequestConfiguration(
            query_parameters=KeySetsRequestBuilder.KeySetsRequestBuilderGetQueryParameters(
                top=2, select=["id"], orderby=["id"], filter="startswith(id,'B2C_1A_sdkList')"
            )
        )
        page = await graph.trust_framework.key_sets.get(request_configuration=config)
        ids = [item.id for item in page.value]
        assert page.odata_next_link is not None
        rest = await graph.trust_framework.key_sets.with_url(page.odata_next_link).get()
        assert rest.odata_next_link is None
        return ids + [item.id for item in rest.value]

    ids = run(server, scenario)
    assert ids == ["B2C_1A_sdkList1", "B2C_1A_sdkList2", "B2C_1A_sdkList3"]
    assert refused(server.requests) == []


def test_sdk_updates_a_key_set_with_patch(server: MockGraphServer) -> None:
    async def scenario(graph: GraphServiceClient) -> Any:
        await create(graph, "sdkUpdate")
        item = graph.trust_framework.key_sets.by_trust_framework_key_set_id("B2C_1A_sdkUpdate")
        key = TrustFrameworkKey(
            odata_type="#microsoft.graph.trustFrameworkKey",
            kid="k1",
            kty="oct",
            use="sig",
            k="c2VjcmV0",
        )
        return await item.patch(TrustFrameworkKeySet(id="B2C_1A_sdkUpdate", keys=[key]))

    updated = run(server, scenario)
    assert [(k.kid, k.kty, k.use, k.k) for k in updated.keys] == [("k1", "oct", "sig", None)]
    assert [e.method for e in server.requests] == ["POST", "PATCH"]
    assert refused(server.requests) == []


def test_sdk_deletes_a_key_set_and_then_sees_graphs_404(server: MockGraphServer) -> None:
    async def scenario(graph: GraphServiceClient) -> ODataError:
        await create(graph, "sdkDelete")
        item = graph.trust_framework.key_sets.by_trust_framework_key_set_id("B2C_1A_sdkDelete")
        await item.delete()
        with pytest.raises(ODataError) as caught:
            await item.get()
        return caught.value

    error = run(server, scenario)
    assert error.response_status_code == 404
    assert error.error is not None and error.error.code == "itemNotFound"
    assert "B2C_1A_sdkDelete" in (error.error.message or "")
    assert [e.status for e in server.requests] == [201, 204, 404]


def test_sdk_generates_a_key_and_gets_it_back_as_the_active_key(
    server: MockGraphServer,
) -> None:
    async def scenario(graph: GraphServiceClient) -> tuple[Any, Any]:
        await create(graph, "sdkGenerate")
        item = graph.trust_framework.key_sets.by_trust_framework_key_set_id("B2C_1A_sdkGenerate")
        generated = await item.generate_key.post(GenerateKeyPostRequestBody(use="sig", kty="RSA"))
        active = await item.get_active_key.get()
        return generated, active

    generated, active = run(server, scenario)
    assert generated.kty == "RSA" and generated.e == "AQAB" and generated.n
    assert active.kid == generated.kid
    assert [e.path.rsplit("/", 1)[1] for e in server.requests[1:]] == [
        "generateKey",
        "getActiveKey()",  # the SDK calls the function with parentheses
    ]
    assert refused(server.requests) == []


def test_sdk_uploads_a_secret_that_is_never_read_back(server: MockGraphServer) -> None:
    async def scenario(graph: GraphServiceClient) -> Any:
        await create(graph, "sdkSecret")
        item = graph.trust_framework.key_sets.by_trust_framework_key_set_id("B2C_1A_sdkSecret")
        return await item.upload_secret.post(
            UploadSecretPostRequestBody(use="enc", k="dG9wLXNlY3JldA", nbf=1700000000)
        )

    key = run(server, scenario)
    assert (key.kty, key.use, key.nbf, key.k) == ("oct", "enc", 1700000000, None)
    assert refused(server.requests) == []


def test_sdk_uploads_a_certificate(server: MockGraphServer) -> None:
    _, cert = make_certificate()

    async def scenario(graph: GraphServiceClient) -> Any:
        await create(graph, "sdkCert")
        item = graph.trust_framework.key_sets.by_trust_framework_key_set_id("B2C_1A_sdkCert")
        return await item.upload_certificate.post(
            UploadCertificatePostRequestBody(key=cert_der_b64(cert))
        )

    key = run(server, scenario)
    assert key.kty == "RSA" and key.x5t and key.x5c == [cert_der_b64(cert)]
    assert refused(server.requests) == []


def test_sdk_uploads_a_password_protected_pkcs12(server: MockGraphServer) -> None:
    async def scenario(graph: GraphServiceClient) -> Any:
        await create(graph, "sdkPfx")
        item = graph.trust_framework.key_sets.by_trust_framework_key_set_id("B2C_1A_sdkPfx")
        return await item.upload_pkcs12.post(
            UploadPkcs12PostRequestBody(key=make_pfx_b64("pfx-pass"), password="pfx-pass")
        )

    key = run(server, scenario)
    assert key.kty == "RSA" and key.x5t and key.d is None
    assert refused(server.requests) == []
    assert server.requests[-1].body["password"] == "<redacted>"


def test_sdk_raises_odata_error_with_graphs_code_for_a_bad_request(
    server: MockGraphServer,
) -> None:
    async def scenario(graph: GraphServiceClient) -> ODataError:
        await create(graph, "sdkBad")
        item = graph.trust_framework.key_sets.by_trust_framework_key_set_id("B2C_1A_sdkBad")
        with pytest.raises(ODataError) as caught:
            await item.generate_key.post(GenerateKeyPostRequestBody(use="sig", kty="EC"))
        return caught.value

    error = run(server, scenario)
    assert error.response_status_code == 400
    assert error.error is not None and error.error.code == "invalidRequest"


def test_sdk_retry_handler_waits_out_a_throttled_request(server: MockGraphServer) -> None:
    server.reconfigure(Config(faults=("next 1 listKeySets -> 429 retry-after=1",)))

    async def scenario(graph: GraphServiceClient) -> Any:
        return await graph.trust_framework.key_sets.get()

    listing = run(server, scenario)
    assert listing.value == []
    assert [e.status for e in server.requests] == [429, 200]
    waits = waited_for_retry_after(server.requests, tolerance=0.05)
    assert len(waits) == 1 and waits[0].retry is not None
    assert waits[0].respected, f"retried after {waits[0].waited:.3f}s"


def test_sdk_retries_an_action_refused_with_503_and_the_key_is_added_once(
    server: MockGraphServer,
) -> None:
    server.reconfigure(Config(faults=("next 1 generateKey -> 503 retry-after=1",)))

    async def scenario(graph: GraphServiceClient) -> Any:
        await create(graph, "sdkOutage")
        item = graph.trust_framework.key_sets.by_trust_framework_key_set_id("B2C_1A_sdkOutage")
        await item.generate_key.post(GenerateKeyPostRequestBody(use="enc", kty="oct"))
        return await item.get()

    keyset = run(server, scenario)
    assert [e.status for e in server.requests] == [201, 503, 200, 200]
    assert len(keyset.keys) == 1
    assert all(w.respected for w in waited_for_retry_after(server.requests, tolerance=0.05))


def test_sdk_sends_no_token_to_a_host_outside_its_allowed_hosts(
    server: MockGraphServer,
) -> None:
    async def main() -> ODataError:
        # An app that pins allowed_hosts to Graph's must add the mock's host, or the SDK sends
        # no Authorization header and the mock answers 401, as Graph would.
        auth = AzureIdentityAuthenticationProvider(
            StaticToken(), allowed_hosts=["graph.microsoft.com"]
        )
        adapter = GraphRequestAdapter(auth)
        adapter.base_url = server.url
        async with connected(GraphServiceClient(request_adapter=adapter)) as graph:
            with pytest.raises(ODataError) as caught:
                await graph.trust_framework.key_sets.get()
            return caught.value

    error = asyncio.run(main())
    assert error.response_status_code == 401
    assert "Authorization" not in server.requests[-1].headers


def test_sdk_token_with_read_permission_reads_but_cannot_write(server: MockGraphServer) -> None:
    reader = StaticToken(make_token(roles=["TrustFrameworkKeySet.Read.All"]))

    async def scenario(graph: GraphServiceClient) -> tuple[Any, ODataError]:
        listing = await graph.trust_framework.key_sets.get()
        with pytest.raises(ODataError) as caught:
            await create(graph, "sdkReader")
        return listing, caught.value

    listing, error = run(server, scenario, reader)
    assert listing.value == []
    assert error.response_status_code == 403
    assert error.error is not None and error.error.code == "accessDenied"
