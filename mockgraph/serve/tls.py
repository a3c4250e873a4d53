"""mockgraph's own certificate authority: a local CA made once per user and reused, the server
certificate it signs for ``localhost``, ``127.0.0.1`` and ``::1``, and the RSA key the offline
authority signs its tokens with. All live in :func:`home` (``MOCKGRAPH_HOME``, else a per-user
data folder); private keys are readable by their owner only."""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mockgraph.features.atomic import lock_file, write_atomically

#: The names the server certificate covers.
NAMES = ("localhost", "127.0.0.1", "::1")
#: Browsers refuse server certificates valid for longer than 398 days.
SERVER_DAYS = 397
CA_DAYS = 10 * 365
#: A server certificate this close to its end is made again.
RENEW_DAYS = 30


def home() -> Path:
    """Where the CA and keys live: ``MOCKGRAPH_HOME``, else the user's data folder
    (``%LOCALAPPDATA%\\mockgraph``, ``~/Library/Application Support/mockgraph``,
    ``$XDG_DATA_HOME/mockgraph`` or ``~/.local/share/mockgraph``)."""
    if configured := os.environ.get("MOCKGRAPH_HOME"):
        return Path(configured)
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local")) / "mockgraph"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "mockgraph"
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "mockgraph"


@dataclass(frozen=True)
class Files:
    """The paths of the certificate authority's files in one home folder."""

    ca: Path  #: the CA certificate: what clients trust
    ca_key: Path
    server: Path  #: the server certificate, then the CA's (the chain a server sends)
    server_key: Path
    signing_key: Path  #: the offline authority's RS256 key

    @classmethod
    def of(cls, folder: Path) -> Files:
        return cls(
            ca=folder / "ca.pem",
            ca_key=folder / "ca-key.pem",
            server=folder / "localhost.pem",
            server_key=folder / "localhost-key.pem",
            signing_key=folder / "signing-key.pem",
        )


def ensure(folder: Path | None = None) -> Files:
    """The files of ``folder`` (default :func:`home`), each made when missing (and the server
    certificate when it nears its end or another CA signed it). Safe when several processes
    start at once: one makes them, the others wait and reuse them."""
    files = Files.of(folder or home())
    files.ca.parent.mkdir(parents=True, exist_ok=True)
    with lock_file(files.ca.parent / ".lock", wait=True):
        if not (files.ca.exists() and files.ca_key.exists()):
            _make_ca(files)
        ca = x509.load_pem_x509_certificate(files.ca.read_bytes())
        if _needs_server_certificate(files, ca):
            _make_server_certificate(files, ca)
        if not files.signing_key.exists():
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            _write_private(files.signing_key, key)
    return files


def signing_key(files: Files) -> rsa.RSAPrivateKey:
    """The offline authority's RS256 key."""
    key = serialization.load_pem_private_key(files.signing_key.read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def spki_pin(certificate: Path) -> str:
    """Base64 of the SHA-256 of a certificate's public key: what Chromium's
    ``--ignore-certificate-errors-spki-list`` takes to trust it."""
    import base64

    cert = x509.load_pem_x509_certificate(certificate.read_bytes())
    der = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _write_private(path: Path, key: CertificateIssuerPrivateKeyTypes) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_atomically(path, pem.decode())  # created readable by its owner only


def _make_ca(files: Files) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mockgraph local CA")])
    usage = x509.KeyUsage(
        digital_signature=True,
        key_cert_sign=True,
        crl_sign=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        encipher_only=False,
        decipher_only=False,
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - dt.timedelta(minutes=5))
        .not_valid_after(_now() + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_private(files.ca_key, key)
    write_atomically(files.ca, cert.public_bytes(serialization.Encoding.PEM).decode())
    files.server.unlink(missing_ok=True)


def _needs_server_certificate(files: Files, ca: x509.Certificate) -> bool:
    if not (files.server.exists() and files.server_key.exists()):
        return True
    leaf = x509.load_pem_x509_certificates(files.server.read_bytes())[0]
    left = leaf.not_valid_after_utc - _now()
    try:  # without it, strict verification (Python 3.13's default) refuses the certificate
        leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    except x509.ExtensionNotFound:
        return True
    return leaf.issuer != ca.subject or left < dt.timedelta(days=RENEW_DAYS)


def _make_server_certificate(files: Files, ca: x509.Certificate) -> None:
    ca_key = serialization.load_pem_private_key(files.ca_key.read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName("localhost")]
    names += [x509.IPAddress(ipaddress.ip_address(a)) for a in NAMES[1:]]
    authority = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - dt.timedelta(minutes=5))
        .not_valid_after(_now() + dt.timedelta(days=SERVER_DAYS))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(authority, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write_private(files.server_key, key)
    chain = cert.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(
        serialization.Encoding.PEM
    )
    write_atomically(files.server, chain.decode())


def server_files(cert: Path | None, key: Path | None) -> tuple[Path, Path]:
    """The certificate chain and key to serve HTTPS with: the user's own (``cert`` and
    ``key``, PEM), or the mock's CA-signed ones. A key that is not PKCS#8 is handed to the
    server as a PKCS#8 copy in a private temporary folder. Raises :class:`StartupError` for a
    file that cannot be read or a key that does not match the certificate."""
    from mockgraph.http.errors import StartupError

    if cert is None and key is None:
        files = ensure()
        return files.server, files.server_key
    if cert is None or key is None:
        raise StartupError("--cert and --key go together")
    try:
        leaf = x509.load_pem_x509_certificates(cert.read_bytes())[0]
        private = serialization.load_pem_private_key(key.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise StartupError(f"cannot read the certificate or key: {exc}") from None
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    if leaf.public_key().public_bytes(
        serialization.Encoding.PEM, public
    ) != private.public_key().public_bytes(serialization.Encoding.PEM, public):
        raise StartupError(f"the key {key} is not the key of the certificate {cert}")
    if b"BEGIN PRIVATE KEY" in key.read_bytes():
        return cert, key
    import atexit
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="mockgraph-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    copy = folder / "key.pem"
    _write_private(copy, private)  # type: ignore[arg-type]
    return cert, copy
