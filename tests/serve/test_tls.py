"""``serve.tls``: mockgraph's own CA, made once per home folder and reused, the server
certificate it signs, and the certificate and key of one's own handed to the server; and
``mockgraph serve`` over HTTPS with either, on granian and on ``--dev``."""

from __future__ import annotations

import datetime as dt
import http.client
import ipaddress
import socket
import ssl
import stat
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from crypto_factory import make_certificate, make_ec_key, make_rsa_key
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from serve_process import ServeProcess

from mockgraph.http.errors import StartupError
from mockgraph.serve import tls

KEYSETS = "/beta/trustFramework/keySets"
SERVERS = ["granian", "dev"]


def _contents(files: tls.Files) -> dict[str, bytes]:
    return {name: getattr(files, name).read_bytes() for name in tls.Files.__dataclass_fields__}


def test_the_ca_server_certificate_and_signing_key_are_made_once_then_reused(
    tmp_path: Path,
) -> None:
    made = tls.ensure(tmp_path)
    first = _contents(made)
    assert tls.ensure(tmp_path) == made
    assert _contents(made) == first


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")
def test_private_keys_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    files = tls.ensure(tmp_path)
    for key in (files.ca_key, files.server_key, files.signing_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key


def test_the_server_certificate_covers_loopback_names_and_is_signed_by_the_ca(
    tmp_path: Path,
) -> None:
    files = tls.ensure(tmp_path)
    leaf, ca_in_chain = x509.load_pem_x509_certificates(files.server.read_bytes())
    ca = x509.load_pem_x509_certificate(files.ca.read_bytes())
    assert ca_in_chain == ca
    leaf.verify_directly_issued_by(ca)
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert names.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    ]
    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    assert lifetime <= dt.timedelta(days=398)  # what browsers still accept


def test_a_server_certificate_near_its_end_is_made_again_by_the_same_ca(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = tls.ensure(tmp_path)
    before = _contents(files)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=tls.SERVER_DAYS - tls.RENEW_DAYS + 1)
    monkeypatch.setattr(tls, "_now", lambda: later)
    tls.ensure(tmp_path)
    after = _contents(files)
    assert after["server"] != before["server"]
    assert (after["ca"], after["ca_key"]) == (before["ca"], before["ca_key"])


def _handshake(files: tls.Files, client: ssl.SSLContext) -> None:
    """A TLS handshake with a server holding ``files``' certificate, over a socket pair."""
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(files.server, files.server_key)
    ours, theirs = socket.socketpair()
    with ThreadPoolExecutor(1) as pool, ours, theirs:
        served = pool.submit(lambda: server.wrap_socket(theirs, server_side=True).close())
        client.wrap_socket(ours, server_hostname="localhost").close()
        served.result(timeout=10)


def test_the_server_certificate_passes_strict_verification(tmp_path: Path) -> None:
    """Python 3.13's default client context verifies strictly (RFC 5280 profile)."""
    files = tls.ensure(tmp_path)
    client = ssl.create_default_context(cafile=str(files.ca))
    client.verify_flags |= ssl.VERIFY_X509_STRICT
    _handshake(files, client)


def test_a_server_certificate_without_an_authority_key_id_is_made_again(tmp_path: Path) -> None:
    files = tls.ensure(tmp_path)
    ca = x509.load_pem_x509_certificate(files.ca.read_bytes())
    ca_key = serialization.load_pem_private_key(files.ca_key.read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    old = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=300))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    files.server.write_bytes(old.public_bytes(serialization.Encoding.PEM))
    tls.ensure(tmp_path)
    leaf = x509.load_pem_x509_certificates(files.server.read_bytes())[0]
    assert leaf.serial_number != old.serial_number
    leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)


def test_a_new_ca_gets_a_new_server_certificate(tmp_path: Path) -> None:
    files = tls.ensure(tmp_path)
    files.ca.unlink()
    tls.ensure(tmp_path)
    leaf = x509.load_pem_x509_certificates(files.server.read_bytes())[0]
    leaf.verify_directly_issued_by(x509.load_pem_x509_certificate(files.ca.read_bytes()))


def test_processes_starting_at_once_share_one_ca(tmp_path: Path) -> None:
    with ThreadPoolExecutor(4) as pool:
        made = list(pool.map(lambda _: tls.ensure(tmp_path).ca.read_bytes(), range(4)))
    assert len(set(made)) == 1


def test_the_home_folder_is_mockgraph_home_when_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOCKGRAPH_HOME", str(tmp_path))
    assert tls.home() == tmp_path
    assert tls.ensure().ca == tmp_path / "ca.pem"


def test_the_signing_key_is_a_2048_bit_rsa_key(tmp_path: Path) -> None:
    key = tls.signing_key(tls.ensure(tmp_path))
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.key_size == 2048


def test_the_spki_pin_follows_the_certificates_key(tmp_path: Path) -> None:
    key = make_ec_key()
    paths = []
    for name, cert_key in (("a", key), ("b", key), ("c", make_ec_key())):
        _, cert = make_certificate(key=cert_key, common_name=name)
        paths.append(tmp_path / f"{name}.pem")
        paths[-1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    a, b, c = (tls.spki_pin(path) for path in paths)
    assert a == b != c
    assert len(a) == 44  # base64 of 32 bytes


# -- a certificate and key of one's own ----------------------------------------------------------


def _write_pair(
    folder: Path,
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    form: serialization.PrivateFormat,
) -> tuple[Path, Path]:
    _, cert = make_certificate(key=key)
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, form, serialization.NoEncryption())
    )
    return cert_path, key_path


def test_without_a_certificate_of_ones_own_the_cas_server_files_are_served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOCKGRAPH_HOME", str(tmp_path))
    files = tls.Files.of(tmp_path)
    assert tls.server_files(None, None) == (files.server, files.server_key)


def test_a_pkcs8_key_is_served_as_it_is(tmp_path: Path) -> None:
    cert, key = _write_pair(tmp_path, make_ec_key(), serialization.PrivateFormat.PKCS8)
    assert tls.server_files(cert, key) == (cert, key)


@pytest.mark.parametrize("kind", ["rsa-pkcs1", "ec-sec1"])
def test_a_key_in_another_form_is_served_as_a_private_pkcs8_copy(kind: str, tmp_path: Path) -> None:
    key = make_rsa_key() if kind == "rsa-pkcs1" else make_ec_key()
    form = serialization.PrivateFormat.TraditionalOpenSSL
    cert, original = _write_pair(tmp_path, key, form)
    served_cert, copy = tls.server_files(cert, original)
    assert served_cert == cert
    assert copy != original
    assert b"-----BEGIN PRIVATE KEY-----" in copy.read_bytes()
    loaded = serialization.load_pem_private_key(copy.read_bytes(), password=None)
    assert loaded.private_numbers() == key.private_numbers()  # type: ignore[union-attr]
    if sys.platform != "win32":
        assert stat.S_IMODE(copy.stat().st_mode) == 0o600


@pytest.mark.parametrize("given", ["cert", "key"])
def test_a_certificate_and_key_go_together(given: str, tmp_path: Path) -> None:
    cert, key = _write_pair(tmp_path, make_ec_key(), serialization.PrivateFormat.PKCS8)
    with pytest.raises(StartupError, match="--cert and --key go together"):
        tls.server_files(cert if given == "cert" else None, key if given == "key" else None)


def test_a_key_of_another_certificate_is_refused(tmp_path: Path) -> None:
    cert, key = _write_pair(tmp_path, make_ec_key(), serialization.PrivateFormat.PKCS8)
    other = make_ec_key().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    key.write_bytes(other)
    with pytest.raises(StartupError, match="is not the key of the certificate"):
        tls.server_files(cert, key)


def test_a_file_that_is_not_pem_is_refused_with_one_line(tmp_path: Path) -> None:
    cert, key = _write_pair(tmp_path, make_ec_key(), serialization.PrivateFormat.PKCS8)
    cert.write_text("not a certificate")
    with pytest.raises(StartupError, match="cannot read the certificate or key") as caught:
        tls.server_files(cert, key)
    assert "\n" not in str(caught.value)


# -- HTTPS served (real processes) -----------------------------------------------------------------


def _trusting(ca: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca))


def _check_https(served: ServeProcess, ca: Path, server: str) -> None:
    """The mock's answers over HTTPS, the certificate checked against ``ca``: links in
    ``https``, and on granian several requests on one connection (Werkzeug's development
    server closes each)."""
    assert served.scheme == "https"
    conn = http.client.HTTPSConnection("127.0.0.1", served.port, timeout=30, context=_trusting(ca))
    try:
        for name in ("a", "b", "c"):
            assert served.request("POST", KEYSETS, {"id": name}, conn=conn)[0] == 201
        first = conn.sock
        status, page, response = served.request("GET", KEYSETS + "?$top=2", conn=conn)
        assert status == 200
        if server == "granian":
            assert (response.getheader("Connection") or "").lower() != "close"
            assert conn.sock is first  # kept alive
        root = f"https://127.0.0.1:{served.port}/beta"
        assert page["@odata.context"] == f"{root}/$metadata#trustFramework/keySets"
        assert page["@odata.nextLink"].startswith(f"{root}/trustFramework/keySets?")
        assert [k["id"] for k in page["value"]] == ["B2C_1A_a", "B2C_1A_b"]
    finally:
        conn.close()


@pytest.mark.slow
@pytest.mark.parametrize("server", SERVERS)
def test_tls_serves_https_with_a_certificate_of_mockgraphs_ca(server: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    with ServeProcess(
        tmp_path / "serve.log", "--tls", *(["--dev"] if server == "dev" else []), home=home
    ) as served:
        assert f"SSL_CERT_FILE={home / 'ca.pem'}" in served.output()
        _check_https(served, home / "ca.pem", server)


_CA_USAGE = x509.KeyUsage(
    digital_signature=False,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=True,
    encipher_only=False,
    decipher_only=False,
)


def _own_certificate(folder: Path, key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> Path:
    """A CA of the test's own (its certificate returned) signing a certificate for
    127.0.0.1 (``cert.pem``) with ``key`` (``key.pem``, in OpenSSL's traditional form:
    PKCS#1 for RSA, SEC 1 for EC)."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    now = dt.datetime.now(dt.UTC)
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_CA_USAGE, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (folder / "ca.pem").write_bytes(ca.public_bytes(pem))
    (folder / "cert.pem").write_bytes(leaf.public_bytes(pem))
    traditional = serialization.PrivateFormat.TraditionalOpenSSL
    (folder / "key.pem").write_bytes(
        key.private_bytes(pem, traditional, serialization.NoEncryption())
    )
    return folder / "ca.pem"


KEYS: dict[str, Callable[[], rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey]] = {
    "rsa-pkcs1": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
    "ec-sec1": lambda: ec.generate_private_key(ec.SECP256R1()),
}


@pytest.mark.slow
@pytest.mark.parametrize("server", SERVERS)
@pytest.mark.parametrize("kind", KEYS)
def test_a_certificate_and_key_of_ones_own_serve_https(
    kind: str, server: str, tmp_path: Path
) -> None:
    ca = _own_certificate(tmp_path, KEYS[kind]())
    marker = b"BEGIN RSA PRIVATE KEY" if kind == "rsa-pkcs1" else b"BEGIN EC PRIVATE KEY"
    assert marker in (tmp_path / "key.pem").read_bytes()
    args = ["--cert", str(tmp_path / "cert.pem"), "--key", str(tmp_path / "key.pem")]
    with ServeProcess(
        tmp_path / "serve.log", *args, *(["--dev"] if server == "dev" else [])
    ) as served:
        assert "SSL_CERT_FILE" not in served.output()  # not mockgraph's CA to trust
        _check_https(served, ca, server)
