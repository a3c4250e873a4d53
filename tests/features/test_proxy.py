"""The recording proxy (``mockgraph record``): forwards ``/beta`` to a LOCAL stand-in upstream
(allowed explicitly: only Graph's own hosts are by default), returns its answer unchanged but for
the links that lead back to it, and records what it saw, contract violations included, secrets
never."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from crypto_factory import cert_der_b64, make_certificate
from flask import Flask, Response
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from mockgraph import Config, MockGraphServer, create_app
from mockgraph import cli as cli_module
from mockgraph.cli import main
from mockgraph.features.faults import FAULT_HEADER
from mockgraph.features.proxy import GRAPH_HOSTS, Proxy, Upstream, create_proxy, proxy_of
from mockgraph.features.recording import Recorder
from mockgraph.http.contracts import Contracts
from mockgraph.serve.production import Listen
from mockgraph.serve.worker import Build

AUTH = {"Authorization": "Bearer secret-token-value"}
KEYSETS = "/beta/trustFramework/keySets"
LOCAL = ["127.0.0.1"]


def files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.glob("*.json"))


def read(directory: Path, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((directory / name).read_text(encoding="utf-8"))
    return data


@contextmanager
def serving(app: Flask) -> Iterator[str]:
    """A plain WSGI app on a free loopback port; yields its root URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


@pytest.fixture
def record_dir(tmp_path: Path) -> Path:
    return tmp_path / "recordings"


@pytest.fixture
def upstream(contracts: Contracts) -> Iterator[MockGraphServer]:
    """A real mockgraph on a free port: the stand-in for Graph."""
    with MockGraphServer(app=create_app(Config(), contracts=contracts)) as server:
        yield server


@pytest.fixture
def proxy_client(
    upstream: MockGraphServer, record_dir: Path, contracts: Contracts
) -> Iterator[FlaskClient]:
    app = create_proxy(upstream.url, record_dir, contracts=contracts, allowed_hosts=LOCAL)
    with app.test_client() as client:
        yield client


def test_the_proxy_returns_the_upstream_answer_with_links_naming_the_proxy(
    proxy_client: FlaskClient, upstream: MockGraphServer
) -> None:
    answer = proxy_client.post(KEYSETS, json={"id": "demo"}, headers=AUTH)
    assert answer.status_code == 201
    assert answer.headers["Location"] == "/trustFramework/keySets('B2C_1A_demo')"
    assert answer.headers["Content-Type"].startswith("application/json")
    body = answer.get_json()
    assert body["id"] == "B2C_1A_demo"
    assert (
        body["@odata.context"] == "http://localhost/beta/$metadata#trustFramework/keySets/$entity"
    )
    sent = upstream.requests[-1]
    assert sent.headers["Authorization"] == "Bearer <redacted>"  # the token was forwarded
    assert answer.headers["request-id"] == sent.response_headers["request-id"]
    assert [k.id for k in upstream.store] == ["B2C_1A_demo"]


def test_the_next_link_of_the_upstream_names_the_proxy_and_leads_on_through_it(
    proxy_client: FlaskClient, upstream: MockGraphServer, record_dir: Path
) -> None:
    for name in ("a", "b", "c"):
        proxy_client.post(KEYSETS, json={"id": name}, headers=AUTH)
    first = proxy_client.get(KEYSETS, headers=AUTH, query_string={"$top": "2"}).get_json()
    link = first["@odata.nextLink"]
    assert link.startswith("http://localhost/beta/trustFramework/keySets?")
    assert upstream.url not in json.dumps(first)
    second = proxy_client.get(link.removeprefix("http://localhost"), headers=AUTH).get_json()
    assert [k["id"] for k in first["value"] + second["value"]] == [
        "B2C_1A_a",
        "B2C_1A_b",
        "B2C_1A_c",
    ]
    assert "@odata.nextLink" not in second
    assert files(record_dir)[-2:] == ["0004-listKeySets-200.json", "0005-listKeySets-200.json"]


def test_the_proxy_forwards_every_url_form_and_the_query(
    proxy_client: FlaskClient, upstream: MockGraphServer, record_dir: Path
) -> None:
    proxy_client.post(KEYSETS, json={"id": "demo"}, headers=AUTH)
    assert proxy_client.get(KEYSETS + "('B2C_1A_demo')", headers=AUTH).status_code == 200
    listed = proxy_client.get(KEYSETS, headers=AUTH, query_string={"$top": "1"})
    assert listed.status_code == 200
    assert upstream.requests[-1].query == {"$top": ["1"]}
    assert files(record_dir)[1:] == ["0002-getKeySet-200.json", "0003-listKeySets-200.json"]


def test_the_mocks_fault_header_never_reaches_the_upstream(
    proxy_client: FlaskClient, upstream: MockGraphServer
) -> None:
    answer = proxy_client.get(KEYSETS, headers={**AUTH, FAULT_HEADER: "503"})
    assert answer.status_code == 200
    assert FAULT_HEADER not in upstream.requests[-1].headers


def test_the_proxy_records_each_exchange_with_its_upstream_as_source(
    proxy_client: FlaskClient, upstream: MockGraphServer, record_dir: Path
) -> None:
    proxy_client.post(KEYSETS, json={"id": "demo"}, headers=AUTH)
    proxy_client.get(KEYSETS + "/B2C_1A_nope", headers=AUTH)
    assert files(record_dir) == ["0001-createKeySet-201.json", "0002-getKeySet-404.json"]
    created = read(record_dir, "0001-createKeySet-201.json")
    assert created["source"] == f"mockgraph record --upstream {upstream.url}"
    assert created["request"]["headers"]["authorization"] == "Bearer <redacted>"
    assert created["response"]["body"]["@odata.context"].startswith("<origin>/beta/$metadata#")
    assert created["response"]["headers"]["request-id"] == "<request-id>"
    assert "date" not in created["response"]["headers"]
    assert created["violations"] == []
    assert "secret-token-value" not in (record_dir / "0001-createKeySet-201.json").read_text()


def test_secrets_in_headers_and_the_query_are_not_recorded(
    proxy_client: FlaskClient, record_dir: Path
) -> None:
    proxy_client.get(
        KEYSETS,
        headers={**AUTH, "X-Api-Key": "ApiKey55"},
        query_string={"access_token": "QueryTok44", "$top": "1"},
    )
    (name,) = files(record_dir)
    text = (record_dir / name).read_text()
    assert "ApiKey55" not in text and "QueryTok44" not in text
    recorded = read(record_dir, name)["request"]
    assert recorded["query"] == {"access_token": "<redacted>", "$top": "1"}
    assert recorded["headers"]["x-api-key"] == "<redacted>"


def test_an_uploaded_certificate_is_recorded_without_its_file(
    proxy_client: FlaskClient, record_dir: Path
) -> None:
    _, cert = make_certificate()
    proxy_client.post(KEYSETS, json={"id": "demo"}, headers=AUTH)
    proxy_client.post(
        KEYSETS + "/B2C_1A_demo/uploadCertificate", json={"key": cert_der_b64(cert)}, headers=AUTH
    )
    recorded = read(record_dir, "0002-uploadCertificate-200.json")
    # A certificate file may carry its private key: replay makes a certificate of its own.
    assert recorded["request"]["body"] == {"key": "<redacted>"}
    assert recorded["response"]["body"]["x5t"] == "<x5t>"
    assert recorded["violations"] == []


def breaking_upstream() -> Flask:
    """A stand-in that accepts anything, answers generateKey with a secret in the key, and a
    read with HTML."""
    app = Flask("breaking")

    @app.post("/beta/trustFramework/keySets/<keyset_id>/generateKey")
    def generate(keyset_id: str) -> Response:
        leaked = {"kid": "k1", "kty": "oct", "use": "sig", "k": "leaked-secret"}
        return Response(json.dumps(leaked), 200, content_type="application/json")

    @app.post("/beta/trustFramework/keySets")
    def create() -> Response:
        return Response('{"id": "B2C_1A_x", "keys": []}', 201, content_type="application/json")

    @app.get("/beta/trustFramework/keySets/<keyset_id>")
    def get(keyset_id: str) -> Response:
        return Response("<html>oops</html>", 500, content_type="text/html")

    return app


def test_the_proxy_records_violations_of_both_directions_without_blocking(
    record_dir: Path, contracts: Contracts
) -> None:
    with serving(breaking_upstream()) as root:
        client = create_proxy(
            root, record_dir, contracts=contracts, allowed_hosts=LOCAL
        ).test_client()
        created = client.post(KEYSETS, json={"id": "x", "colour": "red"}, headers=AUTH)
        generated = client.post(
            KEYSETS + "/B2C_1A_x/generateKey", json={"use": "sig", "kty": "oct"}, headers=AUTH
        )
        broken = client.get(KEYSETS + "/B2C_1A_x", headers=AUTH)
    assert created.status_code == 201
    assert generated.get_json()["k"] == "leaked-secret"  # returned unchanged
    assert broken.status_code == 500 and broken.data == b"<html>oops</html>"
    assert read(record_dir, "0001-createKeySet-201.json")["violations"] == [
        "request: The property 'colour' does not exist on this resource."
    ]
    recorded = read(record_dir, "0002-generateKey-200.json")
    assert recorded["violations"] == [
        "response: The property 'k' is write-only and must not be read back."
    ]
    assert recorded["response"]["body"]["k"] == "<redacted>"
    assert "leaked-secret" not in (record_dir / "0002-generateKey-200.json").read_text()
    error = read(record_dir, "0003-getKeySet-500.json")
    assert error["response"]["body"] == "<not recorded: 17 bytes, not JSON>"
    assert error["violations"] == [
        'response: An error answer must have Graph\'s {"error": {"code", "message"}} body.'
    ]


@pytest.mark.parametrize(
    "data",
    [
        b'{"id": "B2C_1A_\\ud800", "keys": []}',
        b'{"id": "B2C_1A_x", "keys": [}',
        b'{"@odata.nextLink": "x", "value": [NaN]}',
    ],
    ids=["lone surrogate", "invalid JSON", "NaN"],
)
def test_an_upstream_answer_that_is_not_json_is_returned_unchanged_and_not_recorded(
    record_dir: Path, contracts: Contracts, data: bytes
) -> None:
    odd = Flask("odd")

    @odd.get("/beta/trustFramework/keySets/<keyset_id>")
    def get(keyset_id: str) -> Response:
        return Response(data, 200, content_type="application/json")

    with serving(odd) as root:
        client = create_proxy(
            root, record_dir, contracts=contracts, allowed_hosts=LOCAL
        ).test_client()
        answer = client.get(KEYSETS + "/B2C_1A_x", headers=AUTH)
    assert (answer.status_code, answer.data) == (200, data)
    (name,) = files(record_dir)
    assert read(record_dir, name)["response"]["body"] == (
        f"<not recorded: {len(data)} bytes, not JSON>"
    )


def test_an_unreachable_upstream_is_a_graph_502_and_nothing_is_recorded(
    record_dir: Path, contracts: Contracts
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = create_proxy(
        f"http://127.0.0.1:{port}", record_dir, contracts=contracts, allowed_hosts=LOCAL
    ).test_client()
    answer = client.get(KEYSETS, headers=AUTH)
    assert answer.status_code == 502
    error = answer.get_json()["error"]
    assert error["code"] == "serviceNotAvailable"
    assert error["message"].startswith(f"The upstream http://127.0.0.1:{port}/beta could not")
    assert set(error["innerError"]) == {"date", "request-id", "client-request-id"}
    assert files(record_dir) == []


def test_an_upstream_slower_than_the_timeout_is_a_graph_504(
    record_dir: Path, contracts: Contracts
) -> None:
    release = threading.Event()
    slow = Flask("slow")

    @slow.get("/beta/trustFramework/keySets")
    def hang() -> str:
        release.wait(10)
        return "{}"

    with serving(slow) as root:
        client = create_proxy(
            root, record_dir, contracts=contracts, timeout=0.05, allowed_hosts=LOCAL
        ).test_client()
        try:
            answer = client.get(KEYSETS, headers=AUTH)
        finally:
            release.set()
    assert answer.status_code == 504
    assert answer.get_json()["error"]["code"] == "serviceNotAvailable"


def test_paths_outside_beta_get_a_graph_404_from_the_proxy(
    proxy_client: FlaskClient, record_dir: Path
) -> None:
    answer = proxy_client.get("/v1.0/me", headers=AUTH)
    assert answer.status_code == 404
    assert answer.get_json()["error"]["code"] == "itemNotFound"
    assert files(record_dir) == []


@pytest.mark.parametrize(
    ("method", "path", "operation"),
    [
        ("POST", KEYSETS, "createKeySet"),
        ("GET", KEYSETS + "('B2C_1A_x')", "getKeySet"),
        ("PATCH", KEYSETS + "/B2C_1A_x", "updateKeySet"),
        ("POST", KEYSETS + "/B2C_1A_x/microsoft.graph.generateKey", "generateKey"),
        ("GET", KEYSETS + "/B2C_1A_x/getActiveKey()", "getActiveKey"),
        ("PATCH", KEYSETS + "/B2C_1A_x/keys_v2/abc", "updateKeyV2"),
        ("GET", "/beta/me", None),
        ("DELETE", KEYSETS, None),
    ],
)
def test_the_proxy_names_the_operation_of_every_url_form(
    tmp_path: Path, contracts: Contracts, method: str, path: str, operation: str | None
) -> None:
    upstream = Upstream.parse("http://127.0.0.1:1", LOCAL)
    proxy = Proxy(upstream, Recorder(tmp_path, source="t"), contracts, timeout=1.0)
    found = proxy.operation(method, path)
    assert (found.id if found else None) == operation


@pytest.mark.parametrize(
    ("url", "forwarded_to"),
    [
        ("https://graph.microsoft.com", "https://graph.microsoft.com/beta"),
        ("https://graph.microsoft.com/beta/", "https://graph.microsoft.com/beta"),
        ("https://graph.microsoft.us", "https://graph.microsoft.us/beta"),
        ("http://127.0.0.1:9000/mock/beta", "http://127.0.0.1:9000/mock/beta"),
    ],
)
def test_the_upstream_url_names_what_beta_is_forwarded_to(url: str, forwarded_to: str) -> None:
    assert Upstream.parse(url, GRAPH_HOSTS | {"127.0.0.1"}).url == forwarded_to


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://example.com", "http:// or https://"),
        ("graph.microsoft.com", "http:// or https://"),
        ("https://user:pw@graph.microsoft.com", "credentials"),
        ("https://graph.microsoft.com/beta?x=1", "query"),
    ],
)
def test_a_bad_upstream_url_is_refused(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        Upstream.parse(url)


@pytest.mark.parametrize(
    "url", ["https://evil.example", "https://graph.microsoft.com.evil.example", "http://127.0.0.1"]
)
def test_only_graphs_hosts_are_upstreams_unless_allowed(
    tmp_path: Path, contracts: Contracts, url: str
) -> None:
    host = url.split("://", 1)[1]
    with pytest.raises(ValueError, match=f"the upstream host {host} is not a Microsoft Graph host"):
        create_proxy(url, tmp_path / "out", contracts=contracts)
    assert not (tmp_path / "out").exists()


def test_an_allowed_host_widens_graphs_list(tmp_path: Path, contracts: Contracts) -> None:
    app = create_proxy(
        "https://mock.example/beta", tmp_path, contracts=contracts, allowed_hosts=["MOCK.example"]
    )
    assert proxy_of(app).upstream.url == "https://mock.example/beta"


# --------------------------------------------------------------------------------------------
# mockgraph record


def test_record_command_serves_the_proxy_on_the_given_address(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    served: dict[str, Any] = {}

    def fake_serve(build: Build, listen: Listen, **options: Any) -> int:
        served.update(app=build.app(), listen=listen)
        return 0

    monkeypatch.setattr(cli_module, "serve", fake_serve)
    result = CliRunner().invoke(
        main,
        ["record", "--upstream", "https://graph.microsoft.com", "--out", str(tmp_path / "rec")],
    )
    assert result.exit_code == 0, result.output
    assert "recording https://graph.microsoft.com/beta into" in result.output
    assert (served["listen"].host, served["listen"].port) == ("127.0.0.1", 8000)
    assert proxy_of(served["app"]).upstream.url == "https://graph.microsoft.com/beta"
    assert (tmp_path / "rec").is_dir()


def test_record_command_refuses_a_non_loopback_address(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["record", "--upstream", "http://127.0.0.1:1", "--out", str(tmp_path), "--host", "0.0.0.0"],
    )
    assert result.exit_code == 2
    assert "refusing to bind 0.0.0.0" in result.output


def test_record_command_names_a_bad_upstream(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["record", "--upstream", "graph.microsoft.com", "--out", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "--upstream" in result.output and "http:// or https://" in result.output
    assert "Traceback" not in result.output
