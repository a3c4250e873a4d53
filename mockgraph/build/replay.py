"""Replaying example files against a fresh in-process mock and comparing status, ``Location``
and body with the recorded ones (both redacted and normalised as recordings are; ``null``
equals absent). A folder's files replay as one session, in number order; a documented example
replays alone, prepared to succeed: a path placeholder is :data:`EXAMPLE_ID`, stored with the
keys its answer shows, and placeholder values are made valid. A documented answer is truncated:
what the mock adds to it is no difference, and its placeholders stand for any value."""

from __future__ import annotations

import base64
import datetime
import functools
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

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

from mockgraph.app import create_app
from mockgraph.config import Config
from mockgraph.features.recording import (
    DROPPED_HEADERS,
    VOLATILE_HEADERS,
    normalise_body,
    without_origin,
)
from mockgraph.features.redact import REDACTED, read_body, redact_body
from mockgraph.http.contracts import Contracts
from mockgraph.resources.keysets.models import KEY_FIELDS, SECRET_FIELDS, Key, KeySet
from mockgraph.state import mockgraph

if TYPE_CHECKING:
    from mockgraph.build.verify import Example

#: The key set that stands for a path placeholder (``{id}``) of a documented example.
EXAMPLE_ID = "B2C_1A_example"
#: The bearer token replays send in place of a redacted or missing one.
REPLAY_TOKEN = "mockgraph-verify"
_PLACEHOLDER = re.compile(r"^[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*-(?:value|content)$")
_PATH_PLACEHOLDER = re.compile(r"\{[^}/]+\}")
_NOT_KEPT = re.compile(r"^<not recorded: \d+ bytes, [^>]*>$")  # redact.not_kept's text
_MISSING: Any = object()

#: Where a replayed answer differs: (``status``, ``header``, ``body`` or ``replay``; the
#: property path or header name; expected vs got; why it is only a note, or ``None``).
Difference = tuple[str, str, str, str | None]


def is_placeholder(value: Any) -> bool:
    """Whether ``value`` is a doc page's placeholder (``"use-value"``, ``"...-content"``)."""
    return isinstance(value, str) and bool(_PLACEHOLDER.match(value))


def replay_examples(
    examples: Sequence[Example], contracts: Contracts
) -> Iterator[tuple[Example, Difference]]:
    """Send each example's request to one mock over ``contracts``, fresh before each session,
    and yield where its answer differs from the recorded one."""
    app = create_app(Config(), contracts=contracts)
    client = app.test_client()
    session: str | None = None
    for example in examples:
        fault = example.data.get("fault")
        body = example.request.get("body")
        if isinstance(fault, Mapping) and fault.get("status"):
            yield example, ("replay", "", "not replayed", "an injected fault answered it")
            continue
        if not example.documented and isinstance(body, str) and _NOT_KEPT.match(body):
            yield example, ("replay", "", "not replayed", "its request body was not recorded")
            continue
        path, data, seed, clock = _prepare(example)
        if example.documented or example.session != session:
            state = mockgraph(app)
            state.reset()
            state.load({"keySets": list(seed)})
            state.clock.set(clock)
        session = None if example.documented else example.session
        response = client.open(
            path,
            method=str(example.request["method"]).upper(),
            query_string=dict(example.request.get("query") or {}),  # a list value: repeated
            headers=_headers(example),
            data=data,
        )
        location = response.headers.get("Location")
        for difference in _compare(example, response.status_code, location, response.get_data()):
            yield example, difference


def _headers(example: Example) -> list[tuple[str, str]]:
    """The recorded request headers less the transport and volatile ones, with a usable token
    (documented requests always get one)."""
    out: list[tuple[str, str]] = []
    for name, value in (example.request.get("headers") or {}).items():
        if name.lower() == "authorization":
            scheme = str(value).split(" ", 1)[0] if " " in str(value) else "Bearer"
            value = f"{scheme} {REPLAY_TOKEN}"
        if name.lower() not in DROPPED_HEADERS | VOLATILE_HEADERS:
            out.append((name, str(value)))
    if example.documented and not any(n.lower() == "authorization" for n, _ in out):
        out.append(("Authorization", f"Bearer {REPLAY_TOKEN}"))
    return out


def _prepare(example: Example) -> tuple[str, bytes | None, tuple[KeySet, ...], float | None]:
    """The path and body to send, and the key sets and clock the mock needs first."""
    path = str(example.request["path"])
    body = example.request.get("body")
    body = _key_material(example, _fill(body) if example.documented else body)
    data = None if body is None else json.dumps(body).encode("utf-8")
    if not example.documented:
        return path, data, (), None
    answer = example.response.get("body")
    answered: Mapping[str, Any] = answer if isinstance(answer, Mapping) else {}
    seed: tuple[KeySet, ...] = ()
    clock = None
    if example.operation == "listKeySets":
        items = [i for i in answered.get("value") or [] if isinstance(i, Mapping)]
        seed = tuple(_keyset(item, f"{EXAMPLE_ID}{n or ''}") for n, item in enumerate(items))
    elif example.operation == "getKeySet":
        seed = (KeySet(EXAMPLE_ID, _keys(answered.get("keys"))),)
    elif example.operation == "getActiveKey":
        key = _key(answered)
        seed, clock = (KeySet(EXAMPLE_ID, (key,)),), _inside(key)
    elif _PATH_PLACEHOLDER.search(path):
        segments = _PATH_PLACEHOLDER.sub(EXAMPLE_ID, path).split("/")
        keys: tuple[Key, ...] = ()
        if "keys_v2" in segments[:-1]:
            kid = segments[segments.index("keys_v2") + 1]
            keys = (Key(kid=kid, kty="oct", use="sig", k=base64.b64encode(kid.encode()).decode()),)
        seed = (KeySet(EXAMPLE_ID, keys),)
    return _PATH_PLACEHOLDER.sub(EXAMPLE_ID, path), data, seed, clock


def _fill(value: Any) -> Any:
    """Documented placeholders of ``use`` and ``kty`` (any depth) replaced by valid values."""
    if isinstance(value, Mapping):
        valid = {"use": "sig", "kty": "RSA"}
        return {
            name: valid[name] if name in valid and is_placeholder(member) else _fill(member)
            for name, member in value.items()
        }
    if isinstance(value, list):
        return [_fill(item) for item in value]
    return value


def _key_material(example: Example, body: Any) -> Any:
    """A placeholder or redacted ``key`` of uploadCertificate/uploadPkcs12 replaced by one
    made here, valid over the recorded answer's ``nbf``..``exp``."""
    operation = example.operation
    if operation not in ("uploadCertificate", "uploadPkcs12") or not isinstance(body, Mapping):
        return body
    key = body.get("key")
    if not (key == REDACTED or example.documented and is_placeholder(key)):
        return body
    answer = example.response.get("body")
    window = answer if isinstance(answer, Mapping) else {}
    certificate = _certificate(_integer(window.get("nbf")), _integer(window.get("exp")))
    if operation == "uploadCertificate":
        material = certificate.public_bytes(Encoding.DER)
    else:
        password = body.get("password")
        sealing: KeySerializationEncryption = NoEncryption()
        if isinstance(password, str) and password:
            sealing = BestAvailableEncryption(password.encode("utf-8"))
        material = pkcs12.serialize_key_and_certificates(
            b"mockgraph verify", _private_key(), certificate, None, sealing
        )
    return {**body, "key": base64.b64encode(material).decode("ascii")}


def _integer(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@functools.cache
def _private_key() -> rsa.RSAPrivateKey:
    """One RSA key (slow to make) for every certificate; RSA, as the key page allows rsa or oct."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _certificate(nbf: int | None, exp: int | None) -> x509.Certificate:
    """A self-signed certificate valid over ``nbf``..``exp``, or from yesterday for a year when
    there is no such window."""
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


def _inside(key: Key) -> float | None:
    """A moment inside the key's validity window, when it has one."""
    nbf, exp = _integer(key.nbf), _integer(key.exp)
    if exp is not None:
        return float(exp - 1 if nbf is None or nbf < exp else nbf)
    return float(nbf) if nbf is not None else None


def _compare(example: Example, status: int, location: str | None, data: bytes) -> list[Difference]:
    expected = example.response
    got = read_body(data)
    if status != expected["status"]:
        error = got.get("error") if isinstance(got, Mapping) else None
        detail = ""
        if isinstance(error, Mapping) and isinstance(error.get("message"), str):
            detail = f" ({error.get('code')}: {error['message']})"
        return [("status", "", f"expected {expected['status']}, got {status}{detail}", None)]
    found: list[Difference] = []
    recorded: Mapping[str, Any] = expected.get("headers") or {}
    want = next((str(v) for n, v in recorded.items() if n.lower() == "location"), None)
    if want is not None and (location is None or without_origin(location) != without_origin(want)):
        message = f"expected {_show(want)}, got {_show(location or _MISSING)}"
        found.append(("header", "Location", message, None))
    want_body = normalise_body(redact_body(expected.get("body")))
    for path, want_value, got_value in _diff(
        want_body, normalise_body(redact_body(got)), "", example
    ):
        message = f"expected {_show(want_value)}, got {_show(got_value)}"
        found.append(("body", path or "(whole body)", message, None))
    return found


def _diff(want: Any, got: Any, path: str, example: Example) -> Iterator[tuple[str, Any, Any]]:
    """(path, expected, got) of every difference between a recorded and a replayed body.
    Write-only members are left to the contract check."""
    if isinstance(want, Mapping) and isinstance(got, Mapping):
        for name, member in want.items():
            if name in SECRET_FIELDS:
                continue
            if name in got:
                yield from _diff(member, got[name], f"{path}.{name}" if path else name, example)
            elif member is not None:
                yield f"{path}.{name}" if path else name, member, _MISSING
        if not example.truncated:
            for name, member in got.items():
                if name not in want and member is not None:
                    yield f"{path}.{name}" if path else name, _MISSING, member
    elif isinstance(want, list) and isinstance(got, list):
        if len(got) < len(want) or len(got) > len(want) and not example.truncated:
            yield path, f"{len(want)} item(s)", f"{len(got)} item(s)"
        for index, (a, b) in enumerate(zip(want, got, strict=False)):
            yield from _diff(a, b, f"{path}[{index}]", example)
    elif example.documented and is_placeholder(want) and got is not None:
        return  # a doc placeholder stands for any value
    elif want != got or isinstance(want, bool) != isinstance(got, bool):
        yield path, want, got


def _show(value: Any, limit: int = 80) -> str:
    if value is _MISSING:
        return "(absent)"
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."
