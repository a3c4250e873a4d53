"""Key material read from uploads: X.509 certificates and PKCS#12 (PFX) files, made on the fly,
and every way such an upload is refused without echoing a secret."""

from __future__ import annotations

import base64
import hashlib
import json
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from crypto_factory import (
    NOT_AFTER,
    NOT_BEFORE,
    cert_der,
    cert_der_b64,
    cert_pem,
    cert_pem_b64,
    make_certificate,
    make_ec_key,
    make_pfx_b64,
    make_rsa_key,
    shared_rsa_key,
)
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from mockgraph.http.errors import BadRequest
from mockgraph.resources.keysets import keys
from mockgraph.resources.keysets.models import SECRET_FIELDS


def uint(value: str | None) -> int:
    assert value is not None and "=" not in value
    return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def assert_bad_request(excinfo: pytest.ExceptionInfo[BadRequest], text: str) -> None:
    error = excinfo.value
    assert error.status == 400
    assert error.code == "invalidRequest"
    assert text in error.message


# --- certificate_key --------------------------------------------------------------------------


def test_certificate_key_reads_the_public_key_thumbprint_and_validity() -> None:
    private_key, cert = make_certificate(NOT_BEFORE, NOT_AFTER)
    assert isinstance(private_key, rsa.RSAPrivateKey)
    key = keys.certificate_key(cert_der_b64(cert))
    der = cert_der(cert)
    public = private_key.public_key().public_numbers()
    assert (key.kty, key.use) == ("RSA", "sig")
    assert uint(key.n) == public.n and key.e == "AQAB"
    assert key.x5c == (base64.b64encode(der).decode(),)
    assert key.x5t == base64.urlsafe_b64encode(hashlib.sha1(der).digest()).rstrip(b"=").decode()
    assert key.kid == key.x5t
    assert (key.nbf, key.exp) == (epoch(NOT_BEFORE), epoch(NOT_AFTER))
    assert all(getattr(key, name) is None for name in SECRET_FIELDS)


@pytest.mark.parametrize(
    "form", [cert_der_b64, cert_pem_b64, cert_pem], ids=["der", "pem-b64", "pem"]
)
def test_certificate_key_accepts_der_base64_pem_base64_and_pem_text_alike(
    form: Callable[[x509.Certificate], str],
) -> None:
    _, cert = make_certificate()
    assert keys.certificate_key(form(cert)) == keys.certificate_key(cert_der_b64(cert))


def test_certificate_key_ignores_line_breaks_in_base64() -> None:
    _, cert = make_certificate()
    flat = cert_der_b64(cert)
    wrapped = "\n".join(flat[i : i + 64] for i in range(0, len(flat), 64)) + "\n"
    assert keys.certificate_key(wrapped) == keys.certificate_key(flat)


def test_certificate_key_lists_a_pem_chain_in_file_order() -> None:
    _, leaf = make_certificate(common_name="leaf")
    _, other = make_certificate(key=make_ec_key(), common_name="other")
    key = keys.certificate_key(cert_pem(leaf) + cert_pem(other))
    assert key.x5c == (cert_der_b64(leaf), cert_der_b64(other))
    assert key.kid == keys.certificate_key(cert_der_b64(leaf)).kid


@pytest.mark.parametrize(
    "make_key", [make_ec_key, ed25519.Ed25519PrivateKey.generate], ids=["ec", "ed25519"]
)
def test_certificate_key_refuses_a_certificate_whose_key_is_not_rsa(
    make_key: Callable[[], Any],
) -> None:
    # The key resource page allows the key types rsa and oct only.
    _, cert = make_certificate(key=make_key())
    with pytest.raises(BadRequest) as excinfo:
        keys.certificate_key(cert_der_b64(cert))
    assert_bad_request(excinfo, "policy keys are RSA or oct")


def _private_key_pem() -> str:
    return (
        shared_rsa_key()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("%%% not base64 %%%", id="not-base64"),
        pytest.param("QUJD", id="base64-of-text"),
        pytest.param("QUJDRA", id="missing-padding"),
        pytest.param("é", id="non-ascii"),
        pytest.param("====", id="only-padding"),
        pytest.param(base64.b64encode(b"\x30\x03\x02\x01\x01").decode(), id="der-not-a-cert"),
        pytest.param(_private_key_pem(), id="pem-private-key"),
        pytest.param(
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", id="pem-junk"
        ),
        pytest.param(base64.b64encode(b"-----BEGIN CERTIFICATE-----\n").decode(), id="pem-cut"),
        pytest.param(make_pfx_b64("pw"), id="a-pfx"),
    ],
)
def test_certificate_key_rejects_what_is_not_a_certificate(value: str) -> None:
    with pytest.raises(BadRequest) as excinfo:
        keys.certificate_key(value)
    assert_bad_request(excinfo, "not a base64-encoded X.509 certificate")
    assert excinfo.value.__cause__ is None
    assert value.strip() not in excinfo.value.message


@pytest.mark.parametrize("value", ["", "  \n"])
def test_certificate_key_rejects_an_empty_key(value: str) -> None:
    with pytest.raises(BadRequest) as excinfo:
        keys.certificate_key(value)
    assert_bad_request(excinfo, "must not be empty")


def test_certificate_key_rejects_a_truncated_certificate() -> None:
    _, cert = make_certificate()
    truncated = base64.b64encode(cert_der(cert)[:-10]).decode()
    with pytest.raises(BadRequest) as excinfo:
        keys.certificate_key(truncated)
    assert_bad_request(excinfo, "X.509 certificate")


def test_certificate_key_validity_follows_the_certificate() -> None:
    start = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)
    end = datetime(2031, 5, 1, 12, 0, tzinfo=UTC)
    _, cert = make_certificate(start, end)
    assert isinstance(cert, x509.Certificate)
    key = keys.certificate_key(cert_pem_b64(cert))
    assert (key.nbf, key.exp) == (epoch(start), epoch(end))


# --- pkcs12_key -------------------------------------------------------------------------------


def test_pkcs12_key_reads_certificate_chain_and_private_members() -> None:
    private_key, cert = make_certificate()
    _, extra = make_certificate(key=make_ec_key(), common_name="intermediate")
    assert isinstance(private_key, rsa.RSAPrivateKey)
    pfx = make_pfx_b64("s3cret-Pfx", key=private_key, cert=cert, additional=[extra])
    key = keys.pkcs12_key(pfx, "s3cret-Pfx")
    numbers = private_key.private_numbers()
    assert (key.kty, key.use) == ("RSA", "sig")
    assert key.x5c == (cert_der_b64(cert), cert_der_b64(extra))
    assert key.x5t == keys.certificate_key(cert_der_b64(cert)).x5t == key.kid
    assert (key.nbf, key.exp) == (epoch(NOT_BEFORE), epoch(NOT_AFTER))
    assert uint(key.n) == numbers.public_numbers.n and key.e == "AQAB"
    assert (uint(key.d), uint(key.p), uint(key.q)) == (numbers.d, numbers.p, numbers.q)
    assert (uint(key.dp), uint(key.dq), uint(key.qi)) == (numbers.dmp1, numbers.dmq1, numbers.iqmp)
    assert "s3cret-Pfx" not in json.dumps(key.to_state())
    assert set(key.public()) == {"kid", "kty", "use", "x5c", "x5t", "n", "e", "nbf", "exp"}


@pytest.mark.parametrize("password", [None, ""])
def test_pkcs12_key_opens_a_pfx_made_without_password(password: str | None) -> None:
    private_key, cert = make_certificate()
    assert isinstance(private_key, rsa.RSAPrivateKey)
    key = keys.pkcs12_key(make_pfx_b64(None, key=private_key, cert=cert), password)
    assert key.x5c == (cert_der_b64(cert),)
    assert uint(key.d) == private_key.private_numbers().d


def test_pkcs12_key_refuses_a_file_whose_key_is_not_rsa() -> None:
    with pytest.raises(BadRequest) as excinfo:
        keys.pkcs12_key(make_pfx_b64("pw", key=make_ec_key()), "pw")
    assert_bad_request(excinfo, "policy keys are RSA or oct")


@pytest.mark.parametrize("given", ["wrong-Pa55word-given", None, ""])
def test_pkcs12_key_wrong_password_is_bad_request_without_any_password(given: str | None) -> None:
    real = "the-Real-Pa55word"
    pfx = make_pfx_b64(real)
    with pytest.raises(BadRequest) as excinfo:
        keys.pkcs12_key(pfx, given)
    assert_bad_request(excinfo, "could not be read with the given password")
    error = excinfo.value
    assert error.__cause__ is None and error.__context__ is None
    text = "".join(traceback.format_exception(error)) + repr(error) + repr(error.args)
    for password in (real, given):
        if password:
            assert password not in text


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("%%% not base64 %%%", id="not-base64"),
        pytest.param("é", id="non-ascii"),
        pytest.param("QUJD", id="base64-of-text"),
    ],
)
def test_pkcs12_key_rejects_what_is_not_base64_or_not_a_pfx(value: str) -> None:
    with pytest.raises(BadRequest) as excinfo:
        keys.pkcs12_key(value, "pw")
    assert excinfo.value.status == 400
    assert excinfo.value.__cause__ is None


def test_pkcs12_key_rejects_a_truncated_file() -> None:
    data = base64.b64decode(make_pfx_b64("pw"))
    with pytest.raises(BadRequest) as excinfo:
        keys.pkcs12_key(base64.b64encode(data[: len(data) // 2]).decode(), "pw")
    assert_bad_request(excinfo, "PKCS#12")


@pytest.mark.parametrize("value", ["", " "])
def test_pkcs12_key_rejects_an_empty_key(value: str) -> None:
    with pytest.raises(BadRequest) as excinfo:
        keys.pkcs12_key(value, "pw")
    assert_bad_request(excinfo, "must not be empty")


def test_pkcs12_key_rejects_a_file_without_private_key() -> None:
    with pytest.raises(BadRequest) as excinfo:
        keys.pkcs12_key(make_pfx_b64("pw", with_key=False), "pw")
    assert_bad_request(excinfo, "no private key")


def test_pkcs12_key_rejects_a_file_without_certificate() -> None:
    with pytest.raises(BadRequest) as excinfo:
        keys.pkcs12_key(make_pfx_b64("pw", with_cert=False), "pw")
    assert_bad_request(excinfo, "no certificate")


def test_pkcs12_key_rejects_a_file_whose_only_certificate_is_for_another_key() -> None:
    _, cert = make_certificate()
    other = make_rsa_key()
    pfx = make_pfx_b64("pw", key=other, cert=cert, with_cert=False, additional=[cert])
    with pytest.raises(BadRequest) as excinfo:
        keys.pkcs12_key(pfx, "pw")
    assert_bad_request(excinfo, "no certificate")


def test_pkcs12_key_rejects_a_certificate_that_does_not_match_the_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # serialize_key_and_certificates refuses such a file, so the loader's answer is faked.
    _, cert = make_certificate()
    loaded = pkcs12.PKCS12KeyAndCertificates(
        make_rsa_key(), pkcs12.PKCS12Certificate(cert, None), []
    )
    monkeypatch.setattr(pkcs12, "load_pkcs12", lambda data, password: loaded)
    with pytest.raises(BadRequest) as excinfo:
        keys.pkcs12_key(make_pfx_b64("pw"), "pw")
    assert_bad_request(excinfo, "does not match")


def test_a_pfx_asking_for_millions_of_key_derivation_rounds_is_refused_before_it_is_read() -> None:
    leaf_key, cert = make_certificate(key=shared_rsa_key())
    sealing = serialization.PrivateFormat.PKCS12.encryption_builder().kdf_rounds(5_000_000)
    pfx = pkcs12.serialize_key_and_certificates(b"x", leaf_key, cert, None, sealing.build(b"pw"))
    started = datetime.now(UTC)
    with pytest.raises(BadRequest, match="more than 100,000 key derivation iterations"):
        keys.pkcs12_key(base64.b64encode(pfx).decode(), "pw")
    assert (datetime.now(UTC) - started).total_seconds() < 1  # 5,000,000 rounds take seconds


def test_a_pfx_with_the_usual_rounds_is_read() -> None:
    leaf_key, cert = make_certificate(key=shared_rsa_key())
    sealing = serialization.PrivateFormat.PKCS12.encryption_builder().kdf_rounds(50_000)
    pfx = pkcs12.serialize_key_and_certificates(b"x", leaf_key, cert, None, sealing.build(b"pw"))
    assert keys.pkcs12_key(base64.b64encode(pfx).decode(), "pw").kty == "RSA"
