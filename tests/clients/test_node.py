"""The official Microsoft Graph JavaScript client (``@microsoft/microsoft-graph-client`` 3.x)
signing in with ``@azure/identity``'s ``ClientSecretCredential`` at the mock's authority, against
``mockgraph serve --tls``: the key set operations, a ``PageIterator`` over several pages, a
``GraphError`` for a bad body, refused sign-ins, the CommonJS entry points, and the README's
snippet (``node/readme_example.mjs``).

The scripts live in ``tests/clients/node/`` (their packages pinned in its package-lock.json,
installed by ``npm ci --prefix tests/clients/node``; ``.ci/run`` does it). Without ``node`` or
those packages the module skips, except when ``CI=true``: CI must run it, so there it fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from clients.conftest import HttpsMock, ServeHttps

pytestmark = pytest.mark.slow

NODE = shutil.which("node")
PROJECT = Path(__file__).with_name("node")
APP, SECRET = "11111111-1111-1111-1111-111111111111", "node~secret"
#: A node run that takes longer than this is stuck.
NODE_TIMEOUT = 120


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {reason}: .ci/run must install it", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


if NODE is None:
    _unavailable("node is not installed (apt-get install nodejs npm)")
elif not (PROJECT / "node_modules" / "@microsoft" / "microsoft-graph-client").is_dir():
    _unavailable("the Node packages are not installed (npm ci --prefix tests/clients/node)")


@pytest.fixture(scope="module")
def live(serve_https: ServeHttps) -> Iterator[HttpsMock]:
    with serve_https("--app", f"{APP}:{SECRET}=TrustFrameworkKeySet.ReadWrite.All") as mock:
        yield mock


@pytest.fixture
def mock(live: HttpsMock) -> HttpsMock:
    live.reset()
    return live


def node(mock: HttpsMock, script: str, *args: str, **env: str) -> Any:
    """Run ``node script args`` in the Node project against ``mock``; the JSON it printed last.
    Only the CA is trusted through ``NODE_EXTRA_CA_CERTS``, as a user does it."""
    assert NODE is not None
    variables = {
        **os.environ,
        "MOCKGRAPH_ROOT": mock.root,
        "NODE_EXTRA_CA_CERTS": str(mock.trust.ca),
        "CLIENT_ID": APP,
        "CLIENT_SECRET": SECRET,
        **env,
    }
    done = subprocess.run(
        [NODE, script, *args],
        cwd=PROJECT,
        env=variables,
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT,
    )
    assert done.returncode == 0, f"node {script} {' '.join(args)} failed:\n{done.stderr}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def operations(mock: HttpsMock) -> list[tuple[str, str, int]]:
    """Graph's exchanges of the journal: (method, operation, status)."""
    return [
        (e["method"], e["operation"], e["status"])
        for e in mock.requests()
        if e["path"].startswith("/beta/")
    ]


def test_node_client_runs_every_key_set_operation(mock: HttpsMock) -> None:
    seen = node(mock, "keysets.mjs", "lifecycle")

    assert seen["created"] == {"id": "B2C_1A_NodeLifecycle", "keys": []}
    assert seen["fetched"] == seen["created"]
    generated, uploaded = seen["generated"], seen["uploaded"]
    assert (generated["kty"], generated["use"], generated["e"]) == ("RSA", "sig", "AQAB")
    assert "d" not in generated and generated["kid"]
    assert (uploaded["kty"], uploaded["use"]) == ("oct", "enc") and "k" not in uploaded
    assert seen["active"]["kid"] in {generated["kid"], uploaded["kid"]}
    assert seen["patched"] == {
        "id": "B2C_1A_NodeLifecycle",
        "keys": [{"kid": "patched", "kty": "oct", "use": "sig"}],
    }
    assert seen["deleted"] is None
    gone = seen["gone"]
    assert gone["isGraphError"] and (gone["statusCode"], gone["code"]) == (404, "itemNotFound")
    assert operations(mock) == [
        ("POST", "createKeySet", 201),
        ("GET", "getKeySet", 200),
        ("POST", "generateKey", 200),
        ("POST", "uploadSecret", 200),
        ("GET", "getActiveKey", 200),
        ("PATCH", "updateKeySet", 200),
        ("DELETE", "deleteKeySet", 204),
        ("GET", "getKeySet", 404),
    ]
    # Every call carried the token @azure/identity got from the mock's authority, once.
    tokens = mock.requests(operation="authority.token")
    assert [e["status"] for e in tokens] == [200]


def test_node_page_iterator_follows_next_links_over_every_page(mock: HttpsMock) -> None:
    names = [f"B2C_1A_Node{n:03d}" for n in range(105)]
    mock.seed({"keySets": [{"id": name, "keys": []} for name in names]})

    seen = node(mock, "keysets.mjs", "pages")

    assert seen["firstPage"] == 100 and seen["nextLink"].startswith(mock.url)
    assert sorted(seen["ids"]) == names
    assert operations(mock) == [("GET", "listKeySets", 200)] * 2


def test_node_client_throws_graph_error_for_a_bad_body(mock: HttpsMock) -> None:
    error = node(mock, "keysets.mjs", "badBody")

    assert error["isGraphError"] and error["type"] == "GraphError"
    assert (error["statusCode"], error["code"]) == (400, "invalidRequest")
    assert error["message"] == "The property 'id' must be a string."
    assert error["requestId"] == mock.requests()[-1]["response_headers"]["request-id"]


def test_node_sign_in_with_a_wrong_secret_is_refused_with_aadsts7000215(mock: HttpsMock) -> None:
    seen = node(mock, "keysets.mjs", "signInRefused", CLIENT_SECRET="not-the-secret")

    # @azure/identity turns the token endpoint's refusal into AuthenticationRequiredError; the
    # Graph client wraps that in a GraphError of status -1 (no Graph answer was received).
    direct, graph = seen["getToken"], seen["graph"]
    assert direct["name"] == "AuthenticationRequiredError"
    assert (graph["isGraphError"], graph["statusCode"], graph["code"]) == (
        True,
        -1,
        "AuthenticationRequiredError",
    )
    for error in (direct, graph):
        assert error["message"].startswith("invalid_client: Error(s): 7000215 ")
        assert "AADSTS7000215: Invalid client secret provided." in error["message"]
    # Nothing reached Graph without a token.
    assert operations(mock) == []
    assert {e["status"] for e in mock.requests(operation="authority.token")} == {401}


def test_node_sign_in_of_an_unknown_app_is_refused_with_aadsts700016(mock: HttpsMock) -> None:
    unknown = "22222222-2222-2222-2222-222222222222"
    seen = node(mock, "keysets.mjs", "signInRefused", CLIENT_ID=unknown)

    for error in seen.values():
        assert error["message"].startswith("unauthorized_client: Error(s): 700016 ")
        assert f"AADSTS700016: Application with identifier '{unknown}'" in error["message"]
    assert operations(mock) == []
    assert {e["status"] for e in mock.requests(operation="authority.token")} == {400}


def test_node_client_loads_with_require(mock: HttpsMock) -> None:
    seen = node(mock, "commonjs.cjs")

    assert seen == {"created": "B2C_1A_NodeCommonJs", "listed": ["B2C_1A_NodeCommonJs"]}


def test_readme_node_example(serve_https: ServeHttps) -> None:
    # The README's snippet runs against a server started as the README says (no app
    # registered: any app id and secret sign in).
    with serve_https() as mock:
        trust = {"MOCKGRAPH_ROOT": mock.root, "NODE_EXTRA_CA_CERTS": str(mock.trust.ca)}
        done = subprocess.run(
            [str(NODE), "readme_example.mjs"],
            cwd=PROJECT,
            env={**os.environ, **trust},
            capture_output=True,
            text=True,
            timeout=NODE_TIMEOUT,
        )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["B2C_1A_TokenSigningKeyContainer", "RSA", "sig"]
