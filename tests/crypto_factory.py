"""Real certificates and PFX files made on the fly for tests: no checked-in key material.

Generating RSA keys is the slow part, so every maker reuses one cached 1024-bit key unless it is
handed another; pass ``key=make_rsa_key()`` where two keys must differ.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Sequence
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

#: A fixed validity, whole seconds, so tests can compare nbf/exp exactly.
NOT_BEFORE = datetime(2024, 1, 1, tzinfo=UTC)
NOT_AFTER = datetime(2034, 1, 1, tzinfo=UTC)


def make_rsa_key(key_size: int = 1024) -> rsa.RSAPrivateKey:
    """A new RSA key; 1024 bits by default because tests only need it to be real, not strong."""
    return rsa.generate_private_key(public_exponent=65537, key_size=key_size)


@functools.cache
def shared_rsa_key() -> rsa.RSAPrivateKey:
    """One RSA key for the whole test session."""
    return make_rsa_key()


def make_ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def make_certificate(
    not_before: datetime = NOT_BEFORE,
    not_after: datetime = NOT_AFTER,
    *,
    key: CertificateIssuerPrivateKeyTypes | None = None,
    common_name: str = "mockgraph test",
) -> tuple[CertificateIssuerPrivateKeyTypes, x509.Certificate]:
    """A self-signed certificate and its key (the shared RSA key unless ``key`` is given)."""
    private_key = key if key is not None else shared_rsa_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    # Ed25519/Ed448 sign without a separate hash algorithm.
    algorithm = (
        None
        if isinstance(private_key, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey))
        else hashes.SHA256()
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .sign(private_key, algorithm)
    )
    return private_key, cert


def cert_der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def cert_der_b64(cert: x509.Certificate) -> str:
    """What uploadCertificate's doc asks for: base64 of the certificate (DER)."""
    return base64.b64encode(cert_der(cert)).decode("ascii")


def cert_pem(cert: x509.Certificate) -> str:
    """The PEM text, as a .cer/.pem file holds it."""
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def cert_pem_b64(cert: x509.Certificate) -> str:
    """Base64 of a PEM file: what ``base64 cert.pem`` gives."""
    return base64.b64encode(cert_pem(cert).encode("ascii")).decode("ascii")


def make_pfx_b64(
    password: str | None,
    *,
    key: pkcs12.PKCS12PrivateKeyTypes | None = None,
    cert: x509.Certificate | None = None,
    additional: Sequence[x509.Certificate] = (),
    with_key: bool = True,
    with_cert: bool = True,
) -> str:
    """Base64 of a PFX holding ``key``, ``cert`` and the ``additional`` certificates.

    Without ``cert``, a self-signed one is made for ``key`` (default: the shared RSA key).
    Encrypted with ``BestAvailableEncryption(password)``, or unencrypted when ``password`` is
    None. ``with_key``/``with_cert`` False leave that part out, for negative tests.
    """
    if cert is None:
        key = key if key is not None else shared_rsa_key()
        _, cert = make_certificate(key=key)
    encryption: serialization.KeySerializationEncryption = (
        serialization.NoEncryption()
        if password is None
        else serialization.BestAvailableEncryption(password.encode("utf-8"))
    )
    data = pkcs12.serialize_key_and_certificates(
        b"mockgraph",
        key if with_key else None,
        cert if with_cert else None,
        list(additional) or None,
        encryption,
    )
    return base64.b64encode(data).decode("ascii")
