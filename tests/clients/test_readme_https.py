"""Twin of the README's Python snippet for HTTPS: azure-identity signs in at the mock's
authority and the official Graph beta SDK calls ``mockgraph serve --tls`` with its token, the
CA trusted through ``SSL_CERT_FILE`` (httpx) and ``REQUESTS_CA_BUNDLE`` (requests).

The README's shell lines, which this module's fixtures do::

    mockgraph serve --tls --port 8443
    export SSL_CERT_FILE=$(mockgraph ca | tail -1) REQUESTS_CA_BUNDLE=$(mockgraph ca | tail -1)
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::DeprecationWarning:msgraph_beta"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:kiota_abstractions"),
]

with warnings.catch_warnings():
    # The SDK warns about its own deprecated classes as it imports them.
    warnings.filterwarnings(
        "ignore", category=DeprecationWarning, module=r"(msgraph_beta|kiota_abstractions)(\.|$)"
    )
    from azure.identity import ClientSecretCredential
    from msgraph_beta import GraphServiceClient
    from msgraph_beta.generated.models.trust_framework_key_set import TrustFrameworkKeySet
    from msgraph_beta.generated.trust_framework.key_sets.item.generate_key.generate_key_post_request_body import (  # noqa: E501
        GenerateKeyPostRequestBody,
    )

if TYPE_CHECKING:
    from clients.conftest import HttpsMock, ServeHttps, Trust


@pytest.fixture(scope="module")
def served(serve_https: ServeHttps, trust_in_python: Trust) -> Iterator[HttpsMock]:
    with serve_https() as mock:
        yield mock


def test_readme_https_example(served: HttpsMock) -> None:
    mock = served.root  # the README: "https://127.0.0.1:8443"

    # The README's snippet:
    credential = ClientSecretCredential(
        "my-tenant",
        "my-app-id",
        "my-secret",
        authority=mock,  # sign in at the mock, not at login.microsoftonline.com
        disable_instance_discovery=True,
    )
    graph = GraphServiceClient(
        credentials=credential, scopes=["https://graph.microsoft.com/.default"]
    )
    graph.request_adapter.base_url = mock + "/beta"

    async def main() -> Any:
        key_set = await graph.trust_framework.key_sets.post(TrustFrameworkKeySet(id="signing"))
        item = graph.trust_framework.key_sets.by_trust_framework_key_set_id(key_set.id)
        return await item.generate_key.post(GenerateKeyPostRequestBody(use="sig", kty="RSA"))

    # End of the snippet; the test's own checks and clean-up follow.
    async def run() -> Any:
        try:
            return await main()
        finally:
            await close(graph)

    key = asyncio.run(run())
    credential.close()

    assert (key.kty, key.use) == ("RSA", "sig")
    calls = [(e["operation"], e["status"]) for e in served.requests()]
    assert calls == [
        ("authority.openid_configuration", 200),
        ("authority.token", 200),
        ("createKeySet", 201),
        ("generateKey", 200),
    ]


async def close(graph: GraphServiceClient) -> None:
    """Close the SDK's connections (the SDK has no public close; msgraph-core's transport does
    not pass ``aclose`` on to the httpx transport it wraps)."""
    http = graph.request_adapter._http_client
    await http.aclose()
    for transport in [http._transport, *http._mounts.values()]:
        inner = getattr(transport, "transport", None)
        if inner is not None:
            await inner.aclose()
