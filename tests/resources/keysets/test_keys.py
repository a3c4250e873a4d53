"""mockgraph.keys: generated keys, secrets, certificates and PFX files, with real key material."""

from __future__ import annotations

import base64
import hashlib
import json
import traceback
from collections.abc import Callable
from datetime import UTC, datetime

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
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from mockgraph.http.errors import BadRequest
from mockgraph.resources.keysets import keys
from mockgraph.resources.keysets.models import SECRET_FIELDS, Key

NBF = 1508969811
EXP = 1908969811

#: RFC 7638 section 3.1: the example JWK and its thumbprint.
RFC7638_JWK = {
    "kty": "RSA",
    "n": (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECP"
        "ebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2Qvzq"
        "Y368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu"
        "0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
    ),
    "e": "AQAB",
    "alg": "RS256",
    "kid": "2011-04-29",
}
RFC7638_THUMBPRINT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def b64url_decode(value: str) -> bytes:
    assert "=" not in value
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def uint(value: str | None) -> int:
    assert value is not None
    return int.from_bytes(b64url_decode(value), "big")


def independent_thumbprint(members: dict[str, str]) -> str:
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())


@pytest.fixture(scope="module")
def rsa_2048() -> Key:
    """One generated 2048-bit key for the tests about a generated key."""
    return keys.generate_rsa("sig", NBF, EXP)


def assert_bad_request(excinfo: pytest.ExceptionInfo[BadRequest], text: str) -> None:
    error = excinfo.value
    assert error.status == 400
    assert error.code == "invalidRequest"
    assert text in error.message


# --- encoding helpers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "encoded"),
    [(0, "AA"), (1, "AQ"), (255, "_w"), (256, "AQA"), (65537, "AQAB")],
)
def test_b64url_uint_is_minimal_big_endian_without_padding(number: int, encoded: str) -> None:
    assert keys.b64url_uint(number) == encoded


def test_b64url_uint_rejects_negative_numbers() -> None:
    with pytest.raises(ValueError):
        keys.b64url_uint(-1)


def test_b64url_uses_the_url_alphabet_without_padding() -> None:
    assert keys.b64url(b"\xfb\xff") == "-_8"


def test_jwk_thumbprint_matches_the_rfc7638_example() -> None:
    assert keys.jwk_thumbprint(RFC7638_JWK) == RFC7638_THUMBPRINT


def test_jwk_thumbprint_ignores_members_that_are_not_required() -> None:
    required = {name: RFC7638_JWK[name] for name in ("e", "kty", "n")}
    assert keys.jwk_thumbprint(required) == RFC7638_THUMBPRINT


@pytest.mark.parametrize("members", [{"kty": "RSA", "n": "AQAB"}, {"kty": "OKP", "x": "AA"}, {}])
def test_jwk_thumbprint_rejects_unknown_types_and_missing_members(members: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        keys.jwk_thumbprint(members)


# --- generate_rsa -----------------------------------------------------------------------------


def test_generate_rsa_is_2048_bits_with_exponent_aqab(rsa_2048: Key) -> None:
    assert rsa_2048.kty == "RSA"
    assert rsa_2048.e == "AQAB"
    assert uint(rsa_2048.n).bit_length() == 2048


def test_generate_rsa_n_is_the_modulus_of_the_private_primes(rsa_2048: Key) -> None:
    assert uint(rsa_2048.n) == uint(rsa_2048.p) * uint(rsa_2048.q)


def test_generate_rsa_private_members_rebuild_a_working_key(rsa_2048: Key) -> None:
    public_numbers = rsa.RSAPublicNumbers(uint(rsa_2048.e), uint(rsa_2048.n))
    private_key = rsa.RSAPrivateNumbers(
        p=uint(rsa_2048.p),
        q=uint(rsa_2048.q),
        d=uint(rsa_2048.d),
        dmp1=uint(rsa_2048.dp),
        dmq1=uint(rsa_2048.dq),
        iqmp=uint(rsa_2048.qi),
        public_numbers=public_numbers,
    ).private_key()
    message = b"mockgraph"
    signature = private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    public_numbers.public_key().verify(signature, message, padding.PKCS1v15(), hashes.SHA256())


def test_generate_rsa_kid_is_the_rfc7638_thumbprint(rsa_2048: Key) -> None:
    assert rsa_2048.n is not None and rsa_2048.e is not None
    expected = independent_thumbprint({"e": rsa_2048.e, "kty": "RSA", "n": rsa_2048.n})
    assert rsa_2048.kid == expected
    assert len(expected) == 43


def test_generate_rsa_keeps_use_and_validity_and_renders_no_secrets(rsa_2048: Key) -> None:
    assert (rsa_2048.use, rsa_2048.nbf, rsa_2048.exp) == ("sig", NBF, EXP)
    assert rsa_2048.x5c is None and rsa_2048.x5t is None and rsa_2048.k is None
    assert set(rsa_2048.public()) == {"kid", "kty", "use", "n", "e", "nbf", "exp"}
    assert SECRET_FIELDS - {"k"} <= set(rsa_2048.to_state())


def test_generate_rsa_gives_a_new_key_every_time() -> None:
    first = keys.generate_rsa("enc", None, None, key_size=1024)
    second = keys.generate_rsa("enc", None, None, key_size=1024)
    assert first.n != second.n and first.kid != second.kid
    assert (first.use, first.nbf, first.exp) == ("enc", None, None)


# --- generate_oct and secret_key --------------------------------------------------------------


def test_generate_oct_gives_distinct_secrets_of_the_requested_length() -> None:
    made = [keys.generate_oct("enc", NBF, EXP) for _ in range(3)]
    assert len({key.k for key in made}) == 3
    assert all(len(b64url_decode(key.k or "")) == 32 for key in made)
    assert len(b64url_decode(keys.generate_oct("enc", None, None, size=64).k or "")) == 64


def test_generate_oct_kid_is_the_thumbprint_of_k_and_k_is_not_rendered() -> None:
    key = keys.generate_oct("enc", NBF, EXP)
    assert key.k is not None
    assert key.kid == independent_thumbprint({"k": key.k, "kty": "oct"})
    assert (key.kty, key.use, key.nbf, key.exp) == ("oct", "enc", NBF, EXP)
    assert "k" not in key.public()


def test_generate_oct_rejects_a_size_below_one_byte() -> None:
    with pytest.raises(ValueError):
        keys.generate_oct("enc", None, None, size=0)


def test_secret_key_stores_the_secret_as_given() -> None:
    secret = "application-secret-to-be-uploaded"
    key = keys.secret_key("sig", secret, NBF, EXP)
    assert (key.kty, key.use, key.k, key.nbf, key.exp) == ("oct", "sig", secret, NBF, EXP)
    # A random kid, not a thumbprint of the secret: a weak secret's thumbprint would let
    # anyone who reads the kid test guesses offline.
    assert key.kid != independent_thumbprint({"k": secret, "kty": "oct"})
    assert key.kid != keys.secret_key("sig", secret, NBF, EXP).kid
    assert secret not in json.dumps(key.public())


def test_secret_key_rejects_an_empty_secret() -> None:
    with pytest.raises(BadRequest) as excinfo:
        keys.secret_key("sig", "", NBF, EXP)
    assert_bad_request(excinfo, "'k'")


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


def test_certificate_key_with_an_ec_key_has_thumbprint_but_no_rsa_members() -> None:
    _, cert = make_certificate(key=make_ec_key())
    key = keys.certificate_key(cert_der_b64(cert))
    assert (key.kty, key.use, key.kid) == ("EC", "sig", key.x5t)
    assert key.x5c == (cert_der_b64(cert),)
    assert key.n is None and key.e is None


def test_certificate_key_rejects_an_unsupported_key_type() -> None:
    _, cert = make_certificate(key=ed25519.Ed25519PrivateKey.generate())
    with pytest.raises(BadRequest) as excinfo:
        keys.certificate_key(cert_der_b64(cert))
    assert_bad_request(excinfo, "RSA or EC")


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


def test_pkcs12_key_with_an_ec_key_keeps_only_the_public_parts() -> None:
    key = keys.pkcs12_key(make_pfx_b64("pw", key=make_ec_key()), "pw")
    assert (key.kty, key.use, key.kid) == ("EC", "sig", key.x5t)
    assert all(getattr(key, name) is None for name in SECRET_FIELDS)


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
