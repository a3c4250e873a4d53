"""Verify: example files against the contracts, and replayed against a fresh mock; failures
name the file, the field and expected vs got, never a secret; doc defects are notes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from crypto_factory import cert_der_b64, make_certificate, make_pfx_b64
from flask.testing import FlaskClient

from mockgraph import Config, create_app
from mockgraph.build.replay import EXAMPLE_ID
from mockgraph.build.verify import KNOWN_DOC_DEFECTS, Finding, Report, verify
from mockgraph.cli import main
from mockgraph.http.contracts import Contracts

AUTH = {"Authorization": "Bearer secret-token-value"}
KEYSETS = "/beta/trustFramework/keySets"


@pytest.fixture
def recorded(tmp_path: Path, contracts: Contracts) -> Path:
    """A folder recorded by ``serve --record``: a short session of every kind of answer."""
    folder = tmp_path / "recorded"
    client: FlaskClient = create_app(Config(record_dir=folder), contracts=contracts).test_client()
    client.post(KEYSETS, json={"id": "demo"}, headers=AUTH)
    client.post(
        KEYSETS + "/B2C_1A_demo/generateKey", json={"use": "sig", "kty": "oct"}, headers=AUTH
    )
    client.post(
        KEYSETS + "/B2C_1A_demo/uploadSecret", json={"use": "enc", "k": "hush"}, headers=AUTH
    )
    client.get(KEYSETS, headers=AUTH)
    client.delete(KEYSETS + "/B2C_1A_demo", headers=AUTH)
    client.get(KEYSETS + "/B2C_1A_demo", headers=AUTH)
    client.get(KEYSETS)
    return folder


def edit(path: Path, change: Any) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def failures(report: Report) -> list[tuple[str, str, str, str]]:
    return [(Path(f.file).name, f.where, f.path, f.message) for f in report.failures]


# --------------------------------------------------------------------------------------------
# The shipped documented examples


@pytest.fixture(scope="module")
def shipped() -> Report:
    return verify(replay=True, contracts=Contracts.load())


def test_the_shipped_documented_examples_verify_and_replay_with_notes_only(
    shipped: Report,
) -> None:
    report = shipped
    assert report.ok, report.format()
    assert len(report.files) >= 12
    notes = {(Path(f.file).stem, f.path) for f in report.notes}
    assert ("create_trustframeworkkeyset_from_trustframework", "keys[0].k") in notes
    assert ("trustframeworkkeyset_uploadsecret", "kty") in notes


def test_every_known_doc_defect_still_shows_up(shipped: Report) -> None:
    """A stale entry would hide a future real difference: each one must still be needed."""
    seen = {(Path(f.file).stem, f.path) for f in shipped.notes if f.where == "body"}
    assert set(KNOWN_DOC_DEFECTS) <= seen


def test_placeholders_and_write_only_members_of_a_documented_example_are_notes(
    tmp_path: Path, contracts: Contracts
) -> None:
    (tmp_path / "doc.json").write_text(
        json.dumps(
            {
                "name": "doc",
                "operation": "getActiveKey",
                "documented": True,
                "truncated": True,
                "request": {
                    "method": "GET",
                    "path": "/beta/trustFramework/keySets/{id}/getActiveKey",
                },
                "response": {
                    "status": 200,
                    "body": {"kid": "kid-value", "use": "use-value", "k": "k-value", "exp": 99},
                },
            }
        )
    )
    report = verify([tmp_path], replay=True, contracts=contracts)
    assert report.ok, report.format()
    assert [(f.where, f.path) for f in report.notes] == [("response contract", "k")]


# --------------------------------------------------------------------------------------------
# Recorded sessions


def test_a_recorded_session_replays_without_differences(
    recorded: Path, contracts: Contracts
) -> None:
    report = verify([recorded], replay=True, contracts=contracts)
    assert report.ok, report.format()
    assert len(report.files) == 7
    assert report.findings == []


def test_a_different_status_names_the_file_and_expected_vs_got(
    recorded: Path, contracts: Contracts
) -> None:
    edit(recorded / "0006-getKeySet-404.json", lambda d: d["response"].update(status=410))
    report = verify([recorded], replay=True, contracts=contracts)
    assert failures(report) == [
        (
            "0006-getKeySet-404.json",
            "status",
            "",
            "expected 410, got 404 (itemNotFound: Key set 'B2C_1A_demo' was not found.)",
        )
    ]
    assert str(recorded / "0006-getKeySet-404.json") in report.format()


def test_a_different_body_field_is_named_by_its_property_path(
    recorded: Path, contracts: Contracts
) -> None:
    edit(
        recorded / "0004-listKeySets-200.json",
        lambda d: d["response"]["body"]["value"][0]["keys"][1].update(use="sig"),
    )
    report = verify([recorded], replay=True, contracts=contracts)
    assert failures(report) == [
        ("0004-listKeySets-200.json", "body", "value[0].keys[1].use", 'expected "sig", got "enc"')
    ]
    assert 'FAIL body value[0].keys[1].use: expected "sig", got "enc"' in report.format()


def test_missing_and_unexpected_members_are_differences_but_null_equals_absent(
    recorded: Path, contracts: Contracts
) -> None:
    def change(data: dict[str, Any]) -> None:
        body = data["response"]["body"]
        body["displayName"] = "Demo"
        body["nbf"] = None
        del body["id"]

    edit(recorded / "0001-createKeySet-201.json", change)
    report = verify([recorded], replay=True, contracts=contracts)
    assert [(f.path, f.message) for f in report.failures if f.where == "body"] == [
        ("displayName", 'expected "Demo", got (absent)'),
        ("id", 'expected (absent), got "B2C_1A_demo"'),
    ]


def test_volatile_values_and_the_odata_context_host_are_not_differences(
    recorded: Path, contracts: Contracts
) -> None:
    def from_real_graph(data: dict[str, Any]) -> None:
        body = data["response"]["body"]
        body["@odata.context"] = "https://graph.microsoft.com/beta/$metadata#trustFramework/keySets"
        data["response"]["headers"]["request-id"] = "5c1f-real-request-id"

    edit(recorded / "0004-listKeySets-200.json", from_real_graph)
    report = verify([recorded], replay=True, contracts=contracts)
    assert report.ok, report.format()


def test_a_recorded_answer_breaking_its_contract_fails_without_replay(
    recorded: Path, contracts: Contracts
) -> None:
    edit(recorded / "0003-uploadSecret-200.json", lambda d: d["response"]["body"].update(k="hush"))
    edit(recorded / "0001-createKeySet-201.json", lambda d: d["response"].update(status=200))
    report = verify([recorded], contracts=contracts)
    assert failures(report) == [
        (
            "0001-createKeySet-201.json",
            "response contract",
            "",
            "The status is 200; the contract says 201.",
        ),
        (
            "0003-uploadSecret-200.json",
            "response contract",
            "k",
            "The property 'k' is write-only and must not be read back.",
        ),
    ]


def test_an_error_answer_without_graph_error_body_fails(
    recorded: Path, contracts: Contracts
) -> None:
    edit(recorded / "0007-listKeySets-401.json", lambda d: d["response"].update(body="denied"))
    report = verify([recorded], contracts=contracts)
    assert [(Path(f.file).name, f.where) for f in report.failures] == [
        ("0007-listKeySets-401.json", "response contract")
    ]


def test_a_rejected_request_is_a_negative_example_not_a_violation(
    tmp_path: Path, contracts: Contracts
) -> None:
    client = create_app(Config(record_dir=tmp_path), contracts=contracts).test_client()
    client.post(KEYSETS, json={"id": "x", "colour": "red"}, headers=AUTH)
    report = verify([tmp_path], replay=True, contracts=contracts)
    assert report.ok, report.format()


def test_a_json_string_request_body_replays_as_json(tmp_path: Path, contracts: Contracts) -> None:
    client = create_app(Config(record_dir=tmp_path), contracts=contracts).test_client()
    headers = {**AUTH, "Content-Type": "application/json"}
    client.post(KEYSETS, data=b'"demo"', headers=headers)
    report = verify([tmp_path], replay=True, contracts=contracts)
    assert report.findings == [], report.format()


def test_an_answer_that_is_not_json_compares_as_recordings_keep_it(
    tmp_path: Path, contracts: Contracts
) -> None:
    client = create_app(Config(record_dir=tmp_path), contracts=contracts).test_client()
    assert client.get("/beta/$metadata").content_type.startswith("application/xml")
    report = verify([tmp_path], replay=True, contracts=contracts)
    assert report.findings == [], report.format()


@pytest.mark.parametrize(
    "data",
    [b"{not json", b'{"id": "\\ud800"}'],
    ids=["not JSON", "lone surrogate"],
)
def test_a_request_whose_body_was_not_recorded_is_noted_and_not_replayed(
    tmp_path: Path, contracts: Contracts, data: bytes
) -> None:
    client = create_app(Config(record_dir=tmp_path), contracts=contracts).test_client()
    headers = {**AUTH, "Content-Type": "application/json"}
    assert client.post(KEYSETS, data=data, headers=headers).status_code == 400
    report = verify([tmp_path], replay=True, contracts=contracts)
    assert report.ok, report.format()
    assert [(f.where, f.message, f.known) for f in report.notes] == [
        ("replay", "not replayed", "its request body was not recorded")
    ]


def test_the_report_never_shows_a_secret(recorded: Path, contracts: Contracts) -> None:
    def leak(data: dict[str, Any]) -> None:
        data["request"]["body"]["k"] = "the-real-secret"
        data["response"]["body"]["k"] = "the-real-secret"

    edit(recorded / "0003-uploadSecret-200.json", leak)
    report = verify([recorded], replay=True, contracts=contracts)
    assert [f.path for f in report.failures] == ["k"]
    assert "the-real-secret" not in report.format()


def test_redacted_pfx_and_recorded_certificates_replay(
    tmp_path: Path, contracts: Contracts
) -> None:
    client = create_app(Config(record_dir=tmp_path), contracts=contracts).test_client()
    client.post(KEYSETS, json={"id": "demo"}, headers=AUTH)
    client.post(
        KEYSETS + "/B2C_1A_demo/uploadPkcs12",
        json={"key": make_pfx_b64("pw"), "password": "pw"},
        headers=AUTH,
    )
    _, cert = make_certificate()
    client.post(
        KEYSETS + "/B2C_1A_demo/uploadCertificate", json={"key": cert_der_b64(cert)}, headers=AUTH
    )
    client.get(KEYSETS + "/B2C_1A_demo", headers=AUTH)
    report = verify([tmp_path], replay=True, contracts=contracts)
    assert report.ok, report.format()


def test_a_recorded_fault_is_noted_and_not_replayed(recorded: Path, contracts: Contracts) -> None:
    def faulted(data: dict[str, Any]) -> None:
        data["fault"] = {"status": 503, "retry_after": 1, "rule": "r", "delay_ms": 0}
        data["response"].update(status=503, body={"error": {"code": "x", "message": "y"}})

    edit(recorded / "0001-createKeySet-201.json", faulted)
    report = verify([recorded / "0001-createKeySet-201.json"], replay=True, contracts=contracts)
    assert report.ok
    assert [(f.where, f.known) for f in report.notes] == [
        ("replay", "an injected fault answered it")
    ]


def test_files_of_one_folder_replay_in_number_order_as_one_session(
    recorded: Path, contracts: Contracts
) -> None:
    (recorded / "0001-createKeySet-201.json").rename(recorded / "10-createKeySet-201.json")
    report = verify([recorded], replay=True, contracts=contracts)
    # The create now replays last (10 > 7), so the calls before it miss their key set.
    assert [Path(f.file).name for f in report.failures if f.where == "status"] == [
        "0002-generateKey-200.json",
        "0003-uploadSecret-200.json",
        "0005-deleteKeySet-204.json",
    ]
    assert ("0004-listKeySets-200.json", "value") in [
        (Path(f.file).name, f.path) for f in report.failures
    ]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{not json", "is not JSON (line 1)"),
        ("[]", "is not an example file: not a JSON object"),
        ("[" * 100 + "]" * 100, "is not an example file: nested too deeply"),
        ("[" * 100000 + "]" * 100000, "is not an example file: nested too deeply"),
        ('{"request": {"method": "GET"}}', "the request has no 'method' and 'path'"),
        (
            '{"request": {"method": "GET", "path": "/beta"}, "response": {"status": "200"}}',
            "the response has no integer 'status'",
        ),
        (
            '{"request": {"method": "GET", "path": "/", "query": []}, "response": {"status": 1}}',
            "'query' is not an object",
        ),
    ],
)
def test_a_file_that_is_not_an_example_is_a_failure_not_a_traceback(
    tmp_path: Path, contracts: Contracts, text: str, problem: str
) -> None:
    (tmp_path / "bad.json").write_text(text)
    report = verify([tmp_path], contracts=contracts)
    assert [(f.where, f.message) for f in report.failures] == [("file", report.failures[0].message)]
    assert problem in report.failures[0].message


def test_a_folder_without_example_files_fails(tmp_path: Path, contracts: Contracts) -> None:
    report = verify([tmp_path], contracts=contracts)
    assert [(f.file, f.message) for f in report.failures] == [
        (str(tmp_path), "holds no example files (*.json)")
    ]


def test_a_documented_example_of_an_unknown_operation_fails(
    tmp_path: Path, contracts: Contracts
) -> None:
    (tmp_path / "x.json").write_text(
        json.dumps(
            {
                "documented": True,
                "operation": "launchRocket",
                "request": {"method": "POST", "path": "/beta/rocket"},
                "response": {"status": 202},
            }
        )
    )
    report = verify([tmp_path], contracts=contracts)
    assert [f.message for f in report.failures] == [
        "there is no contract for the operation 'launchRocket'"
    ]


def test_a_path_placeholder_replays_against_a_seeded_key_set(
    tmp_path: Path, contracts: Contracts
) -> None:
    (tmp_path / "delete.json").write_text(
        json.dumps(
            {
                "documented": True,
                "operation": "deleteKeySet",
                "request": {"method": "DELETE", "path": "/beta/trustFramework/keySets/{id}"},
                "response": {"status": 204, "body": None},
            }
        )
    )
    assert verify([tmp_path], replay=True, contracts=contracts).ok
    assert EXAMPLE_ID.startswith("B2C_1A_")


def test_a_finding_line_shows_the_path_once() -> None:
    body = Finding("f.json", "body", "keys[0].kid", 'expected "a", got "b"')
    contract = Finding("f.json", "response contract", "k", "The property 'k' is write-only.", "x")
    assert body.line() == '  FAIL body keys[0].kid: expected "a", got "b"'
    assert contract.line() == "  note response contract: The property 'k' is write-only. [x]"


# --------------------------------------------------------------------------------------------
# mockgraph contracts verify


def test_verify_command_exits_0_and_summarises(recorded: Path) -> None:
    result = CliRunner().invoke(main, ["contracts", "verify", str(recorded), "--replay"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == (
        "7 example file(s) checked and replayed: no differences, 0 note(s)"
    )


def test_verify_command_exits_1_naming_file_field_expected_and_got(recorded: Path) -> None:
    edit(
        recorded / "0002-generateKey-200.json",
        lambda d: d["response"]["body"].update(kty="RSA"),
    )
    result = CliRunner().invoke(main, ["contracts", "verify", str(recorded), "--replay"])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        str(recorded / "0002-generateKey-200.json"),
        '  FAIL body kty: expected "RSA", got "oct"',
        "7 example file(s) checked and replayed: 1 difference(s) in 1 file(s), 0 note(s)",
    ]


def test_verify_command_defaults_to_the_shipped_examples_and_shows_notes_when_verbose() -> None:
    result = CliRunner().invoke(main, ["contracts", "verify", "--verbose"])
    assert result.exit_code == 0, result.output
    assert "mockgraph.examples/get_keysets.json" in result.output
    assert "  note response contract:" in result.output


def test_verify_command_names_a_bad_contracts_folder(tmp_path: Path, recorded: Path) -> None:
    (tmp_path / "broken.json").write_text("{")
    result = CliRunner().invoke(
        main, ["contracts", "verify", str(recorded), "--contracts", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert f"cannot load the contracts of {tmp_path}" in result.output
    assert "Traceback" not in result.output
