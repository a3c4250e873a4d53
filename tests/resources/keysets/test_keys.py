"""Key material: the JWK encodings, generated RSA and oct keys and uploaded secrets, checked
with real cryptography (certificates and PFX files: ``test_certificates.py``)."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

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


def test_generate_oct_gives_distinct_secrets_of_32_bytes() -> None:
    made = [keys.generate_oct("enc", NBF, EXP) for _ in range(3)]
    assert len({key.k for key in made}) == 3
    assert all(len(b64url_decode(key.k or "")) == 32 for key in made)


def test_generate_oct_kid_is_the_thumbprint_of_k_and_k_is_not_rendered() -> None:
    key = keys.generate_oct("enc", NBF, EXP)
    assert key.k is not None
    assert key.kid == independent_thumbprint({"k": key.k, "kty": "oct"})
    assert (key.kty, key.use, key.nbf, key.exp) == ("oct", "enc", NBF, EXP)
    assert "k" not in key.public()


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
