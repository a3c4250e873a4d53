"""Replaying example files against a fresh in-process mock and comparing its answers with the
recorded ones: what ``mockgraph contracts verify --replay`` adds to the contract checks.

The mock is one app with the default Config, driven through its test client (no socket), its
state reset as ``POST /_mockgraph/reset`` does before each session. An answer is compared with
the recorded one on its status, its ``Location`` and its body member by member, after both
bodies went through the redaction and normalisation of recordings
(:mod:`mockgraph.features.recording`), so ``<kid>``, ``<date>``, ``<origin>``... compare equal.
A member that is ``null`` on one side and absent on the other is the same.

Recorded files of one folder replay as ONE session, in the order of their numbers; each
documented example replays alone, as a session of its own, prepared so that it can succeed
(decisions the doc pages leave open):

- a path placeholder such as ``{id}`` becomes the key set :data:`EXAMPLE_ID`, stored first
  (empty, or, for reads, holding the keys the documented answer shows; for getActiveKey the
  mock's clock is frozen inside that key's validity window);
- placeholder values (``"use-value"``, ``"kty-value"``, ``"Base64-encoded-pfx-content"``: any
  ``...-value`` or ``...-content`` string) are sent as ``sig`` for ``use``, ``RSA`` for
  ``kty``, an RSA certificate or PFX generated with ``cryptography`` for ``key`` (valid over
  the documented answer's ``nbf``..``exp``, the PFX sealed with the documented password); in
  answers, a placeholder stands for any value;
- documented answers are truncated: members and list items the mock adds are not differences.

In recorded files, a redacted ``key`` of an upload is replaced the same way. Not replayed, with
a note: an exchange a recorded fault answered, and a request whose body was not recorded (it was
not JSON). Bodies are redacted before they are compared, so a difference never shows a secret.
"""

from __future__ import annotations

import base64
import datetime
import functools
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
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
#: The bearer token replays send (documented requests leave the header out; recorded ones
#: have it redacted).
REPLAY_TOKEN = "mockgraph-verify"
_PLACEHOLDER = re.compile(r"^[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*-(?:value|content)$")
_PATH_PLACEHOLDER = re.compile(r"\{[^}/]+\}")
#: How :func:`mockgraph.features.redact.not_kept` writes a body that was not recorded.
_NOT_KEPT = re.compile(r"^<not recorded: \d+ bytes, [^>]*>$")
_UPLOADS = frozenset({"uploadCertificate", "uploadPkcs12"})
_MISSING: Any = object()


def is_placeholder(value: Any) -> bool:
    """Whether ``value`` is a doc page's placeholder (``"use-value"``, ``"...-content"``)."""
    return isinstance(value, str) and bool(_PLACEHOLDER.match(value))


@dataclass(frozen=True)
class Difference:
    """Where a replayed answer differs from the recorded one. ``where`` is ``status``,
    ``header``, ``body`` or ``replay`` (not replayed, ``known`` says why)."""

    where: str
    path: str
    message: str
    known: str | None = None


class Replayer:
    """One mock app and its test client, made once and brought back to a fresh state before
    each session (see the module docstring)."""

    def __init__(self, contracts: Contracts) -> None:
        self.app = create_app(Config(), contracts=contracts)
        self.client = self.app.test_client()
        self.session: str | None = None

    def replay(self, example: Example) -> list[Difference]:
        """Send ``example``'s request and compare the answer with the recorded one."""
        why = _not_replayed(example)
        if why:
            return [Difference("replay", "", "not replayed", why)]
        prepared = _prepare(example)
        if example.documented:
            self._fresh(prepared.seed, prepared.clock)
            self.session = None
        elif example.session != self.session:
            self._fresh()
            self.session = example.session
        response = self.client.open(
            prepared.path,
            method=str(example.request["method"]).upper(),
            query_string=dict(example.request.get("query") or {}),  # a list value: repeated
            headers=_headers(example),
            data=prepared.data,
        )
        location = response.headers.get("Location")
        return _compare(example, response.status_code, location, response.get_data())

    def _fresh(self, seed: tuple[KeySet, ...] = (), clock: float | None = None) -> None:
        """Everything reset, then ``seed`` stored and the clock frozen at ``clock``."""
        state = mockgraph(self.app)
        state.reset()
        state.load({"keySets": list(seed)})
        state.clock.set(clock)


# --------------------------------------------------------------------------------------------
# The request


@dataclass(frozen=True)
class _Prepared:
    """A request made ready to replay, and the state the mock needs first."""

    path: str
    data: bytes | None
    seed: tuple[KeySet, ...] = ()
    clock: float | None = None


def _not_replayed(example: Example) -> str | None:
    """Why ``example`` cannot be replayed, if it cannot."""
    fault = example.data.get("fault")
    if isinstance(fault, Mapping) and fault.get("status"):
        return "an injected fault answered it"
    body = example.request.get("body")
    if not example.documented and isinstance(body, str) and _NOT_KEPT.match(body):
        return "its request body was not recorded"
    return None


def _headers(example: Example) -> list[tuple[str, str]]:
    """The recorded request headers, less the transport and volatile ones, with a usable
    token in place of the redacted one (documented requests always get one)."""
    recorded: Mapping[str, Any] = example.request.get("headers") or {}
    out: list[tuple[str, str]] = []
    for name, value in recorded.items():
        lowered = name.lower()
        if lowered in DROPPED_HEADERS or lowered in VOLATILE_HEADERS:
            continue
        if lowered == "authorization":
            scheme = str(value).split(" ", 1)[0] if " " in str(value) else "Bearer"
            value = f"{scheme} {REPLAY_TOKEN}"
        out.append((name, str(value)))
    if example.documented and not any(n.lower() == "authorization" for n, _ in out):
        out.append(("Authorization", f"Bearer {REPLAY_TOKEN}"))
    return out


def _prepare(example: Example) -> _Prepared:
    path = str(example.request["path"])
    body = example.request.get("body")
    if not example.documented:
        return _Prepared(path, _data(example, _key_material(example, body)))
    data = _data(example, _key_material(example, _fill(body)))
    placeholder = bool(_PATH_PLACEHOLDER.search(path))
    path = _PATH_PLACEHOLDER.sub(EXAMPLE_ID, path)
    answer = example.response.get("body")
    answered = answer if isinstance(answer, Mapping) else {}
    if example.operation == "listKeySets":
        items = [i for i in answered.get("value") or [] if isinstance(i, Mapping)]
        numbered = len(items) > 1
        seed = tuple(
            _keyset(item, f"{EXAMPLE_ID}{n}" if numbered else EXAMPLE_ID)
            for n, item in enumerate(items, start=1)
        )
        return _Prepared(path, data, seed)
    if example.operation == "getKeySet":
        return _Prepared(path, data, (KeySet(EXAMPLE_ID, _keys(answered.get("keys"))),))
    if example.operation == "getActiveKey":
        key = _key(answered)
        return _Prepared(path, data, (KeySet(EXAMPLE_ID, (key,)),), _inside(key))
    if not placeholder:
        return _Prepared(path, data)
    segments = path.split("/")
    keys: tuple[Key, ...] = ()
    if "keys_v2" in segments[:-1]:
        kid = segments[segments.index("keys_v2") + 1]
        keys = (Key(kid=kid, kty="oct", use="sig", k=base64.b64encode(kid.encode()).decode()),)
    return _Prepared(path, data, (KeySet(EXAMPLE_ID, keys),))


def _data(example: Example, body: Any) -> bytes | None:
    """The request bytes: the body as JSON, but a documented body of another content type
    (kept as its text by the build) as it is."""
    if body is None:
        return None
    headers: Mapping[str, Any] = example.request.get("headers") or {}
    kind = next((str(v) for n, v in headers.items() if n.lower() == "content-type"), "json")
    if example.documented and isinstance(body, str) and "json" not in kind.lower():
        return body.encode("utf-8")
    return json.dumps(body).encode("utf-8")


def _fill(value: Any) -> Any:
    """Documented placeholders of ``use`` and ``kty`` (any depth) replaced by valid values."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for name, member in value.items():
            if name in {"use", "kty"} and is_placeholder(member):
                member = "sig" if name == "use" else "RSA"
            out[name] = _fill(member)
        return out
    if isinstance(value, list):
        return [_fill(item) for item in value]
    return value


def _key_material(example: Example, body: Any) -> Any:
    """A placeholder or redacted ``key`` of uploadCertificate/uploadPkcs12 replaced by one
    generated here, valid over the recorded answer's ``nbf``..``exp``."""
    if example.operation not in _UPLOADS or not isinstance(body, Mapping):
        return body
    key = body.get("key")
    if not (key == REDACTED or example.documented and is_placeholder(key)):
        return body
    answer = example.response.get("body")
    window = answer if isinstance(answer, Mapping) else {}
    nbf, exp = _integer(window.get("nbf")), _integer(window.get("exp"))
    if example.operation == "uploadCertificate":
        material = _certificate(nbf, exp).public_bytes(Encoding.DER)
    else:
        password = body.get("password")
        material = _pfx(nbf, exp, password if isinstance(password, str) else None)
    return {**body, "key": base64.b64encode(material).decode("ascii")}


def _integer(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@functools.cache
def _private_key() -> rsa.RSAPrivateKey:
    """One RSA key per process for every generated certificate: generating one is slow. RSA,
    as the mock refuses certificates of other keys (the key resource page: rsa or oct)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@functools.cache
def _certificate(nbf: int | None, exp: int | None) -> x509.Certificate:
    """A self-signed certificate valid over ``nbf``..``exp``; over a year from yesterday when
    the answer gives no window, or one the mock refuses (``nbf`` not before ``exp``)."""
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


def _pfx(nbf: int | None, exp: int | None, password: str | None) -> bytes:
    sealing = BestAvailableEncryption(password.encode("utf-8")) if password else NoEncryption()
    return pkcs12.serialize_key_and_certificates(
        b"mockgraph verify", _private_key(), _certificate(nbf, exp), None, sealing
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
    if isinstance(given, str) and not is_placeholder(given):
        return KeySet(given, _keys(item.get("keys")))
    return KeySet(default_id, _keys(item.get("keys")))


def _inside(key: Key) -> float | None:
    """A moment inside the key's validity window, when it has one."""
    nbf, exp = _integer(key.nbf), _integer(key.exp)
    if exp is not None:
        return float(exp - 1 if nbf is None or nbf < exp else nbf)
    return float(nbf) if nbf is not None else None


# --------------------------------------------------------------------------------------------
# The answer


def _compare(example: Example, status: int, location: str | None, data: bytes) -> list[Difference]:
    expected = example.response
    got = read_body(data)
    if status != expected["status"]:
        error = got.get("error") if isinstance(got, Mapping) else None
        detail = ""
        if isinstance(error, Mapping) and isinstance(error.get("message"), str):
            detail = f" ({error.get('code')}: {error['message']})"
        return [Difference("status", "", f"expected {expected['status']}, got {status}{detail}")]
    found: list[Difference] = []
    recorded: Mapping[str, Any] = expected.get("headers") or {}
    want = next((str(v) for n, v in recorded.items() if n.lower() == "location"), None)
    if want is not None:
        if location is None or without_origin(location) != without_origin(want):
            message = f"expected {_show(want)}, got {_show(location or _MISSING)}"
            found.append(Difference("header", "Location", message))
    for path, want_value, got_value in _diff(
        _comparable(expected.get("body")), _comparable(got), "", example
    ):
        message = f"expected {_show(want_value)}, got {_show(got_value)}"
        found.append(Difference("body", path or "(whole body)", message))
    return found


def _comparable(body: Any) -> Any:
    return normalise_body(redact_body(body))


def _join(path: str, name: str | int) -> str:
    if isinstance(name, int):
        return f"{path}[{name}]"
    return f"{path}.{name}" if path else name


def _diff(want: Any, got: Any, path: str, example: Example) -> Iterator[tuple[str, Any, Any]]:
    """(path, expected, got) of every difference between a recorded and a replayed body.
    Write-only members are left to the contract check."""
    if isinstance(want, Mapping) and isinstance(got, Mapping):
        for name, member in want.items():
            if name in SECRET_FIELDS:
                continue
            if name in got:
                yield from _diff(member, got[name], _join(path, name), example)
            elif member is not None:
                yield _join(path, name), member, _MISSING
        if not example.truncated:
            for name, member in got.items():
                if name not in want and member is not None:
                    yield _join(path, name), _MISSING, member
    elif isinstance(want, list) and isinstance(got, list):
        if len(got) < len(want) or len(got) > len(want) and not example.truncated:
            yield path, f"{len(want)} item(s)", f"{len(got)} item(s)"
        for index, (a, b) in enumerate(zip(want, got, strict=False)):
            yield from _diff(a, b, _join(path, index), example)
    elif example.documented and is_placeholder(want) and got is not None:
        return  # a doc placeholder stands for any value
    elif want != got or isinstance(want, bool) != isinstance(got, bool):
        yield path, want, got


def _show(value: Any, limit: int = 80) -> str:
    if value is _MISSING:
        return "(absent)"
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."
