"""Key material of policy keys: generated RSA and oct keys, secrets, certificates and PFX files.

Every public function returns a :class:`~mockgraph.resources.keysets.models.Key` whose members
follow RFC 7517/7518 (JWK): integers are base64url without padding (RFC 7518 section 6.3.1),
``x5c`` entries are standard base64 of DER (RFC 7517 section 4.7), ``x5t`` is base64url of the
SHA-1 of the DER (section 4.8). Private members (``k``, ``d``, ``p``, ``q``, ``dp``, ``dq``,
``qi``) are kept in the Key for the store; :meth:`Key.public` leaves them out of every answer.

Bad client input raises :class:`~mockgraph.http.errors.BadRequest` (400) with a message that
never contains the uploaded secret, key or password; no ``cryptography`` exception leaves this
module for client input.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import replace

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    pkcs12,
)

from mockgraph.http.errors import BadRequest
from mockgraph.resources.keysets.models import Key

__all__ = [
    "b64url",
    "b64url_uint",
    "certificate_key",
    "generate_oct",
    "generate_rsa",
    "jwk_thumbprint",
    "pkcs12_key",
    "secret_key",
]

#: RFC 7638 section 3.2: the members that enter the thumbprint, per key type.
_THUMBPRINT_MEMBERS: dict[str, tuple[str, ...]] = {
    "RSA": ("e", "kty", "n"),
    "oct": ("k", "kty"),
}

_NOT_A_CERTIFICATE = "The value of 'key' is not a base64-encoded X.509 certificate."
_NOT_A_PFX = "The value of 'key' is not a base64-encoded PKCS#12 (PFX) file."
_UNREADABLE_PFX = "The PKCS#12 file could not be read with the given password."


def b64url(data: bytes) -> str:
    """Base64url of ``data`` without ``=`` padding (RFC 7515 section 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_uint(n: int) -> str:
    """RFC 7518 section 6.3.1 ``Base64urlUInt``: big-endian, fewest octets (0 is one zero octet).

    Raises ``ValueError`` for a negative ``n`` (a bug in the caller, never client input).
    """
    if n < 0:
        raise ValueError("Base64urlUInt needs a non-negative integer")
    return b64url(n.to_bytes(max(1, (n.bit_length() + 7) // 8), "big"))


def jwk_thumbprint(members: Mapping[str, str]) -> str:
    """RFC 7638 JWK thumbprint: SHA-256 over the required members' canonical JSON, base64url.

    ``members`` may be a whole JWK: only the members required for its ``kty`` (``e``, ``kty``,
    ``n`` for RSA; ``k``, ``kty`` for oct) are hashed, in
    lexicographic order, without whitespace. The result is 43 characters.

    Raises ``ValueError`` for another ``kty`` or a missing required member (a bug in the caller).
    """
    kty = members.get("kty")
    required = _THUMBPRINT_MEMBERS.get(kty or "")
    if required is None:
        raise ValueError(f"no RFC 7638 thumbprint for kty {kty!r}")
    missing = [name for name in required if name not in members]
    if missing:
        raise ValueError(f"JWK thumbprint needs the member(s) {', '.join(missing)}")
    canonical = json.dumps(
        {name: members[name] for name in required},
        separators=(",", ":"),
        sort_keys=True,
        ensure_ascii=False,
    )
    return b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


def generate_rsa(use: str, nbf: int | None, exp: int | None, *, key_size: int = 2048) -> Key:
    """A new RSA key pair (e = 65537) as the answer of generateKey with ``kty`` RSA.

    The Key holds the public ``n``/``e`` and the private ``d``, ``p``, ``q``, ``dp``, ``dq``,
    ``qi``; ``kid`` is the RFC 7638 thumbprint. ``use``, ``nbf`` and ``exp`` are stored as given
    (parsing validates them). Raises ``ValueError`` for a ``key_size`` below 1024 (a bug in the
    caller: the size is not client input).
    """
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    return _rsa_key(private_key.public_key(), private_key, use=use, nbf=nbf, exp=exp)


def generate_oct(use: str, nbf: int | None, exp: int | None, *, size: int = 32) -> Key:
    """A new random symmetric key as the answer of generateKey with ``kty`` oct.

    ``k`` is base64url of ``size`` bytes from :func:`secrets.token_bytes`; ``kid`` is the RFC 7638
    thumbprint. Raises ``ValueError`` for a ``size`` below 1 (a bug in the caller).
    """
    if size < 1:
        raise ValueError("an oct key needs at least one byte")
    k = b64url(secrets.token_bytes(size))
    return Key(
        kid=jwk_thumbprint({"kty": "oct", "k": k}), kty="oct", use=use, k=k, nbf=nbf, exp=exp
    )


def secret_key(use: str, k: str, nbf: int | None, exp: int | None) -> Key:
    """The key that uploadSecret stores: ``kty`` oct with the client's secret kept as ``k``.

    The secret is stored exactly as given (Graph's example sends plain text, not base64url).
    ``kid`` is random: a thumbprint of a weak, human-chosen secret would let anyone who reads
    the kid test guesses against it offline.

    Raises :class:`BadRequest` when ``k`` is empty.
    """
    if not k:
        raise BadRequest("The value of 'k' must not be empty.")
    return Key(kid=b64url(secrets.token_bytes(32)), kty="oct", use=use, k=k, nbf=nbf, exp=exp)


def certificate_key(key: str) -> Key:
    """The key that uploadCertificate stores, read from the certificate's public parts.

    ``key`` is base64 of a DER certificate, base64 of a PEM file, or the PEM text itself
    (whitespace inside base64 is ignored). A PEM file may hold a chain: ``x5c`` then lists every
    certificate in file order, the first being the key's own. The Key has ``use`` sig, ``x5c``,
    ``x5t`` (base64url SHA-1 of the DER), ``kid`` equal to ``x5t`` as B2C shows the thumbprint,
    and ``nbf``/``exp`` from the certificate's validity, ``kty`` RSA with ``n``/``e``.

    Raises :class:`BadRequest` when ``key`` is empty, not base64, not a certificate, or holds a
    public key that is not RSA: the key resource page allows the key types rsa and oct only,
    and a key set must be read back and written again as it is.
    """
    if not key.strip():
        raise BadRequest("The value of 'key' must not be empty.")
    if "-----BEGIN" in key:
        data = key.encode("utf-8")
    else:
        data = _decode_base64(key, _NOT_A_CERTIFICATE)
    try:
        if b"-----BEGIN" in data:
            chain = x509.load_pem_x509_certificates(data)
        else:
            chain = [x509.load_der_x509_certificate(data)]
    except ValueError:
        raise BadRequest(_NOT_A_CERTIFICATE) from None
    return _certificate_chain_key(chain, None)


def pkcs12_key(key: str, password: str | None) -> Key:
    """The key that uploadPkcs12 stores, read from a PFX file.

    ``key`` is base64 of the PFX (whitespace ignored); ``password`` is its password, UTF-8
    encoded; ``None`` or ``""`` open a PFX made without one (PKCS#12 tools write an absent and
    an empty password alike). The public members are those of :func:`certificate_key` for the
    certificate that belongs to the private key (``x5c``: that certificate, then the file's other
    certificates); an RSA private key adds ``d``, ``p``, ``q``, ``dp``, ``dq``, ``qi``.

    Raises :class:`BadRequest` when ``key`` is empty or not base64, when the file cannot be read
    with ``password`` (a wrong password and a broken file look the same), when it has no private
    key, no certificate for that key, or a key type other than RSA. The password never
    appears in a message, an exception (the library's exception is not chained) or the Key.
    """
    if not key.strip():
        raise BadRequest("The value of 'key' must not be empty.")
    data = _decode_base64(key, _NOT_A_PFX)
    candidates: Sequence[bytes | None] = [password.encode("utf-8")] if password else [None, b""]
    loaded: pkcs12.PKCS12KeyAndCertificates | None = None
    for candidate in candidates:
        try:
            loaded = pkcs12.load_pkcs12(data, candidate)
            break
        except (ValueError, UnsupportedAlgorithm):
            continue
    if loaded is None:
        raise BadRequest(_UNREADABLE_PFX)
    private_key = loaded.key
    if private_key is None:
        raise BadRequest("The PKCS#12 file has no private key.")
    if loaded.cert is None:
        raise BadRequest("The PKCS#12 file has no certificate for its private key.")
    leaf = loaded.cert.certificate
    # The loader pairs the key with a certificate through the localKeyId attribute, which a
    # crafted file can set on the wrong certificate: compare the public keys themselves.
    key_spki = _spki(private_key.public_key())
    if key_spki is None or key_spki != _spki(leaf.public_key()):
        raise BadRequest("The private key in the PKCS#12 file does not match its certificate.")
    chain = [leaf, *(extra.certificate for extra in loaded.additional_certs)]
    rsa_private = private_key if isinstance(private_key, rsa.RSAPrivateKey) else None
    return _certificate_chain_key(chain, rsa_private)


def _decode_base64(value: str, message: str) -> bytes:
    """Standard base64 (padding required, whitespace ignored) or :class:`BadRequest`."""
    compact = "".join(value.split())
    try:
        data = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        # ValueError: non-ASCII text; neither message quotes the value, which may be a secret.
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


def _certificate_chain_key(
    chain: Sequence[x509.Certificate], rsa_private: rsa.RSAPrivateKey | None
) -> Key:
    """The Key of ``chain[0]``, with the private members of ``rsa_private``; or BadRequest."""
    leaf = chain[0]
    der = leaf.public_bytes(Encoding.DER)
    # RFC 7517 section 4.8 defines x5t as SHA-1: a fingerprint, not a security measure.
    x5t = b64url(hashlib.sha1(der, usedforsecurity=False).digest())
    x5c = tuple(base64.b64encode(cert.public_bytes(Encoding.DER)).decode("ascii") for cert in chain)
    nbf = int(leaf.not_valid_before_utc.timestamp())
    exp = int(leaf.not_valid_after_utc.timestamp())
    try:
        public_key = leaf.public_key()
    except (ValueError, UnsupportedAlgorithm):
        raise BadRequest("The certificate's public key could not be read.") from None
    if isinstance(public_key, rsa.RSAPublicKey):
        key = _rsa_key(public_key, rsa_private, use="sig", nbf=nbf, exp=exp, kid=x5t)
        return replace(key, x5c=x5c, x5t=x5t)
    raise BadRequest("The certificate's key type is not supported: policy keys are RSA or oct.")


def _rsa_key(
    public_key: rsa.RSAPublicKey,
    private_key: rsa.RSAPrivateKey | None,
    *,
    use: str,
    nbf: int | None,
    exp: int | None,
    kid: str | None = None,
) -> Key:
    """An RSA Key; ``kid`` defaults to the RFC 7638 thumbprint of the public key."""
    public = public_key.public_numbers()
    n, e = b64url_uint(public.n), b64url_uint(public.e)
    if kid is None:
        kid = jwk_thumbprint({"kty": "RSA", "n": n, "e": e})
    key = Key(kid=kid, kty="RSA", use=use, n=n, e=e, nbf=nbf, exp=exp)
    if private_key is None:
        return key
    numbers = private_key.private_numbers()
    return replace(
        key,
        d=b64url_uint(numbers.d),
        p=b64url_uint(numbers.p),
        q=b64url_uint(numbers.q),
        dp=b64url_uint(numbers.dmp1),
        dq=b64url_uint(numbers.dmq1),
        qi=b64url_uint(numbers.iqmp),
    )
