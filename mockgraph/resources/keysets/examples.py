"""How the key sets' documented examples and recordings are replayed (``build/replay.py``):
the key sets an example's answer shows stored first, and upload bodies given key material
made here, valid over the answer's ``nbf``..``exp``."""

from __future__ import annotations

import base64
import datetime
import functools
from collections.abc import Mapping
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    KeySerializationEncryption,
    NoEncryption,
    pkcs12,
)
from cryptography.x509.oid import NameOID

from mockgraph.features.redact import REDACTED
from mockgraph.resources.examples import is_placeholder
from mockgraph.resources.keysets.models import KEY_FIELDS, Key, KeySet

#: What an example hook gives: the key sets to store, and a moment for the clock or ``None``.
State = tuple[tuple[KeySet, ...], float | None]


def listed(answer: Mapping[str, Any], example_id: str) -> State:
    """A list's example: the key sets it lists, a placeholder id replaced by ``example_id``
    (numbered after the first)."""
    items = [i for i in answer.get("value") or [] if isinstance(i, Mapping)]
    return tuple(_keyset(item, f"{example_id}{n or ''}") for n, item in enumerate(items)), None


def one(answer: Mapping[str, Any], example_id: str) -> State:
    """A read of one key set: ``example_id`` with the keys the answer shows."""
    return (KeySet(example_id, _keys(answer.get("keys"))),), None


def active_key(answer: Mapping[str, Any], example_id: str) -> State:
    """The active key's example: a key set holding that key, the clock inside its window."""
    key = _key(answer)
    return (KeySet(example_id, (key,)),), _inside(key)


def addressed(path: str, example_id: str) -> tuple[KeySet, ...]:
    """What an example addressing ``example_id`` needs: the key set, and the key its path names
    below ``keys_v2``."""
    segments = path.split("/")
    keys: tuple[Key, ...] = ()
    if "keys_v2" in segments[:-1]:
        kid = segments[segments.index("keys_v2") + 1]
        keys = (Key(kid=kid, kty="oct", use="sig", k=base64.b64encode(kid.encode()).decode()),)
    return (KeySet(example_id, keys),)


def certificate_body(
    body: Mapping[str, Any], answer: Mapping[str, Any], documented: bool
) -> Mapping[str, Any]:
    """A certificate upload's redacted (or documented placeholder) ``key``: a certificate."""
    if not _remade(body, documented):
        return body
    material = _certificate(answer).public_bytes(Encoding.DER)
    return {**body, "key": base64.b64encode(material).decode("ascii")}


def pkcs12_body(
    body: Mapping[str, Any], answer: Mapping[str, Any], documented: bool
) -> Mapping[str, Any]:
    """A PKCS#12 upload's redacted (or documented placeholder) ``key``: a PFX sealed with the
    body's password."""
    if not _remade(body, documented):
        return body
    password = body.get("password")
    sealing: KeySerializationEncryption = NoEncryption()
    if isinstance(password, str) and password:
        sealing = BestAvailableEncryption(password.encode("utf-8"))
    material = pkcs12.serialize_key_and_certificates(
        b"mockgraph verify", _private_key(), _certificate(answer), None, sealing
    )
    return {**body, "key": base64.b64encode(material).decode("ascii")}


def _remade(body: Mapping[str, Any], documented: bool) -> bool:
    key = body.get("key")
    return key == REDACTED or documented and is_placeholder(key)


def _key(members: Mapping[str, Any]) -> Key:
    """A key to store, from a documented answer's members (unknown ones left out)."""
    values = {name: value for name, value in members.items() if name in KEY_FIELDS}
    if isinstance(values.get("x5c"), list):
        values["x5c"] = tuple(values["x5c"])
    return Key(**values)


def _keys(items: Any) -> tuple[Key, ...]:
    return tuple(_key(item) for item in items or [] if isinstance(item, Mapping))


def _keyset(item: Mapping[str, Any], default_id: str) -> KeySet:
    """A listed key set to store: its own id, unless that is absent or a placeholder."""
    given = item.get("id")
    real = given if isinstance(given, str) and not is_placeholder(given) else None
    return KeySet(real or default_id, _keys(item.get("keys")))


def _integer(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _inside(key: Key) -> float | None:
    """A moment inside the key's validity window, when it has one."""
    nbf, exp = _integer(key.nbf), _integer(key.exp)
    if exp is not None:
        return float(exp - 1 if nbf is None or nbf < exp else nbf)
    return float(nbf) if nbf is not None else None


@functools.cache
def _private_key() -> rsa.RSAPrivateKey:
    """One RSA key (slow to make) for every certificate; RSA, as the key page allows rsa or oct."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _certificate(answer: Mapping[str, Any]) -> x509.Certificate:
    """A self-signed certificate valid over the answer's ``nbf``..``exp``, or from yesterday
    for a year when there is no such window."""
    nbf, exp = _integer(answer.get("nbf")), _integer(answer.get("exp"))
    if nbf is None or exp is None or exp <= nbf:
        now = int(datetime.datetime.now(datetime.UTC).timestamp())
        nbf, exp = now - 86400, now + 365 * 86400
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mockgraph verify")])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(_private_key().public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime.datetime.fromtimestamp(nbf, datetime.UTC))
        .not_valid_after(datetime.datetime.fromtimestamp(exp, datetime.UTC))
        .sign(_private_key(), hashes.SHA256())
    )
