"""Key material of policy keys: generated RSA and oct keys, secrets, certificates and PFX files.

Members follow RFC 7517/7518: integers base64url without padding, ``x5c`` standard base64 of
DER, ``x5t`` base64url of the DER's SHA-1. Private members stay in the stored
:class:`~mockgraph.resources.keysets.models.Key`; :meth:`Key.public` leaves them out of answers.
Bad client input raises :class:`BadRequest` with a message that never holds the uploaded secret,
key or password; no ``cryptography`` exception leaves this module for client input.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, pkcs12

from mockgraph.http.errors import BadRequest
from mockgraph.resources.keysets.models import Key

#: RFC 7638 section 3.2: the members that enter the thumbprint, per key type.
_THUMBPRINT_MEMBERS = {"RSA": ("e", "kty", "n"), "oct": ("k", "kty")}
_NOT_A_CERTIFICATE = "The value of 'key' is not a base64-encoded X.509 certificate."
#: The most key derivation iterations a PFX may ask for: 50 times what OpenSSL, Windows and
#: cryptography write (2,048 or 2,000).
MAX_ITERATIONS = 100_000
_NOT_A_PFX = "The value of 'key' is not a base64-encoded PKCS#12 (PFX) file."


def b64url(data: bytes) -> str:
    """Base64url without ``=`` padding (RFC 7515 section 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_uint(n: int) -> str:
    """RFC 7518 ``Base64urlUInt``: big-endian, fewest octets; ``ValueError`` if negative."""
    if n < 0:
        raise ValueError("Base64urlUInt needs a non-negative integer")
    return b64url(n.to_bytes(max(1, (n.bit_length() + 7) // 8), "big"))


def jwk_thumbprint(members: Mapping[str, str]) -> str:
    """The RFC 7638 thumbprint of a JWK (only its ``kty``'s required members count); a
    ``ValueError`` for another ``kty`` or a missing member."""
    required = _THUMBPRINT_MEMBERS.get(members.get("kty") or "")
    if required is None or any(name not in members for name in required):
        raise ValueError(f"no RFC 7638 thumbprint for this JWK: {sorted(members)}")
    chosen = {name: members[name] for name in required}  # already in lexicographic order
    canonical = json.dumps(chosen, separators=(",", ":"), ensure_ascii=False)
    return b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


def generate_rsa(use: str, nbf: int | None, exp: int | None, *, key_size: int = 2048) -> Key:
    """generateKey's RSA key pair (e = 65537), its ``kid`` the RFC 7638 thumbprint."""
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    return _rsa_key(private_key.public_key(), private_key, use=use, nbf=nbf, exp=exp)


def generate_oct(use: str, nbf: int | None, exp: int | None) -> Key:
    """generateKey's symmetric key: 32 random bytes, its ``kid`` the RFC 7638 thumbprint."""
    k = b64url(secrets.token_bytes(32))
    kid = jwk_thumbprint({"kty": "oct", "k": k})
    return Key(kid=kid, kty="oct", use=use, k=k, nbf=nbf, exp=exp)


def secret_key(use: str, k: str, nbf: int | None, exp: int | None) -> Key:
    """uploadSecret's key: ``k`` kept exactly as given (Graph's example sends plain text), a
    random ``kid`` (a thumbprint of a weak secret would let a reader of the kid test guesses
    offline). Raises :class:`BadRequest` for an empty ``k``."""
    if not k:
        raise BadRequest("The value of 'k' must not be empty.")
    return Key(kid=b64url(secrets.token_bytes(32)), kty="oct", use=use, k=k, nbf=nbf, exp=exp)


def certificate_key(key: str) -> Key:
    """uploadCertificate's key: base64 of DER or PEM, or PEM text (a chain gives ``x5c`` in file
    order); ``kid`` is ``x5t`` as B2C shows it, ``nbf``/``exp`` the validity. Raises
    :class:`BadRequest` for what is not a certificate, or a key that is not RSA."""
    data = key.encode("utf-8") if "-----BEGIN" in key else _base64(key, _NOT_A_CERTIFICATE)
    try:
        if b"-----BEGIN" in data:
            chain = x509.load_pem_x509_certificates(data)
        else:
            chain = [x509.load_der_x509_certificate(data)]
    except ValueError:
        raise BadRequest(_NOT_A_CERTIFICATE) from None
    return _chain_key(chain, None)


def pkcs12_key(key: str, password: str | None) -> Key:
    """The key of a PKCS#12 upload: base64 of a PFX and its password (``None`` and ``""``
    alike open one made without): :func:`certificate_key`'s members for the key's
    certificate, and the private ones. Raises :class:`BadRequest` for what is not a PFX
    readable with ``password``, without a private key and its certificate, or a key that is
    not RSA."""
    data = _base64(key, _NOT_A_PFX)
    if _largest_iteration_count(data) > MAX_ITERATIONS:
        # Key derivation holds the interpreter for its whole count: a crafted file would
        # stall every client of the mock.
        raise BadRequest(
            f"The PKCS#12 file asks for more than {MAX_ITERATIONS:,} key derivation iterations."
        )
    loaded: pkcs12.PKCS12KeyAndCertificates | None = None
    for candidate in [password.encode("utf-8")] if password else [None, b""]:
        try:
            loaded = pkcs12.load_pkcs12(data, candidate)
            break
        except (ValueError, UnsupportedAlgorithm):
            continue
    if loaded is None:
        raise BadRequest("The PKCS#12 file could not be read with the given password.")
    if loaded.key is None:
        raise BadRequest("The PKCS#12 file has no private key.")
    if loaded.cert is None:
        raise BadRequest("The PKCS#12 file has no certificate for its private key.")
    leaf = loaded.cert.certificate
    # The loader pairs key and certificate by the localKeyId attribute, which a crafted file
    # can set on the wrong certificate: compare the public keys themselves.
    key_spki = _spki(loaded.key.public_key())
    if key_spki is None or key_spki != _spki(leaf.public_key()):
        raise BadRequest("The private key in the PKCS#12 file does not match its certificate.")
    chain = [leaf, *(extra.certificate for extra in loaded.additional_certs)]
    return _chain_key(chain, loaded.key if isinstance(loaded.key, rsa.RSAPrivateKey) else None)


def _largest_iteration_count(der: bytes, depth: int = 0) -> int:
    """The largest iteration count a DER PKCS#12 file asks for (its MAC's and its PBE
    parameters': in each, an INTEGER right after the salt's OCTET STRING), found without
    deriving anything; 0 for what does not parse as DER."""
    largest, index, previous = 0, 0, -1
    try:
        while index < len(der) and depth < 24:
            tag, value, index = _element(der, index)
            if tag == 0x02 and previous == 0x04:
                largest = max(largest, int.from_bytes(value[:9], "big"))
            elif tag & 0x20 or tag == 0x04:  # constructed, or a string that may wrap DER
                largest = max(largest, _largest_iteration_count(value, depth + 1))
            previous = tag
    except ValueError:
        return largest if depth == 0 else 0
    return largest


def _element(der: bytes, index: int) -> tuple[int, bytes, int]:
    """One DER element at ``index``: its tag, value and the index after it (``ValueError``)."""
    if index + 2 > len(der):
        raise ValueError("truncated")
    tag, length, index = der[index], der[index + 1], index + 2
    if length & 0x80:
        size = length & 0x7F
        if not 0 < size <= 4 or index + size > len(der):
            raise ValueError("bad length")
        length, index = int.from_bytes(der[index : index + size], "big"), index + size
    if index + length > len(der):
        raise ValueError("truncated")
    return tag, der[index : index + length], index + length


def _base64(value: str, message: str) -> bytes:
    """Standard base64 (padding required, whitespace ignored) or :class:`BadRequest`."""
    if not value.strip():
        raise BadRequest("The value of 'key' must not be empty.")
    try:
        data = base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):  # ValueError: non-ASCII text
        raise BadRequest(message) from None
    if not data:
        raise BadRequest(message)
    return data


def _spki(public_key: PublicKeyTypes) -> bytes | None:
    """DER SubjectPublicKeyInfo, to compare keys of any type; None when it cannot be encoded."""
    try:
        return public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    except (ValueError, UnsupportedAlgorithm):
        return None


def _chain_key(chain: Sequence[x509.Certificate], private: rsa.RSAPrivateKey | None) -> Key:
    """The Key of ``chain[0]`` with the private members of ``private``, or BadRequest."""
    leaf = chain[0]
    # RFC 7517 section 4.8 defines x5t as SHA-1: a fingerprint, not a security measure.
    x5t = b64url(hashlib.sha1(leaf.public_bytes(Encoding.DER), usedforsecurity=False).digest())
    x5c = tuple(base64.b64encode(cert.public_bytes(Encoding.DER)).decode() for cert in chain)
    try:
        public_key = leaf.public_key()
    except (ValueError, UnsupportedAlgorithm):
        raise BadRequest("The certificate's public key could not be read.") from None
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise BadRequest("The certificate's key type is not supported: policy keys are RSA or oct.")
    nbf = int(leaf.not_valid_before_utc.timestamp())
    exp = int(leaf.not_valid_after_utc.timestamp())
    key = _rsa_key(public_key, private, use="sig", nbf=nbf, exp=exp, kid=x5t)
    return replace(key, x5c=x5c, x5t=x5t)


def _rsa_key(public: rsa.RSAPublicKey, private: rsa.RSAPrivateKey | None, **members: Any) -> Key:
    """An RSA Key of ``members``; ``kid`` defaults to the RFC 7638 thumbprint."""
    numbers = public.public_numbers()
    n, e = b64url_uint(numbers.n), b64url_uint(numbers.e)
    if "kid" not in members:
        members["kid"] = jwk_thumbprint({"kty": "RSA", "n": n, "e": e})
    key = Key(kty="RSA", n=n, e=e, **members)
    if private is None:
        return key
    s = private.private_numbers()
    d, p, q, dp, dq, qi = (b64url_uint(i) for i in (s.d, s.p, s.q, s.dmp1, s.dmq1, s.iqmp))
    return replace(key, d=d, p=p, q=q, dp=dp, dq=dq, qi=qi)
