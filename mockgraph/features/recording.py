"""Exchanges written as example files: what ``mockgraph serve --record DIR`` and the recording
proxy (``features.proxy``) write.

Each exchange becomes ONE file, ``NNNN-<operation>-<status>.json``, in the shape of
``fixtures/examples/`` with ``"documented": false``, plus ``contract`` (the operation whose
contract the exchange was checked against, or null), ``violations`` (what broke that contract;
recorded, never blocking) and ``fault`` (an injected fault, or null). Numbers follow the order
in which the answers were made and start after the highest number already in the folder, so a
second run never overwrites a first. One recorder per folder at a time. Each file is on disk
before its answer leaves.

Before anything is written, secrets are redacted (``features.redact``) and the values that
change from run to run are normalised, so two recordings of the same session diff cleanly:
header names in lower case, transport headers left out, ``request-id``-like values and the
service-generated key members (``kid``, ``n``, ``x5t``, ``x5c``) become ``<name>``, an
error's ``innerError`` ids and date too, and the scheme and host of ``@odata.*`` links and
``Location`` become ``<origin>``.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import Response, request

from mockgraph.config import BASE_PATH
from mockgraph.features.atomic import write_atomically
from mockgraph.features.journal import request_data
from mockgraph.features.redact import read_body, redact_body, redact_headers, redact_query
from mockgraph.http.codec import JsonProblem, decode, encode
from mockgraph.http.contracts import Contract
from mockgraph.http.errors import StartupError
from mockgraph.http.facts import Facts
from mockgraph.resources.keysets.models import SECRET_FIELDS

if TYPE_CHECKING:
    from mockgraph.state import MockGraph

log = logging.getLogger("mockgraph")

#: Hop-by-hop headers (RFC 9110 section 7.6.1): never forwarded, returned or recorded.
HOP_BY_HOP: frozenset[str] = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection"}
    | {"te", "trailer", "transfer-encoding", "upgrade"}
)
#: Headers a recording leaves out: they describe the transport, not the exchange.
DROPPED_HEADERS = HOP_BY_HOP | {
    "accept-encoding",
    "content-length",
    "date",
    "host",
    "server",
    "user-agent",
}
#: Headers whose values change on every request; recorded as ``<name>``.
VOLATILE_HEADERS = frozenset({"request-id", "client-request-id", "x-ms-ags-diagnostic"})
#: Response-body members the service generates (or derives from fresh certificates).
VOLATILE_MEMBERS = frozenset({"kid", "n", "x5t", "x5c"})
#: Members of an error's ``innerError`` that change on every request.
VOLATILE_INNER_ERROR = frozenset({"date", "request-id", "client-request-id"})
#: Members and headers holding URLs whose scheme and host are replaced by :data:`ORIGIN`.
URL_MEMBERS = frozenset(
    {"@odata.context", "@odata.nextlink", "@odata.deltalink", "@odata.id", "location"}
)
ORIGIN = "<origin>"
_ABSOLUTE_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://[^/?#]*")
_NUMBERED = re.compile(r"^(\d+)-")


def token(name: str) -> str:
    """The stand-in written for a volatile value: ``<name>``."""
    return f"<{name.lower()}>"


def without_origin(url: str) -> str:
    """``https://graph.microsoft.com/beta/x`` -> ``<origin>/beta/x``; relative URLs unchanged."""
    return _ABSOLUTE_URL.sub(ORIGIN, url, count=1)


def normalise_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Headers as a recording keeps them (see the module docstring)."""
    kept: list[tuple[str, str]] = []
    for name, value in headers:
        lowered = name.lower()
        if lowered in DROPPED_HEADERS:
            continue
        if lowered in VOLATILE_HEADERS:
            value = token(lowered)
        elif lowered in URL_MEMBERS:
            value = without_origin(value)
        kept.append((lowered, value))
    return redact_headers(kept)


def normalise_body(value: Any, *, inner_error: bool = False) -> Any:
    """A copy of a response body with the volatile values replaced; JSON types are kept, so a
    normalised body still satisfies its contract."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for name, member in value.items():
            if inner_error and name in VOLATILE_INNER_ERROR or name in VOLATILE_MEMBERS:
                out[name] = _stand_in(name, member)
            elif name.lower() in URL_MEMBERS and isinstance(member, str):
                out[name] = without_origin(member)
            else:
                out[name] = normalise_body(member, inner_error=name == "innerError")
        return out
    if isinstance(value, list):
        return [normalise_body(item) for item in value]
    return value


def _stand_in(name: str, value: Any) -> Any:
    if isinstance(value, str):
        return token(name)
    return [_stand_in(name, item) for item in value] if isinstance(value, list) else value


@dataclass(frozen=True, order=True)
class Violation:
    """One way an exchange breaks its contract. ``path`` names the property (``keys[0].k``);
    it is empty for the status or a whole body."""

    side: str  #: ``request`` or ``response``
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.side}: {self.message}"

    @property
    def write_only(self) -> bool:
        """A response that shows a member which can never be read back (``k``, ``d``...)."""
        last = re.split(r"[.\[]", self.path)[-1] if self.path else ""
        return self.side == "response" and last in SECRET_FIELDS


def check_exchange(
    contract: Contract | None, status: int, request_body: Any, response_body: Any
) -> list[Violation]:
    """Every way an exchange breaks its contract, sorted. A success (2xx) is checked against
    the contract: the request body, the status and the response body. An error (4xx/5xx) must
    carry Graph's ``{"error": {"code", "message"}}`` body; its request is not checked, since a
    rejected request is expected to break the contract."""
    found: set[Violation] = set()
    if 200 <= status < 300 and contract is not None:
        if contract.request is not None:
            found |= {
                Violation("request", p, m) for p, m in contract.request.problems(request_body)
            }
        if status != contract.status:
            found.add(
                Violation(
                    "response", "", f"The status is {status}; the contract says {contract.status}."
                )
            )
        found |= {Violation("response", p, m) for p, m in contract.response_problems(response_body)}
    elif status >= 400 and not _is_graph_error(response_body):
        found.add(
            Violation(
                "response",
                "",
                'An error answer must have Graph\'s {"error": {"code", "message"}} body.',
            )
        )
    return sorted(found)


def _is_graph_error(body: Any) -> bool:
    error = body.get("error") if isinstance(body, Mapping) else None
    return (
        isinstance(error, Mapping)
        and isinstance(error.get("code"), str)
        and isinstance(error.get("message"), str)
    )


@dataclass(frozen=True)
class Exchange:
    """One request and its answer as captured: bodies as bytes, nothing redacted yet."""

    method: str
    path: str
    query: Sequence[tuple[str, str]]
    request_headers: Sequence[tuple[str, str]]
    request_data: bytes | None
    status: int
    response_headers: Sequence[tuple[str, str]]
    response_data: bytes | None
    operation: str | None
    contract: str | None
    secrets: frozenset[str] = frozenset()
    violations: Sequence[str] = ()
    fault: Mapping[str, Any] | None = None

    def example(self, name: str, source: str) -> dict[str, Any]:
        """The example document: fixture format, ``documented`` false, redacted, normalised."""
        query: dict[str, Any] = {}
        for key, value in redact_query(self.query):
            if key not in query:
                query[key] = value
            elif isinstance(query[key], list):
                query[key].append(value)
            else:
                query[key] = [query[key], value]
        return {
            "name": name,
            "operation": self.operation,
            "documented": False,
            "truncated": False,
            "source": source,
            "placeholders": [],
            "request": {
                "method": self.method,
                "path": self.path,
                "query": query,
                "headers": normalise_headers(self.request_headers),
                "body": read_body(self.request_data, secrets=self.secrets),
            },
            "response": {
                "status": self.status,
                "headers": normalise_headers(self.response_headers),
                "body": normalise_body(redact_body(read_body(self.response_data))),
            },
            "contract": self.contract,
            "violations": list(self.violations),
            "fault": dict(self.fault) if self.fault else None,
        }


def dumps_example(document: Mapping[str, Any]) -> str:
    """The text of an example file: as ``contracts build`` writes them (sorted, indented)."""
    return encode(document, indent=True, sort=True).decode() + "\n"


class Recorder:
    """Writes exchanges into one folder, one file each, numbered in the order they are
    recorded (thread-safe). Each file is written atomically in the request's own thread,
    before the answer leaves. Raises :class:`StartupError` when the folder cannot be made."""

    def __init__(self, directory: Path, *, source: str = "mockgraph serve --record") -> None:
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StartupError(f"cannot record into {directory}: {exc.strerror or exc}") from None
        self.directory = directory
        self.source = source
        self._lock = threading.Lock()
        numbers = [
            int(m.group(1)) for p in directory.glob("*.json") if (m := _NUMBERED.match(p.name))
        ]
        self._last = max(numbers, default=0)

    def record(self, exchange: Exchange) -> Path | None:
        """Write ``exchange``; the path written, or ``None`` when the write failed (logged,
        never raised: the exchange has happened)."""
        with self._lock:
            self._last += 1
            number = self._last
        name = f"{number:04d}-{exchange.operation or 'unmatched'}-{exchange.status}"
        path = self.directory / f"{name}.json"
        try:
            write_atomically(path, dumps_example(exchange.example(name, self.source)))
        except OSError as exc:
            log.error("could not write the recording %s: %s", path, exc.strerror or exc)
            return None
        return path


def record(mock: MockGraph, known: Facts, response: Response) -> None:
    """The after step of ``serve --record``: write each Graph exchange the app answers (not
    CORS preflights nor ``$batch`` envelopes: the requests of a batch are recorded each)."""
    recorder = mock.recorder
    if recorder is None or request.method == "OPTIONS" or request.endpoint == "batch":
        return
    if not request.path.startswith(BASE_PATH + "/"):
        return
    operation = known.operation
    contract = mock.contracts.get(operation.id) if operation and operation.contract else None
    data = request_data(mock.config.max_body_bytes)
    answer = None if response.is_streamed else response.get_data()
    try:
        request_body = decode(data) if data else None
    except JsonProblem:
        request_body = None
    violations = check_exchange(contract, response.status_code, request_body, known.answer)
    recorder.record(
        Exchange(
            method=request.method,
            path=request.path,
            query=list(request.args.items(multi=True)),
            request_headers=list(request.headers.items()),
            request_data=data,
            status=response.status_code,
            response_headers=list(response.headers.items()),
            response_data=answer,
            operation=operation.id if operation else None,
            contract=contract.operation if contract else None,
            secrets=operation.secrets if operation else mock.all_secrets,
            violations=[str(v) for v in violations],
            fault=known.fault,
        )
    )
