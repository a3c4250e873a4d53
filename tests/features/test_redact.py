"""Secrets out of what leaves memory: bodies as the mock parses them, headers and query options;
and, end to end, no secret sent in any spelling reaches a journal entry or a recording."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from crypto_factory import cert_der_b64, cert_pem, make_certificate, make_pfx_b64, shared_rsa_key
from cryptography.hazmat.primitives import serialization
from flask.testing import FlaskClient

from mockgraph import Config, create_app
from mockgraph.features.redact import (
    REDACTED,
    read_body,
    redact_body,
    redact_headers,
    redact_query,
)
from mockgraph.http.contracts import Contracts

KEYSETS = "/beta/trustFramework/keySets"


def private_key_pem() -> str:
    return (
        shared_rsa_key()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode("ascii")
    )


def test_secret_members_are_redacted_at_any_depth_and_others_kept() -> None:
    body = {"id": "x", "keys": [{"kid": "a", "k": "s", "d": "D", "n": "N", "qi": None}]}
    assert redact_body(body) == {
        "id": "x",
        "keys": [{"kid": "a", "k": REDACTED, "d": REDACTED, "n": "N", "qi": None}],
    }


def test_member_names_compare_in_any_letter_case() -> None:
    assert redact_body({"K": "s", "Password": "p", "DP": "x"}) == {
        "K": REDACTED,
        "Password": REDACTED,
        "DP": REDACTED,
    }


def test_a_member_written_with_escapes_is_the_member_it_decodes_to() -> None:
    assert read_body(b'{"\\u006b": "s3cr3t", "use": "sig"}') == {"k": REDACTED, "use": "sig"}


def test_the_operations_declared_secrets_are_redacted_at_any_depth() -> None:
    body = {"requests": [{"body": {"key": "PFX", "password": "p"}}], "key": "top"}
    assert redact_body(body, secrets={"key"}) == {
        "requests": [{"body": {"key": REDACTED, "password": REDACTED}}],
        "key": REDACTED,
    }
    # An upload's file, even a certificate: it may carry a private key along in any form.
    assert redact_body({"key": "CERT"}) == {"key": REDACTED}


def test_an_error_answers_code_is_not_a_secret() -> None:
    error = {"error": {"code": "invalidRequest", "message": "m"}}
    assert redact_body(error) == error


@pytest.mark.parametrize("kind", ["PRIVATE KEY", "RSA PRIVATE KEY", "ENCRYPTED PRIVATE KEY"])
def test_a_pem_private_key_is_cut_out_of_any_string(kind: str) -> None:
    pem = f"-----BEGIN {kind}-----\nMIIBVQIBADANBgkq\n-----END {kind}-----"
    shown = redact_body({"note": f"cert first\n{pem}\nthen more"})
    assert shown == {"note": f"cert first\n{REDACTED}\nthen more"}


def test_a_pem_private_key_without_its_end_line_is_cut_to_the_end() -> None:
    shown = redact_body(["x -----BEGIN PRIVATE KEY-----\nMIIBVQIBADANBgkq"])
    assert shown == [f"x {REDACTED}"]


@pytest.mark.parametrize("prefix", [b"", b"x", b"xy", b"-----BEGIN CERTIFICATE-----\nMIIB\n"])
@pytest.mark.parametrize(
    "encode",
    [base64.b64encode, base64.urlsafe_b64encode, base64.encodebytes],
    ids=["base64", "base64url", "base64 with line breaks"],
)
def test_a_base64_text_holding_a_pem_private_key_is_redacted_whole(
    prefix: bytes, encode: Any
) -> None:
    encoded = encode(prefix + private_key_pem().encode("ascii")).decode("ascii")
    assert redact_body({"key": encoded, "x5c": [encoded]}) == {"key": REDACTED, "x5c": [REDACTED]}


def test_an_uploaded_file_is_redacted_and_a_keys_certificate_chain_kept() -> None:
    _, cert = make_certificate()
    body = {"key": base64.b64encode(cert_pem(cert).encode()).decode(), "x5c": [cert_der_b64(cert)]}
    assert redact_body(body) == {"key": REDACTED, "x5c": [cert_der_b64(cert)]}


@pytest.mark.parametrize(
    "data",
    [
        b'{"use": "sig", "k": "s3cr3t",}',
        b"{'use': 'sig', 'k': 's3cr3t'}",
        b"k=s3cr3t&use=sig",
        b'{"k": "s3cr3t\\ud800"}',
        b"\xff\xfe{}",
        b"[" * 100 + b"]" * 100,
    ],
)
def test_a_body_that_is_not_json_is_not_kept_only_its_size(data: bytes) -> None:
    assert read_body(data) == f"<not recorded: {len(data)} bytes, not JSON>"


def test_an_empty_body_is_none() -> None:
    assert read_body(b"") is None and read_body(None) is None


def test_authorization_keeps_its_scheme_only() -> None:
    headers = redact_headers(
        [("Authorization", "Bearer abc.def"), ("Cookie", "x"), ("Accept", "*/*")]
    )
    assert headers == {"Authorization": f"Bearer {REDACTED}", "Cookie": REDACTED, "Accept": "*/*"}


@pytest.mark.parametrize(
    "name",
    ["X-Api-Key", "X-Auth-Token", "Client-Secret", "X-Password", "Set-Cookie", "Api-Key"],
)
def test_secret_looking_headers_are_redacted_whole(name: str) -> None:
    assert redact_headers([(name, "abc s3cr3t; other=s3cr3t")]) == {name: REDACTED}


def test_a_credential_without_a_known_scheme_shows_no_word_of_it() -> None:
    assert redact_headers([("Authorization", "s3cr3t and more")]) == {"Authorization": REDACTED}


@pytest.mark.parametrize(
    "name",
    ["access_token", "client_secret", "password", "code", "sig", "api_key", "X-Api-Key", "token"],
)
def test_secret_query_options_are_redacted(name: str) -> None:
    assert redact_query([(name, "s3cr3t"), ("$top", "5")]) == [(name, REDACTED), ("$top", "5")]


@pytest.mark.parametrize("name", ["$skiptoken", "$select", "$filter", "$orderby", "q"])
def test_odata_options_and_cursors_are_kept(name: str) -> None:
    assert redact_query([(name, "value")]) == [(name, "value")]


# -- end to end: the journal and the recordings --------------------------------------------------


def pem_key_after_certificate() -> tuple[str, str]:
    _, cert = make_certificate()
    pem = private_key_pem()
    return cert_pem(cert) + pem, pem.splitlines()[2]


def base64_of_pem_key_after_certificate() -> tuple[str, str]:
    text, _ = pem_key_after_certificate()
    encoded = base64.b64encode(text.encode("ascii")).decode("ascii")
    return encoded, encoded[-200:-100]


def odd_requests() -> list[tuple[str, dict[str, Any], str]]:
    """(name, request arguments, the secret it carries) for every odd place a secret hides."""
    pem, pem_line = pem_key_after_certificate()
    encoded, encoded_part = base64_of_pem_key_after_certificate()
    upload = KEYSETS + "/B2C_1A_demo/"
    return [
        (
            "escaped member name",
            {"path": upload + "uploadSecret", "data": b'{"use": "sig", "\\u006b": "EscapedK1"}'},
            "EscapedK1",
        ),
        (
            "upper-case K in a refused body",
            {"path": upload + "uploadSecret", "json": {"use": "sig", "K": "UpperK22"}},
            "UpperK22",
        ),
        (
            "PEM private key after the certificate",
            {"path": upload + "uploadCertificate", "json": {"key": pem}},
            pem_line,
        ),
        (
            "base64 of a PEM with a private key",
            {"path": upload + "uploadCertificate", "json": {"key": encoded}},
            encoded_part,
        ),
        (
            "uploadPkcs12 password",
            {
                "path": upload + "uploadPkcs12",
                "json": {"key": make_pfx_b64("Pfx-Pass-33"), "password": "Pfx-Pass-33"},
            },
            "Pfx-Pass-33",
        ),
        (
            "access_token in the query",
            {"path": KEYSETS, "method": "GET", "query_string": {"access_token": "QueryTok44"}},
            "QueryTok44",
        ),
        (
            "X-Api-Key header",
            {"path": KEYSETS, "method": "GET", "headers": {"X-Api-Key": "ApiKey55"}},
            "ApiKey55",
        ),
        (
            "a body that is not JSON",
            {
                "path": upload + "uploadSecret",
                "data": b"use=sig&k=FormK66",
                "content_type": "application/x-www-form-urlencoded",
            },
            "FormK66",
        ),
    ]


@pytest.mark.parametrize(
    ("sent", "secret"),
    [pytest.param(sent, secret, id=name) for name, sent, secret in odd_requests()],
)
def test_no_secret_in_an_odd_place_reaches_the_journal_or_a_recording(
    tmp_path: Path, contracts: Contracts, sent: dict[str, Any], secret: str
) -> None:
    app = create_app(Config(record_dir=tmp_path), contracts=contracts)
    client: FlaskClient = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = "Bearer t"
    assert client.post(KEYSETS, json={"id": "demo"}).status_code == 201
    sent = dict(sent)
    if "data" in sent and "content_type" not in sent:
        sent["content_type"] = "application/json"
    answer = client.open(method=sent.pop("method", "POST"), **sent)
    assert answer.status_code < 500
    journal = client.get("/_mockgraph/requests")
    assert journal.status_code == 200
    assert len(journal.get_json()["requests"]) == 2
    recordings = sorted(tmp_path.glob("*.json"))
    assert len(recordings) == 2
    shown = [journal.get_data(as_text=True), *(p.read_text() for p in recordings)]
    assert all(secret not in text for text in shown)


def test_a_body_that_is_not_json_is_kept_as_its_size_in_journal_and_recording(
    tmp_path: Path, contracts: Contracts
) -> None:
    app = create_app(Config(record_dir=tmp_path), contracts=contracts)
    client = app.test_client()
    data = b"use=sig&k=FormK66"
    client.post(
        KEYSETS, data=data, headers={"Authorization": "Bearer t"}, content_type="text/plain"
    )
    note = f"<not recorded: {len(data)} bytes, not JSON>"
    (entry,) = client.get("/_mockgraph/requests").get_json()["requests"]
    assert entry["body"] == note
    (recording,) = tmp_path.glob("*.json")
    assert json.loads(recording.read_text())["request"]["body"] == note


def test_a_keys_certificates_are_kept_and_an_uploaded_file_is_not(
    tmp_path: Path, contracts: Contracts
) -> None:
    _, cert = make_certificate()
    app = create_app(Config(record_dir=tmp_path), contracts=contracts)
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = "Bearer t"
    client.post(KEYSETS, json={"id": "demo", "keys": [{"kid": "c", "x5c": [cert_der_b64(cert)]}]})
    client.post(KEYSETS + "/B2C_1A_demo/uploadCertificate", json={"key": cert_der_b64(cert)})
    created, uploaded = client.get("/_mockgraph/requests").get_json()["requests"]
    assert created["body"]["keys"][0]["x5c"] == [cert_der_b64(cert)]
    assert uploaded["body"] == {"key": REDACTED}
