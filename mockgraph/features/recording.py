"""Exchanges written as example files (``serve --record DIR`` and the recording proxy): one
``NNNN-<operation>-<status>.json`` per exchange in the format of ``fixtures/examples/``, secrets
redacted and what changes from run to run normalised, so two recordings of a session diff
cleanly; contract violations recorded, never blocking."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import Request, Response

from mockgraph.config import BASE_PATH
from mockgraph.features.atomic import write_atomically
from mockgraph.features.journal import Entry, Exchange, request_data
from mockgraph.features.redact import redact_headers
from mockgraph.http.codec import encode, json_value
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
DROPPED_HEADERS = HOP_BY_HOP | frozenset(
    {"accept-encoding", "content-length", "date", "host", "server", "user-agent"}
)
#: Headers whose values change on every request; recorded as ``<name>``.
VOLATILE_HEADERS = frozenset({"request-id", "client-request-id", "x-ms-ags-diagnostic"})
#: Body members the service generates (or derives from fresh certificates); ``<name>``.
VOLATILE_MEMBERS = frozenset({"kid", "n", "x5t", "x5c"})
#: Members of an error's ``innerError`` that change on every request.
VOLATILE_INNER_ERROR = frozenset({"date", "request-id", "client-request-id"})
#: Members and headers (lower case) holding URLs whose scheme and host become ``<origin>``.
URL_MEMBERS = frozenset(
    {"@odata.context", "@odata.nextlink", "@odata.deltalink", "@odata.id", "location"}
)
_ABSOLUTE_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://[^/?#]*")
_NUMBERED = re.compile(r"^(\d+)-")


def without_origin(url: str) -> str:
    """``https://graph.microsoft.com/beta/x`` -> ``<origin>/beta/x``; relative URLs unchanged."""
    return _ABSOLUTE_URL.sub("<origin>", url, count=1)


def normalise_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Headers as a recording keeps them: lower-case names, transport headers left out,
    volatile values as ``<name>``, the origin of URLs as ``<origin>``, secrets redacted."""
    kept = []
    for name, value in headers:
        name = name.lower()
        if name in VOLATILE_HEADERS:
            value = f"<{name}>"
        elif name in URL_MEMBERS:
            value = without_origin(value)
        if name not in DROPPED_HEADERS:
            kept.append((name, value))
    return redact_headers(kept)


def normalise_body(value: Any, *, inner_error: bool = False) -> Any:
    """A copy of a body with the volatile values replaced by stand-ins of the same JSON type,
    so a normalised body still satisfies its contract."""
    if isinstance(value, list):
        return [normalise_body(item) for item in value]
    if not isinstance(value, Mapping):
        return value
    out = {}
    for name, member in value.items():
        if name in VOLATILE_MEMBERS or (inner_error and name in VOLATILE_INNER_ERROR):
            out[name] = _stand_in(name, member)
        elif name.lower() in URL_MEMBERS and isinstance(member, str):
            out[name] = without_origin(member)
        else:
            out[name] = normalise_body(member, inner_error=name == "innerError")
    return out


def _stand_in(name: str, value: Any) -> Any:
    if isinstance(value, list):
        return [_stand_in(name, item) for item in value]
    return f"<{name.lower()}>" if isinstance(value, str) else value


@dataclass(frozen=True, order=True)
class Violation:
    """One way an exchange breaks its contract; ``path`` names the property (``keys[0].k``),
    empty for the status or a whole body."""

    side: str  #: ``request`` or ``response``
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.side}: {self.message}"

    @property
    def write_only(self) -> bool:
        """A response that shows a member which can never be read back (``k``, ``d``...)."""
        return self.side == "response" and re.split(r"[.\[]", self.path)[-1] in SECRET_FIELDS


def check_exchange(
    contract: Contract | None, status: int, request_body: Any, response_body: Any
) -> list[Violation]:
    """Every way an exchange breaks its contract, sorted. A success (2xx) is checked against
    ``contract``: the request body, the status and the response body. An error (4xx/5xx) must
    carry Graph's ``{"error": {"code", "message"}}`` body; its request is not checked (a
    refused request is expected to break the contract)."""
    found = set()
    if 200 <= status < 300 and contract is not None:
        if contract.request is not None:
            found |= {Violation("request", *p) for p in contract.request.problems(request_body)}
        if status != contract.status:
            message = f"The status is {status}; the contract says {contract.status}."
            found.add(Violation("response", "", message))
        found |= {Violation("response", *p) for p in contract.response_problems(response_body)}
    elif status >= 400:
        error = response_body.get("error") if isinstance(response_body, Mapping) else None
        if not (
            isinstance(error, Mapping)
            and isinstance(error.get("code"), str)
            and isinstance(error.get("message"), str)
        ):
            message = 'An error answer must have Graph\'s {"error": {"code", "message"}} body.'
            found.add(Violation("response", "", message))
    return sorted(found)


def example(entry: Entry, name: str, source: str, contract: str | None) -> dict[str, Any]:
    """The example document of a journal ``entry`` (redacted): the fixture format with
    ``documented`` false, normalised, and the ``contract`` it was checked against."""
    return {
        "name": name,
        "operation": entry.operation,
        "documented": False,
        "truncated": False,
        "source": source,
        "placeholders": [],
        "request": {
            "method": entry.method,
            "path": entry.path,
            "query": {k: v[0] if len(v) == 1 else v for k, v in entry.query.items()},
            "headers": normalise_headers(entry.headers.items()),
            "body": entry.body,
        },
        "response": {
            "status": entry.status,
            "headers": normalise_headers(entry.response_headers.items()),
            "body": normalise_body(entry.response_body),
        },
        "contract": contract,
        "violations": entry.violations,
        "fault": entry.fault,
    }


class Recorder:
    """Writes exchanges into one folder, one file each, numbered in the order recorded
    (thread-safe), atomically, before the answer leaves. Raises :class:`StartupError` when the
    folder cannot be made."""

    def __init__(self, directory: Path, *, source: str = "mockgraph serve --record") -> None:
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StartupError(f"cannot record into {directory}: {exc.strerror or exc}") from None
        self.directory = directory
        self.source = source
        self._lock = threading.Lock()
        found = (_NUMBERED.match(p.name) for p in directory.glob("*.json"))
        self._last = max((int(m[1]) for m in found if m), default=0)

    def record(self, exchange: Exchange, contract: str | None) -> None:
        """Write ``exchange``, checked against the ``contract`` of that name; a failed write is
        logged, never raised (the exchange happened)."""
        with self._lock:
            self._last += 1
            number = self._last
        name = f"{number:04d}-{exchange.operation or 'unmatched'}-{exchange.status}"
        path = self.directory / f"{name}.json"
        document = example(exchange.entry(number), name, self.source, contract)
        text = encode(document, indent=True, sort=True).decode()
        try:
            write_atomically(path, text + "\n")
        except OSError as exc:
            log.error("could not write the recording %s: %s", path, exc.strerror or exc)


def record(mock: MockGraph, req: Request, known: Facts, response: Response) -> None:
    """The after step of ``serve --record``: write each exchange below ``/beta`` (not CORS
    preflights nor ``$batch`` envelopes: a batch's requests are recorded each)."""
    recorder, operation = mock.recorder, known.operation
    if recorder is None or req.method == "OPTIONS" or req.endpoint == "batch":
        return
    if not req.path.startswith(BASE_PATH + "/"):
        return
    contract = mock.contracts.get(operation.id) if operation and operation.contract else None
    data = request_data(req, mock.config.max_body_bytes)
    violations = check_exchange(contract, response.status_code, json_value(data), known.answer)
    exchange = Exchange.of(
        req,
        data=data,
        status=response.status_code,
        response_headers=tuple(response.headers.items()),
        response_data=None if response.is_streamed else response.get_data(),
        operation=operation.id if operation else None,
        secrets=operation.secrets if operation else mock.all_secrets,
        violations=[str(v) for v in violations],
        fault=known.fault,
    )
    recorder.record(exchange, contract.operation if contract else None)
