"""Secrets out of what leaves memory: JSON bodies, text bodies, headers."""

from __future__ import annotations

import pytest

from mockgraph.features.redact import REDACTED, TOO_DEEP, decode_body, redact_body, redact_headers


def test_secret_members_are_redacted_at_any_depth_and_others_kept() -> None:
    body = {"id": "x", "keys": [{"kid": "a", "k": "s", "d": "D", "n": "N", "qi": None}]}
    assert redact_body(body) == {
        "id": "x",
        "keys": [{"kid": "a", "k": REDACTED, "d": REDACTED, "n": "N", "qi": None}],
    }


def test_the_pfx_key_is_secret_for_upload_pkcs12_and_batches_only() -> None:
    assert redact_body({"key": "PFX", "password": "p"}, operation="uploadPkcs12") == {
        "key": REDACTED,
        "password": REDACTED,
    }
    assert redact_body({"requests": [{"body": {"key": "PFX"}}]}, operation="batch") == {
        "requests": [{"body": {"key": REDACTED}}]
    }
    assert redact_body({"key": "CERT"}, operation="uploadCertificate") == {"key": "CERT"}


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        (b'{"use": "sig", "k": "s3cr3t",', '"k": "<redacted>"'),
        (b"{'use': 'sig', 'k': 's3cr3t'}", "'k': '<redacted>'"),
        (b"k=s3cr3t&use=sig", "k=<redacted>&use=sig"),
        (b'{"password": "s3cr3t', '"password": "<redacted>'),
        (b"key: s3cr3t", "key: <redacted>"),
    ],
)
def test_secret_values_in_text_that_is_not_json_are_redacted(raw: bytes, kept: str) -> None:
    text, cut = decode_body(raw)
    assert "s3cr3t" not in text and kept in text and cut is False


def test_bodies_nested_too_deep_are_not_kept() -> None:
    assert decode_body(b"[" * 100 + b"]" * 100) == (TOO_DEEP, True)
    assert decode_body(b"[" * 100_000 + b"]" * 100_000)[0] != b""


def test_authorization_keeps_its_scheme_only() -> None:
    headers = redact_headers({"Authorization": "Bearer abc.def", "Cookie": "x", "Accept": "*/*"})
    assert headers == {"Authorization": f"Bearer {REDACTED}", "Cookie": REDACTED, "Accept": "*/*"}
