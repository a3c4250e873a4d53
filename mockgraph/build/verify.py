"""Checking example files against the contracts, and replaying them against a fresh mock:
``mockgraph contracts verify [PATH...] [--replay]`` (issue 4, part 6).

Every example file, documented (``fixtures/examples/``, shipped as ``mockgraph.examples``, the
default) or recorded (:mod:`mockgraph.recording`), is checked with
:func:`mockgraph.features.recording.check_exchange`: a success against its contract (request body,
status, response body), an error for Graph's error body. With ``replay``, each request is sent
to a fresh mock (in-process, no socket: one app with the default Config, its state reset as
``POST /_mockgraph/reset`` does before each session) and its answer compared with the recorded
one: status, ``Location``, and the body member by member, after both bodies went through the
same redaction and normalisation as recordings (so ``<kid>``, ``<date>``, ``<origin>``...
compare equal). A member that is ``null`` on one side and absent on the other is the same.

Recorded files of one folder replay as ONE session, in the order of their numbers; each
documented example replays alone, as a session of its own, prepared so that it can succeed
(decisions the doc pages leave open, each listed in the README):

- a path placeholder such as ``{id}`` becomes the key set :data:`EXAMPLE_ID`, seeded into the
  store first (empty, or, for reads, holding the keys the documented answer shows; for
  getActiveKey the mock's clock is frozen inside that key's validity window);
- placeholder values (``"use-value"``, ``"kty-value"``, ``"Base64-encoded-pfx-content"``: any
  ``...-value`` or ``...-content`` string) are sent as ``sig`` for ``use``, ``RSA`` for
  ``kty``, a certificate or PFX generated with ``cryptography`` for ``key`` (valid over the
  documented answer's ``nbf``..``exp``, the PFX sealed with the documented password); in
  answers, a placeholder stands for any value;
- documented answers are marked truncated: members and list items the mock adds are not
  differences;
- a write-only member (``k``, ``d``, ``p``...) in a documented answer, and a contract
  violation at a placeholder, are notes (doc defects), not failures; so are the differences
  listed in :data:`KNOWN_DOC_DEFECTS`.

In recorded files, a redacted PFX (``"key": "<redacted>"``) is replaced the same way; a
recorded fault (``"fault"`` with a status) is not replayed. The report never shows a secret:
values are redacted before they are compared or printed.
"""

from __future__ import annotations

import base64
import datetime
import functools
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

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
from mockgraph.http.contracts import Contracts, packaged
from mockgraph.resources.keysets.models import KEY_FIELDS, SECRET_FIELDS, Key, KeySet
from mockgraph.features.recording import (
    DROPPED_HEADERS,
    VOLATILE_HEADERS,
    check_exchange,
    normalise_body,
    without_origin,
)
from mockgraph.features.redact import REDACTED, redact_body
from mockgraph.http.codec import MAX_DEPTH, JsonProblem, decode, depth
from mockgraph.state import mockgraph

#: The key set that stands for a path placeholder (``{id}``) of a documented example.
EXAMPLE_ID = "B2C_1A_example"
#: The bearer token replays send (documented requests leave the header out; recorded ones
#: have it redacted).
REPLAY_TOKEN = "mockgraph-verify"
#: Where the shipped documented examples are shown in reports.
PACKAGE_EXAMPLES = "mockgraph.examples"

_PLACEHOLDER = re.compile(r"^[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*-(?:value|content)$")
_PATH_PLACEHOLDER = re.compile(r"\{[^}/]+\}")
_NUMBERED = re.compile(r"^(\d+)-")
_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_MISSING: Any = object()

#: Differences between a documented answer and the mock that are defects of the doc page:
#: (example name, property path) -> why. Reported as notes, never as failures.
KNOWN_DOC_DEFECTS: dict[tuple[str, str], str] = {
    ("trustframeworkkeyset_generatekey", "nbf"): (
        "the page answers another nbf than its request sends"
    ),
    ("trustframeworkkeyset_generatekey", "exp"): (
        "the page answers another exp than its request sends"
    ),
    ("trustframeworkkeyset_generatekey", "x5c"): (
        "the page shows an empty x5c; a generated key has no certificate chain, the mock "
        "leaves the member out"
    ),
    ("trustframeworkkeyset_uploadsecret", "kty"): (
        'the page spells kty "OCT"; JWK kty values are case-sensitive and RFC 7518 registers "oct"'
    ),
    ("trustframeworkkeyset_uploadcertificate", "kty"): (
        "the page answers kty oct for a certificate; its key is RSA (or EC)"
    ),
    ("trustframeworkkeyset_uploadpkcs12", "kty"): (
        "the page answers kty OCT for a PFX; its key is RSA (or EC)"
    ),
}
WRITE_ONLY_NOTE = "doc defect: the page shows a write-only member the service never returns"
PLACEHOLDER_NOTE = "doc placeholder, not a real value"


# --------------------------------------------------------------------------------------------
# Findings and the report


@dataclass(frozen=True)
class Finding:
    """One thing verify found in one file. ``known`` holds why it is only a note."""

    file: str
    where: str  #: ``file``, ``contract``, ``status``, ``header`` or ``body``
    path: str  #: a property path (``keys[0].kid``), a header name, or empty
    message: str
    known: str | None = None

    @property
    def failure(self) -> bool:
        return self.known is None

    def line(self) -> str:
        label = "FAIL" if self.failure else "note"
        # Contract messages already quote the property path.
        shown = self.path and f"'{self.path}'" not in self.message
        place = f"{self.where} {self.path}" if shown else self.where
        suffix = f" [{self.known}]" if self.known else ""
        return f"  {label} {place}: {self.message}{suffix}"


@dataclass
class Report:
    """What :func:`verify` found: every file looked at, and the findings."""

    files: list[str]
    findings: list[Finding] = field(default_factory=list)
    replayed: bool = False

    @property
    def failures(self) -> list[Finding]:
        return [f for f in self.findings if f.failure]

    @property
    def notes(self) -> list[Finding]:
        return [f for f in self.findings if not f.failure]

    @property
    def ok(self) -> bool:
        return not self.failures

    def format(self, *, notes: bool = True) -> str:
        """The readable report: the findings (``notes``: with the notes) file by file, then a
        summary line."""
        lines: list[str] = []
        for file in self.files:
            found = [f for f in self.findings if f.file == file and (notes or f.failure)]
            if found:
                lines.append(file)
                lines.extend(f.line() for f in found)
        failed = len({f.file for f in self.failures})
        what = "checked and replayed" if self.replayed else "checked"
        summary = f"{len(self.files)} example file(s) {what}: "
        if failed:
            summary += f"{len(self.failures)} difference(s) in {failed} file(s)"
        else:
            summary += "no differences"
        lines.append(summary + f", {len(self.notes)} note(s)")
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Example files


@dataclass(frozen=True)
class Example:
    """One example file: ``file`` as reports show it, ``session`` the folder it replays with."""

    file: str
    session: str
    data: Mapping[str, Any]

    @property
    def documented(self) -> bool:
        return self.data.get("documented") is True

    @property
    def name(self) -> str:
        name = self.data.get("name")
        return name if isinstance(name, str) else Path(self.file).stem

    @property
    def operation(self) -> str | None:
        operation = self.data.get("operation")
        return operation if isinstance(operation, str) else None

    @property
    def request(self) -> Mapping[str, Any]:
        request: Mapping[str, Any] = self.data["request"]
        return request

    @property
    def response(self) -> Mapping[str, Any]:
        response: Mapping[str, Any] = self.data["response"]
        return response

    @property
    def truncated(self) -> bool:
        return self.data.get("truncated") is True


def _order(name: str) -> tuple[int, str]:
    """Numbered (recorded) files first, in number order; then the others by name."""
    match = _NUMBERED.match(name)
    return (int(match.group(1)) if match else 1 << 62, name)


def _sources(paths: Sequence[Path]) -> list[tuple[str, str, Traversable]]:
    """(shown name, session, file) of every ``*.json`` in ``paths``; the shipped documented
    examples when ``paths`` is empty. A folder without any is shown with no file."""
    if not paths:
        root = packaged("examples", "fixtures/examples")
        entries = sorted(
            (e for e in root.iterdir() if e.name.endswith(".json")), key=lambda e: _order(e.name)
        )
        return [(f"{PACKAGE_EXAMPLES}/{e.name}", PACKAGE_EXAMPLES, e) for e in entries]
    found: list[tuple[str, str, Traversable]] = []
    for path in paths:
        if path.is_dir():
            files = sorted(path.glob("*.json"), key=lambda p: _order(p.name))
            found += [(str(f), str(path), f) for f in files] or [(str(path), str(path), path)]
        else:
            found.append((str(path), str(path.parent), path))
    return found


def load_examples(paths: Sequence[Path] = ()) -> tuple[list[Example], list[Finding]]:
    """The example files of ``paths`` (folders or files; default: the shipped documented
    examples), and a failure for each file that is not one and each folder without any."""
    examples: list[Example] = []
    problems: list[Finding] = []
    for shown, session, entry in _sources(paths):
        if entry.is_dir():
            problems.append(Finding(shown, "file", "", "holds no example files (*.json)"))
            continue
        try:
            data = json.loads(entry.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(Finding(shown, "file", "", f"cannot be read: {exc}"))
            continue
        except json.JSONDecodeError as exc:
            problems.append(Finding(shown, "file", "", f"is not JSON (line {exc.lineno})"))
            continue
        except RecursionError:
            problems.append(Finding(shown, "file", "", "is not an example file: nested too deeply"))
            continue
        problem = _shape_problem(data)
        if problem:
            problems.append(Finding(shown, "file", "", f"is not an example file: {problem}"))
            continue
        examples.append(Example(shown, session, data))
    return examples, problems


def _shape_problem(data: Any) -> str | None:
    if depth(data) > MAX_DEPTH + 4:
        return "nested too deeply"
    if not isinstance(data, dict):
        return "not a JSON object"
    request, response = data.get("request"), data.get("response")
    if not isinstance(request, dict):
        return "no 'request' object"
    if not isinstance(request.get("method"), str) or not isinstance(request.get("path"), str):
        return "the request has no 'method' and 'path'"
    if not isinstance(response, dict):
        return "no 'response' object"
    for part, member in ((request, "query"), (request, "headers"), (response, "headers")):
        if part.get(member) is not None and not isinstance(part.get(member), dict):
            return f"'{member}' is not an object"
    status = response.get("status")
    if not isinstance(status, int) or isinstance(status, bool):
        return "the response has no integer 'status'"
    return None


# --------------------------------------------------------------------------------------------
# Contract checks


def check_example(example: Example, contracts: Contracts) -> list[Finding]:
    """The contract findings of one example (see the module docstring)."""
    operation = example.operation
    contract = contracts.get(operation) if operation else None
    findings: list[Finding] = []
    if operation and contract is None:
        message = f"there is no contract for the operation {operation!r}"
        known = None if example.documented else "checked as an exchange only"
        findings.append(Finding(example.file, "contract", "", message, known))
    request_body = example.request.get("body")
    response_body = example.response.get("body")
    for violation in check_exchange(
        contract, example.response["status"], request_body, response_body
    ):
        known = None
        if example.documented:
            body = request_body if violation.side == "request" else response_body
            if violation.write_only:
                known = WRITE_ONLY_NOTE
            elif _is_placeholder(_at(body, violation.path)):
                known = PLACEHOLDER_NOTE
        where = f"{violation.side} contract"
        findings.append(Finding(example.file, where, violation.path, violation.message, known))
    return findings


def _is_placeholder(value: Any) -> bool:
    return isinstance(value, str) and bool(_PLACEHOLDER.match(value))


def _at(body: Any, path: str) -> Any:
    """The value at a property path (``keys[0].kty``), or ``_MISSING``."""
    value = body
    for name, index in _PATH_PART.findall(path):
        if index:
            if not isinstance(value, list) or int(index) >= len(value):
                return _MISSING
            value = value[int(index)]
        else:
            if not isinstance(value, Mapping) or name not in value:
                return _MISSING
            value = value[name]
    return value


# --------------------------------------------------------------------------------------------
# Replay


class _Mock:
    """A mock app (default Config, no environment) and its test client, made once per run and
    brought back to a fresh state before each session, as ``POST /_mockgraph/reset`` does."""

    def __init__(self, contracts: Contracts) -> None:
        self.app = create_app(Config(), contracts=contracts)
        self.client = self.app.test_client()

    def fresh(self, seed: Sequence[KeySet] = (), clock: float | None = None) -> None:
        """Everything reset, then ``seed`` stored and the clock frozen at ``clock``."""
        state = mockgraph(self.app)
        state.reset()
        state.load({"keySets": list(seed)})
        state.clock.set(clock)

    def send(
        self,
        method: str,
        path: str,
        query: Mapping[str, Any],
        headers: list[tuple[str, str]],
        body: Any,
    ) -> tuple[int, dict[str, str], Any]:
        data: bytes | None = None
        if isinstance(body, str):
            data = body.encode("utf-8")
        elif body is not None:
            data = json.dumps(body).encode("utf-8")
        pairs = [
            (name, item)
            for name, value in query.items()
            for item in (value if isinstance(value, list) else [value])
        ]
        response = self.client.open(
            path, method=method, query_string=urlencode(pairs), headers=headers, data=data
        )
        try:
            answer = decode(response.get_data()) if response.get_data() else None
        except JsonProblem:
            answer = response.get_data(as_text=True)
        return response.status_code, dict(response.headers.items()), answer


@dataclass(frozen=True)
class _Prepared:
    """A request made ready to replay, and the state the mock needs first."""

    path: str
    body: Any
    seed: tuple[KeySet, ...] = ()
    clock: float | None = None


def replay_examples(examples: Sequence[Example], contracts: Contracts) -> list[Finding]:
    """Replay every example and report where the mock's answer differs (module docstring)."""
    findings: list[Finding] = []
    mock = _Mock(contracts)
    session: str | None = None
    for example in examples:
        fault = example.data.get("fault")
        if isinstance(fault, Mapping) and fault.get("status"):
            findings.append(
                Finding(example.file, "replay", "", "not replayed", "an injected fault answered it")
            )
            continue
        prepared = _prepare(example)
        if example.documented:
            mock.fresh(prepared.seed, prepared.clock)
            session = None
        elif example.session != session:
            mock.fresh()
            session = example.session
        status, headers, body = mock.send(
            str(example.request["method"]).upper(),
            prepared.path,
            example.request.get("query") or {},
            _replay_headers(example),
            prepared.body,
        )
        findings += _compare(example, status, headers, body)
    return findings


def _replay_headers(example: Example) -> list[tuple[str, str]]:
    """The recorded request headers, less the transport and volatile ones, with a usable
    token in place of the redacted one (documented requests always get one)."""
    recorded: Mapping[str, str] = example.request.get("headers") or {}
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
    answer = example.response.get("body")
    operation = example.operation
    documented = example.documented
    body = _fill(example.request.get("body"), documented)
    body = _key_material(operation, body, answer, documented)
    if not documented:
        return _Prepared(path, body)
    has_placeholder = bool(_PATH_PLACEHOLDER.search(path))
    path = _PATH_PLACEHOLDER.sub(EXAMPLE_ID, path)
    seed: list[KeySet] = []
    clock: float | None = None
    if operation == "listKeySets" and isinstance(answer, Mapping):
        items = [i for i in answer.get("value") or [] if isinstance(i, Mapping)]
        for index, item in enumerate(items):
            default = EXAMPLE_ID if len(items) == 1 else f"{EXAMPLE_ID}{index + 1}"
            seed.append(_keyset(item, default))
    elif operation == "getKeySet" and isinstance(answer, Mapping):
        seed.append(_keyset(answer, EXAMPLE_ID, force_id=True))
    elif operation == "getActiveKey" and isinstance(answer, Mapping):
        key = _key(answer)
        seed.append(KeySet(EXAMPLE_ID, (key,)))
        clock = _inside(key)
    elif has_placeholder:
        segments = path.split("/")
        keys: tuple[Key, ...] = ()
        if "keys_v2" in segments and segments.index("keys_v2") + 1 < len(segments):
            kid = segments[segments.index("keys_v2") + 1]
            keys = (Key(kid=kid, kty="oct", use="sig", k=base64.b64encode(kid.encode()).decode()),)
        seed.append(KeySet(EXAMPLE_ID, keys))
    return _Prepared(path, body, tuple(seed), clock)


def _fill(value: Any, documented: bool) -> Any:
    """Documented placeholders of ``use`` and ``kty`` (any depth) replaced by valid values."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for name, member in value.items():
            if documented and _is_placeholder(member) and name in {"use", "kty"}:
                member = "sig" if name == "use" else "RSA"
            out[name] = _fill(member, documented)
        return out
    if isinstance(value, list):
        return [_fill(item, documented) for item in value]
    return value


def _key_material(operation: str | None, body: Any, answer: Any, documented: bool) -> Any:
    """A placeholder or redacted ``key`` of uploadCertificate/uploadPkcs12 replaced by one
    generated here, valid over the recorded answer's ``nbf``..``exp``."""
    if operation not in {"uploadCertificate", "uploadPkcs12"} or not isinstance(body, Mapping):
        return body
    key = body.get("key")
    if not (key == REDACTED or documented and _is_placeholder(key)):
        return body
    window = answer if isinstance(answer, Mapping) else {}
    nbf, exp = _int_or_none(window.get("nbf")), _int_or_none(window.get("exp"))
    password = body.get("password")
    if operation == "uploadCertificate":
        material = _certificate_der(nbf, exp)
    else:
        material = _pfx(nbf, exp, password if isinstance(password, str) else None)
    return {**body, "key": base64.b64encode(material).decode("ascii")}


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@functools.cache
def _private_key() -> rsa.RSAPrivateKey:
    """One RSA key per process for every generated certificate: generating is slow."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@functools.cache
def _certificate(nbf: int | None, exp: int | None) -> x509.Certificate:
    now = int(datetime.datetime.now(datetime.UTC).timestamp())
    if nbf is None or exp is None or exp <= nbf:
        nbf, exp = now - 86400, now + 365 * 86400
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mockgraph verify")])
    key = _private_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime.datetime.fromtimestamp(nbf, datetime.UTC))
        .not_valid_after(datetime.datetime.fromtimestamp(exp, datetime.UTC))
        .sign(key, hashes.SHA256())
    )


def _certificate_der(nbf: int | None, exp: int | None) -> bytes:
    return _certificate(nbf, exp).public_bytes(Encoding.DER)


def _pfx(nbf: int | None, exp: int | None, password: str | None) -> bytes:
    sealing = BestAvailableEncryption(password.encode("utf-8")) if password else NoEncryption()
    return pkcs12.serialize_key_and_certificates(
        b"mockgraph verify", _private_key(), _certificate(nbf, exp), None, sealing
    )


def _key(data: Mapping[str, Any]) -> Key:
    """A key to seed, from a documented answer's members (unknown ones left out)."""
    values = {k: v for k, v in data.items() if k in KEY_FIELDS}
    if isinstance(values.get("x5c"), list):
        values["x5c"] = tuple(values["x5c"])
    return Key(**values)


def _keyset(data: Mapping[str, Any], default_id: str, *, force_id: bool = False) -> KeySet:
    given = data.get("id")
    concrete = isinstance(given, str) and not _is_placeholder(given) and not force_id
    keys = tuple(_key(k) for k in data.get("keys") or [] if isinstance(k, Mapping))
    return KeySet(str(given) if concrete else default_id, keys)


def _inside(key: Key) -> float | None:
    """A moment inside the key's validity window, when it has one."""
    nbf, exp = _int_or_none(key.nbf), _int_or_none(key.exp)
    if exp is not None:
        return float(exp - 1 if nbf is None or nbf < exp else nbf)
    return float(nbf) if nbf is not None else None


# --------------------------------------------------------------------------------------------
# Comparing answers


def _compare(example: Example, status: int, headers: Mapping[str, str], body: Any) -> list[Finding]:
    expected = example.response
    file = example.file
    if status != expected["status"]:
        detail = _error_detail(body)
        message = f"expected {expected['status']}, got {status}{detail}"
        return [Finding(file, "status", "", message)]
    findings: list[Finding] = []
    recorded_headers: Mapping[str, str] = expected.get("headers") or {}
    want_location = _header(recorded_headers, "location")
    if want_location is not None:
        got_location = _header(headers, "location")
        if got_location is None or without_origin(got_location) != without_origin(want_location):
            message = f"expected {_show(want_location)}, got {_show(got_location or _MISSING)}"
            findings.append(Finding(file, "header", "Location", message))
    differences: list[tuple[str, Any, Any]] = []
    _diff(
        _comparable(expected.get("body")),
        _comparable(body),
        "",
        documented=example.documented,
        truncated=example.truncated,
        out=differences,
    )
    for path, want, got in differences:
        known = KNOWN_DOC_DEFECTS.get((example.name, path)) if example.documented else None
        message = f"expected {_show(want)}, got {_show(got)}"
        findings.append(Finding(file, "body", path or "(whole body)", message, known))
    return findings


def _comparable(body: Any) -> Any:
    return normalise_body(redact_body(body))


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return str(value)
    return None


def _error_detail(body: Any) -> str:
    error = body.get("error") if isinstance(body, Mapping) else None
    if isinstance(error, Mapping) and isinstance(error.get("message"), str):
        return f" ({error.get('code')}: {error['message']})"
    return ""


def _join(path: str, name: str | int) -> str:
    if isinstance(name, int):
        return f"{path}[{name}]"
    return f"{path}.{name}" if path else name


def _diff(
    want: Any,
    got: Any,
    path: str,
    *,
    documented: bool,
    truncated: bool,
    out: list[tuple[str, Any, Any]],
) -> None:
    """Append (path, expected, got) for every difference between a recorded and a replayed
    body. Write-only members are left to the contract check."""
    if isinstance(want, Mapping) and isinstance(got, Mapping):
        for name, member in want.items():
            if name in SECRET_FIELDS:
                continue
            if name not in got:
                if member is not None:
                    out.append((_join(path, name), member, _MISSING))
                continue
            _diff(
                member,
                got[name],
                _join(path, name),
                documented=documented,
                truncated=truncated,
                out=out,
            )
        if not truncated:
            for name, member in got.items():
                if name not in want and member is not None:
                    out.append((_join(path, name), _MISSING, member))
        return
    if isinstance(want, list) and isinstance(got, list):
        if len(got) < len(want) or len(got) > len(want) and not truncated:
            out.append((path, f"{len(want)} item(s)", f"{len(got)} item(s)"))
        for index, (a, b) in enumerate(zip(want, got, strict=False)):
            _diff(a, b, _join(path, index), documented=documented, truncated=truncated, out=out)
        return
    if documented and _is_placeholder(want) and got is not None:
        return  # a doc placeholder stands for any value
    if want != got or isinstance(want, bool) != isinstance(got, bool):
        out.append((path, want, got))


def _show(value: Any, limit: int = 80) -> str:
    if value is _MISSING:
        return "(absent)"
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------------------------
# The whole run


def verify(
    paths: Iterable[str | os.PathLike[str]] = (),
    *,
    replay: bool = False,
    contracts: Contracts | None = None,
) -> Report:
    """Check every example file of ``paths`` (default: the shipped documented examples)
    against ``contracts`` (default: the shipped ones), and with ``replay`` replay them.
    Never raises for a bad file: it becomes a failure in the report."""
    compiled = contracts if contracts is not None else Contracts.load()
    examples, findings = load_examples([Path(p) for p in paths])
    for example in examples:
        findings += check_example(example, compiled)
    if replay:
        findings += replay_examples(examples, compiled)
    files = list(
        dict.fromkeys([f.file for f in findings if f.where == "file"] + [e.file for e in examples])
    )
    order = {file: index for index, file in enumerate(e.file for e in examples)}
    files.sort(key=lambda f: order.get(f, -1))
    return Report(files=files, findings=findings, replayed=replay)
