"""Recording: ``serve --record`` writes one redacted, normalised example file per exchange, its
contract violations included (the recording proxy's own tests are in ``test_proxy.py``)."""

from __future__ import annotations

import copy
import json
import logging
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from crypto_factory import make_pfx_b64
from flask import Flask
from flask.testing import FlaskClient

from mockgraph import Config, MockGraphServer, create_app
from mockgraph.features.journal import Exchange
from mockgraph.features.recording import Recorder, Violation, check_exchange
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
                "vary": "Origin",
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


def test_a_hostile_deep_body_is_answered_and_recorded_as_its_size_only(
    recording_client: FlaskClient, record_dir: Path
) -> None:
    deep = b'{"id":' * 200 + b'"x"' + b"}" * 200  # deeper than any Graph body
    answer = recording_client.post(
        KEYSETS, data=deep, headers={**AUTH, "Content-Type": "application/json"}
    )
    assert answer.status_code == 400
    example = read(record_dir, "0001-createKeySet-400.json")
    assert example["request"]["body"] == f"<not recorded: {len(deep)} bytes, not JSON>"


def test_a_malformed_body_is_recorded_as_its_size_only(
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
    assert read(record_dir, name)["request"]["body"] == (
        f"<not recorded: {len(broken)} bytes, not JSON>"
    )
    assert "my-app-secret" not in (record_dir / name).read_text()


def test_numbering_continues_after_the_files_already_in_the_folder(
    record_dir: Path, contracts: Contracts
) -> None:
    for _ in range(2):
        app = create_app(Config(record_dir=record_dir), contracts=contracts)
        app.test_client().get(KEYSETS, headers=AUTH)
    assert files(record_dir) == ["0001-listKeySets-200.json", "0002-listKeySets-200.json"]


def test_without_a_record_folder_nothing_is_installed(app: Flask) -> None:
    assert mockgraph(app).recorder is None


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
        query_string=b"",
        headers={},
        data=None,
        status=200,
        response_headers=(),
        response_data=b'{"value": []}',
        operation="listKeySets",
    )
    threads = [
        threading.Thread(
            target=lambda: [recorder.record(exchange, "listKeySets") for _ in range(25)]
        )
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


def test_a_success_is_checked_against_its_contract_and_an_error_only_for_its_shape(
    contracts: Contracts,
) -> None:
    create = contracts["createKeySet"]
    made = {"@odata.context": "x", "id": "B2C_1A_a", "keys": []}
    assert check_exchange(create, 201, {"id": "a"}, made) == []
    assert check_exchange(create, 200, {"id": "a"}, made) == [
        Violation("response", "", "The status is 200; the contract says 201.")
    ]
    assert check_exchange(create, 400, {"bad": 1}, {"error": {"code": "c", "message": "m"}}) == []
    (shape,) = check_exchange(create, 500, None, "<html>")
    assert (
        str(shape)
        == 'response: An error answer must have Graph\'s {"error": {"code", "message"}} body.'
    )


def test_a_write_only_member_in_an_answer_is_a_write_only_violation(contracts: Contracts) -> None:
    generated = {"kid": "k", "kty": "oct", "use": "sig", "k": "c2VjcmV0"}
    violations = check_exchange(
        contracts["generateKey"], 200, {"use": "sig", "kty": "oct"}, generated
    )
    assert [v.write_only for v in violations] == [True]
