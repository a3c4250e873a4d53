"""Recording: ``serve --record`` writes one redacted, normalised example file per exchange; the
recording proxy forwards to a LOCAL stand-in upstream, returns its answer unchanged and records
what it saw, contract violations included."""

from __future__ import annotations

import copy
import json
import logging
import shutil
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from crypto_factory import cert_der_b64, make_certificate, make_pfx_b64
from flask import Flask, Response
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from mockgraph import Config, MockGraphServer, create_app
from mockgraph import cli as cli_module
from mockgraph.cli import main
from mockgraph.features.recording import (
    Exchange,
    Proxy,
    Recorder,
    Upstream,
    create_proxy,
    proxy_of,
    recorder_of,
)
from mockgraph.http.contracts import Contracts, compile_contract
from mockgraph.http.errors import StartupError
from mockgraph.state import mockgraph

AUTH = {"Authorization": "Bearer secret-token-value"}
KEYSETS = "/beta/trustFramework/keySets"


def files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.glob("*.json"))


def read(directory: Path, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((directory / name).read_text(encoding="utf-8"))
    return data


@pytest.fixture
def record_dir(tmp_path: Path) -> Path:
    return tmp_path / "recordings"


@pytest.fixture
def recording_client(record_dir: Path, contracts: Contracts) -> Iterator[FlaskClient]:
    app = create_app(Config(record_dir=record_dir), contracts=contracts)
    with app.test_client() as client:
        yield client


def a_session(client: FlaskClient) -> None:
    """Create, add keys of every kind, read, list, delete, then miss: one of each."""
    client.post(KEYSETS, json={"id": "demo"}, headers=AUTH)
    client.post(
        KEYSETS + "/B2C_1A_demo/generateKey", json={"use": "sig", "kty": "RSA"}, headers=AUTH
    )
    client.post(
        KEYSETS + "/B2C_1A_demo/uploadSecret",
        json={"use": "enc", "k": "my-app-secret"},
        headers=AUTH,
    )
    client.get(KEYSETS + "/B2C_1A_demo", headers=AUTH)
    client.get(KEYSETS, headers=AUTH, query_string={"$top": "1"})
    client.delete(KEYSETS + "/B2C_1A_demo", headers=AUTH)
    client.get(KEYSETS + "/B2C_1A_demo", headers=AUTH)


# --------------------------------------------------------------------------------------------
# serve --record


def test_every_exchange_becomes_one_file_named_by_number_operation_and_status(
    recording_client: FlaskClient, record_dir: Path
) -> None:
    a_session(recording_client)
    assert files(record_dir) == [
        "0001-createKeySet-201.json",
        "0002-generateKey-200.json",
        "0003-uploadSecret-200.json",
        "0004-getKeySet-200.json",
        "0005-listKeySets-200.json",
        "0006-deleteKeySet-204.json",
        "0007-getKeySet-404.json",
    ]


def test_a_recording_has_the_fixture_format_marked_as_not_documented(
    recording_client: FlaskClient, record_dir: Path
) -> None:
    recording_client.post(
        KEYSETS, json={"id": "demo"}, headers={**AUTH, "client-request-id": "abc-123"}
    )
    example = read(record_dir, "0001-createKeySet-201.json")
    assert example == {
        "name": "0001-createKeySet-201",
        "operation": "createKeySet",
        "documented": False,
        "truncated": False,
        "source": "mockgraph serve --record",
        "placeholders": [],
        "request": {
            "method": "POST",
            "path": KEYSETS,
            "query": {},
            "headers": {
                "authorization": "Bearer <redacted>",
                "client-request-id": "<client-request-id>",
                "content-type": "application/json",
            },
            "body": {"id": "demo"},
        },
        "response": {
            "status": 201,
            "headers": {
                "content-type": example["response"]["headers"]["content-type"],
                "location": "/trustFramework/keySets('B2C_1A_demo')",
                "request-id": "<request-id>",
                "client-request-id": "<client-request-id>",
            },
            "body": {
                "@odata.context": "<origin>/beta/$metadata#trustFramework/keySets/$entity",
                "id": "B2C_1A_demo",
                "keys": [],
            },
        },
        "contract": "createKeySet",
        "violations": [],
        "fault": None,
    }


def test_tokens_secrets_and_passwords_never_reach_the_folder(
    recording_client: FlaskClient, record_dir: Path
) -> None:
    recording_client.post(KEYSETS, json={"id": "demo"}, headers=AUTH)
    recording_client.post(
        KEYSETS + "/B2C_1A_demo/uploadSecret",
        json={"use": "enc", "k": "my-app-secret"},
        headers=AUTH,
    )
    pfx = make_pfx_b64("pfx-password")
    recording_client.post(
        KEYSETS + "/B2C_1A_demo/uploadPkcs12",
        json={"key": pfx, "password": "pfx-password"},
        headers=AUTH,
    )
    text = "".join(p.read_text() for p in record_dir.glob("*.json"))
    for secret in ("secret-token-value", "my-app-secret", "pfx-password", pfx[:40]):
        assert secret not in text
    upload = read(record_dir, "0003-uploadPkcs12-200.json")
    assert upload["request"]["body"] == {"key": "<redacted>", "password": "<redacted>"}


def test_volatile_values_are_normalised_so_two_runs_of_a_session_diff_cleanly(
    tmp_path: Path, contracts: Contracts
) -> None:
    runs = []
    for run in ("first", "second"):
        app = create_app(Config(record_dir=tmp_path / run), contracts=contracts)
        a_session(app.test_client())
        runs.append({p.name: p.read_text() for p in (tmp_path / run).glob("*.json")})
    assert runs[0] == runs[1]
    generated = json.loads(runs[0]["0002-generateKey-200.json"])["response"]["body"]
    assert generated["kid"] == "<kid>"
    assert generated["n"] == "<n>"
    assert generated["e"] == "AQAB"
    missing = json.loads(runs[0]["0007-getKeySet-404.json"])["response"]["body"]["error"]
    assert missing["innerError"] == {
        "date": "<date>",
        "request-id": "<request-id>",
        "client-request-id": "<client-request-id>",
    }
    assert missing["message"] == "Key set 'B2C_1A_demo' was not found."


def test_an_answer_breaking_its_contract_is_recorded_with_its_violations(
    tmp_path: Path, contracts: Contracts
) -> None:
    schema = copy.deepcopy(dict(contracts["createKeySet"].schema))
    schema["$defs"]["response"]["required"] = ["displayName"]
    stricter = Contracts([*(contracts[op] for op in contracts), compile_contract(schema)])
    app = create_app(Config(record_dir=tmp_path), contracts=stricter)
    answer = app.test_client().post(KEYSETS, json={"id": "demo"}, headers=AUTH)
    assert answer.status_code == 201  # recorded, never blocking
    example = read(tmp_path, "0001-createKeySet-201.json")
    assert example["violations"] == ["response: The property 'displayName' is required."]


def test_control_api_cors_preflights_and_batch_envelopes_are_not_recorded(
    recording_client: FlaskClient, record_dir: Path
) -> None:
    recording_client.get("/_mockgraph/health")
    recording_client.options(KEYSETS, headers={"Origin": "http://localhost:3000"})
    batch = {"requests": [{"id": "1", "method": "GET", "url": "/trustFramework/keySets"}]}
    recording_client.post("/beta/$batch", json=batch, headers=AUTH)
    assert files(record_dir) == ["0001-listKeySets-200.json"]


def test_unrouted_paths_and_missing_tokens_are_recorded_as_errors(
    recording_client: FlaskClient, record_dir: Path
) -> None:
    recording_client.get("/beta/nothing/here", headers=AUTH)
    recording_client.get(KEYSETS)
    assert files(record_dir) == ["0001-unmatched-404.json", "0002-listKeySets-401.json"]
    unmatched = read(record_dir, "0001-unmatched-404.json")
    assert unmatched["operation"] is None and unmatched["contract"] is None
    assert unmatched["response"]["body"]["error"]["code"] == "itemNotFound"


def test_a_body_over_the_limit_is_recorded_without_its_body(
    tmp_path: Path, contracts: Contracts
) -> None:
    app = create_app(Config(record_dir=tmp_path, max_body_bytes=64), contracts=contracts)
    answer = app.test_client().post(KEYSETS, json={"id": "x" * 200}, headers=AUTH)
    assert answer.status_code == 413
    example = read(tmp_path, "0001-createKeySet-413.json")
    assert example["request"]["body"] is None


def test_a_hostile_deep_body_is_answered_and_recorded_without_its_body(
    recording_client: FlaskClient, record_dir: Path
) -> None:
    deep = b'{"id":' * 200 + b'"x"' + b"}" * 200  # deeper than any Graph body
    answer = recording_client.post(
        KEYSETS, data=deep, headers={**AUTH, "Content-Type": "application/json"}
    )
    assert answer.status_code == 400
    example = read(record_dir, "0001-createKeySet-400.json")
    assert example["request"]["body"] == "<not recorded: nested deeper than 64 levels>"
    assert example["truncated"] is True


def test_secrets_in_a_malformed_body_are_redacted_too(
    recording_client: FlaskClient, record_dir: Path
) -> None:
    broken = b'{"use": "sig", "k": "my-app-secret",}'
    answer = recording_client.post(
        KEYSETS + "/B2C_1A_demo/uploadSecret",
        data=broken,
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert answer.status_code in {400, 404}
    (name,) = files(record_dir)
    assert read(record_dir, name)["request"]["body"] == '{"use": "sig", "k": "<redacted>",}'


def test_numbering_continues_after_the_files_already_in_the_folder(
    record_dir: Path, contracts: Contracts
) -> None:
    for _ in range(2):
        app = create_app(Config(record_dir=record_dir), contracts=contracts)
        app.test_client().get(KEYSETS, headers=AUTH)
    assert files(record_dir) == ["0001-listKeySets-200.json", "0002-listKeySets-200.json"]


def test_without_a_record_folder_nothing_is_installed(app: Flask) -> None:
    assert recorder_of(mockgraph(app)) is None


def test_a_record_folder_that_cannot_be_made_is_a_startup_error(
    tmp_path: Path, contracts: Contracts
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(StartupError, match="cannot record into"):
        create_app(Config(record_dir=blocker / "recordings"), contracts=contracts)


def test_a_failed_write_is_logged_and_the_answer_still_sent(
    recording_client: FlaskClient, record_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    shutil.rmtree(record_dir)
    with caplog.at_level(logging.ERROR, logger="mockgraph"):
        answer = recording_client.post(KEYSETS, json={"id": "demo"}, headers=AUTH)
    assert answer.status_code == 201
    assert "could not write the recording" in caplog.text
    record_dir.mkdir()
    recording_client.get(KEYSETS, headers=AUTH)
    assert files(record_dir) == ["0002-listKeySets-200.json"]  # later exchanges are still recorded


def test_concurrent_exchanges_each_get_their_own_number(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path, source="test")
    exchange = Exchange(
        method="GET",
        path=KEYSETS,
        query=[],
        request_headers=[],
        request_body=None,
        status=200,
        response_headers=[],
        response_body={"value": []},
        operation="listKeySets",
        contract="listKeySets",
    )
    threads = [
        threading.Thread(target=lambda: [recorder.record(exchange) for _ in range(25)])
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    written = files(tmp_path)
    assert written == [f"{n:04d}-listKeySets-200.json" for n in range(1, 201)]
    assert all(read(tmp_path, name)["response"]["body"] == {"value": []} for name in written)


def test_a_live_server_records_as_the_app_does(tmp_path: Path, contracts: Contracts) -> None:
    app = create_app(Config(record_dir=tmp_path), contracts=contracts)
    with MockGraphServer(app=app) as server:
        requests.post(
            server.url + "/trustFramework/keySets", json={"id": "x"}, headers=AUTH, timeout=10
        )
    assert files(tmp_path) == ["0001-createKeySet-201.json"]
    assert read(tmp_path, "0001-createKeySet-201.json")["response"]["body"]["@odata.context"] == (
        "<origin>/beta/$metadata#trustFramework/keySets/$entity"
    )


# --------------------------------------------------------------------------------------------
# The recording proxy


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
def upstream(contracts: Contracts) -> Iterator[MockGraphServer]:
    """A real mockgraph on a free port: the stand-in for Graph."""
    with MockGraphServer(app=create_app(Config(), contracts=contracts)) as server:
        yield server


@pytest.fixture
def proxy_client(
    upstream: MockGraphServer, record_dir: Path, contracts: Contracts
) -> Iterator[FlaskClient]:
    with create_proxy(upstream.url, record_dir, contracts=contracts).test_client() as client:
        yield client


def test_the_proxy_returns_the_upstream_answer_unchanged(
    proxy_client: FlaskClient, upstream: MockGraphServer
) -> None:
    answer = proxy_client.post(KEYSETS, json={"id": "demo"}, headers=AUTH)
    assert answer.status_code == 201
    assert answer.headers["Location"] == "/trustFramework/keySets('B2C_1A_demo')"
    assert answer.headers["Content-Type"].startswith("application/json")
    body = answer.get_json()
    assert body["id"] == "B2C_1A_demo"
    assert body["@odata.context"].startswith(upstream.url + "/$metadata#")
    sent = upstream.requests[-1]
    assert sent.headers["Authorization"] == "Bearer <redacted>"  # the token was forwarded
    assert answer.headers["request-id"] == upstream.requests[-1].response_headers["request-id"]
    assert [k.id for k in upstream.store] == ["B2C_1A_demo"]


def test_the_proxy_forwards_every_url_form_and_the_query(
    proxy_client: FlaskClient, upstream: MockGraphServer, record_dir: Path
) -> None:
    proxy_client.post(KEYSETS, json={"id": "demo"}, headers=AUTH)
    assert proxy_client.get(KEYSETS + "('B2C_1A_demo')", headers=AUTH).status_code == 200
    listed = proxy_client.get(KEYSETS, headers=AUTH, query_string={"$top": "1"})
    assert listed.status_code == 200
    assert upstream.requests[-1].query == {"$top": ["1"]}
    assert files(record_dir)[1:] == ["0002-getKeySet-200.json", "0003-listKeySets-200.json"]


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


def breaking_upstream() -> Flask:
    """A stand-in that accepts anything and answers generateKey with a secret in the key."""
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
        client = create_proxy(root, record_dir, contracts=contracts).test_client()
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
    assert error["response"]["body"] == "<html>oops</html>"
    assert error["violations"] == [
        'response: An error answer must have Graph\'s {"error": {"code", "message"}} body.'
    ]


def test_an_unreachable_upstream_is_a_graph_502_and_nothing_is_recorded(
    record_dir: Path, contracts: Contracts
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = create_proxy(f"http://127.0.0.1:{port}", record_dir, contracts=contracts).test_client()
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
        client = create_proxy(root, record_dir, contracts=contracts, timeout=0.05).test_client()
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
    proxy = Proxy(Upstream.parse("http://127.0.0.1:1"), Recorder(tmp_path, source="t"), contracts)
    assert proxy.operation(method, path) == operation


@pytest.mark.parametrize(
    ("url", "forwarded_to"),
    [
        ("https://graph.microsoft.com", "https://graph.microsoft.com/beta"),
        ("https://graph.microsoft.com/beta/", "https://graph.microsoft.com/beta"),
        ("http://127.0.0.1:9000/mock/beta", "http://127.0.0.1:9000/mock/beta"),
    ],
)
def test_the_upstream_url_names_what_beta_is_forwarded_to(url: str, forwarded_to: str) -> None:
    assert Upstream.parse(url).url == forwarded_to


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


def test_an_uploaded_certificate_is_recorded_as_sent(
    proxy_client: FlaskClient, record_dir: Path
) -> None:
    _, cert = make_certificate()
    proxy_client.post(KEYSETS, json={"id": "demo"}, headers=AUTH)
    proxy_client.post(
        KEYSETS + "/B2C_1A_demo/uploadCertificate", json={"key": cert_der_b64(cert)}, headers=AUTH
    )
    recorded = read(record_dir, "0002-uploadCertificate-200.json")
    assert recorded["request"]["body"] == {"key": cert_der_b64(cert)}  # public: replayable
    assert recorded["response"]["body"]["x5t"] == "<x5t>"
    assert recorded["violations"] == []


# --------------------------------------------------------------------------------------------
# mockgraph record


def test_record_command_serves_the_proxy_on_the_given_address(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    served: dict[str, Any] = {}

    def fake_run(app: Flask, config: Config, **options: Any) -> int:
        served.update(app=app, config=config, options=options)
        return 0

    monkeypatch.setattr(cli_module, "run", fake_run)
    result = CliRunner().invoke(
        main,
        ["record", "--upstream", "https://graph.microsoft.com", "--out", str(tmp_path / "rec")],
    )
    assert result.exit_code == 0, result.output
    assert "recording https://graph.microsoft.com/beta into" in result.output
    assert (served["config"].host, served["config"].port) == ("127.0.0.1", 8000)
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
