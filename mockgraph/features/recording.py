"""Recording exchanges as example files: the recorder behind ``mockgraph serve --record DIR`` and
the recording proxy behind ``mockgraph record --upstream URL --out DIR`` (issue 4, part 5).

Each exchange becomes ONE file, ``NNNN-<operation>-<status>.json``, in the shape of
``fixtures/examples/`` with ``"documented": false``, plus ``contract`` (the operation whose
contract the exchange was checked against, or null), ``violations`` (what broke that contract;
recorded, never blocking) and ``fault`` (an injected fault, or null). Numbers follow the order
in which the answers were made and start after the highest number already in the folder, so a
second run never overwrites a first; a fresh folder always starts at ``0001``. One recorder
per folder at a time.

Before anything is written, secrets are redacted (:mod:`mockgraph.redact`) and the values that
change from run to run are normalised, so two recordings of the same session diff cleanly:

- header names in lower case; headers left out (:data:`DROPPED_HEADERS`): transport ones such
  as ``Date``, ``Server``, ``Content-Length``, ``User-Agent``, ``Accept-Encoding`` and the
  hop-by-hop ones;
- header values replaced by ``<name>`` (:data:`VOLATILE_HEADERS`): ``request-id``,
  ``client-request-id``, ``x-ms-ags-diagnostic``;
- in response bodies (:data:`VOLATILE_MEMBERS`): ``kid``, ``n``, ``x5t`` and every ``x5c``
  entry become ``<kid>``, ``<n>``...: the service generates them, or derives them from
  certificates that tests generate afresh; ``innerError``'s ``date``, ``request-id`` and
  ``client-request-id`` become ``<date>``...;
- the scheme and host of ``@odata.*`` links and of ``Location`` become ``<origin>``.

Request bodies are kept as sent (secrets aside): they are what a replay sends again. A body
that is not JSON is kept as text (secret members' values redacted); one nested deeper than
:data:`MAX_DEPTH` is not kept at all.
"""

from __future__ import annotations

import http.client
import json
import logging
import re
import ssl
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from flask import Flask, Request, Response, current_app, request
from werkzeug.datastructures import Headers
from werkzeug.exceptions import HTTPException
from werkzeug.routing import MapAdapter

from mockgraph.config import BASE_PATH, Config
from mockgraph.features.atomic import write_atomically
from mockgraph.features.faults import FAULT_HEADER
from mockgraph.features.redact import (
    REDACTED,
    SECRET_MEMBERS,
    decode_body,
    redact_body,
    redact_headers,
)
from mockgraph.http.contracts import Contract, Contracts, describe, property_path
from mockgraph.http.errors import (
    BadGateway,
    GatewayTimeout,
    GraphError,
    StartupError,
    from_http_exception,
)
from mockgraph.resources.keysets import views as routes
from mockgraph.resources.keysets.models import SECRET_FIELDS
from mockgraph.state import MockGraph

if TYPE_CHECKING:
    from flask.ctx import _AppCtxGlobals

log = logging.getLogger("mockgraph")

SERVICE = "recorder"
#: ``source`` of the files written by ``mockgraph serve --record``.
SERVE_SOURCE = "mockgraph serve --record"
#: Hop-by-hop headers (RFC 9110 section 7.6.1): never forwarded, never returned.
HOP_BY_HOP: frozenset[str] = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
#: Headers a recording leaves out: they describe the transport, not the exchange.
DROPPED_HEADERS: frozenset[str] = HOP_BY_HOP | {
    "accept-encoding",
    "content-length",
    "date",
    "host",
    "server",
    "user-agent",
}
#: Headers whose values change on every request; recorded as ``<name>``.
VOLATILE_HEADERS: frozenset[str] = frozenset(
    {"request-id", "client-request-id", "x-ms-ags-diagnostic"}
)
#: Response-body members the service generates (or derives from fresh certificates).
VOLATILE_MEMBERS: frozenset[str] = frozenset({"kid", "n", "x5t", "x5c"})
#: Members of an error's ``innerError`` that change on every request.
VOLATILE_INNER_ERROR: frozenset[str] = frozenset({"date", "request-id", "client-request-id"})
#: Members and headers holding URLs whose scheme and host are replaced by :data:`ORIGIN`.
URL_MEMBERS: frozenset[str] = frozenset(
    {"@odata.context", "@odata.nextLink", "@odata.deltaLink", "@odata.id", "location"}
)
ORIGIN = "<origin>"
_ABSOLUTE_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://[^/?#]*")
_NUMBERED = re.compile(r"^(\d+)-")


# --------------------------------------------------------------------------------------------
# Normalising


def token(name: str) -> str:
    """The stand-in written for a volatile value: ``<name>``."""
    return f"<{name.lower()}>"


def without_origin(url: str) -> str:
    """``https://graph.microsoft.com/beta/x`` -> ``<origin>/beta/x``; relative URLs unchanged."""
    return _ABSOLUTE_URL.sub(ORIGIN, url, count=1)


def normalise_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Headers as a recording keeps them: names in lower case (servers differ in how they
    spell them; HTTP/2 lower-cases them all), transport ones left out, secret ones redacted,
    volatile values replaced by ``<name>``, URL origins by ``<origin>``. A repeated header's
    values are joined with ``", "``."""
    kept: dict[str, str] = {}
    for name, value in headers:
        lowered = name.lower()
        if lowered in DROPPED_HEADERS:
            continue
        if lowered in VOLATILE_HEADERS:
            value = token(lowered)
        elif lowered in URL_MEMBERS:
            value = without_origin(value)
        kept[lowered] = f"{kept[lowered]}, {value}" if lowered in kept else value
    return redact_headers(kept)


def normalise_body(body: Any) -> Any:
    """A copy of a response body with the volatile values replaced (see the module docstring).
    JSON types are kept (a string stays a string, a list a list), so a normalised body still
    satisfies its contract."""
    return _normalise(body, inner_error=False)


def _normalise(value: Any, *, inner_error: bool) -> Any:
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for name, member in value.items():
            if inner_error and name in VOLATILE_INNER_ERROR or name in VOLATILE_MEMBERS:
                out[name] = _stand_in(name, member)
            elif name in URL_MEMBERS and isinstance(member, str):
                out[name] = without_origin(member)
            else:
                out[name] = _normalise(member, inner_error=name == "innerError")
        return out
    if isinstance(value, list):
        return [_normalise(item, inner_error=False) for item in value]
    return value


def _stand_in(name: str, value: Any) -> Any:
    if isinstance(value, str):
        return token(name)
    if isinstance(value, list):
        return [_stand_in(name, item) for item in value]
    return value


def _query(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Query parameters as the example format has them (a repeated one as a list); secret
    ones (``access_token``...) redacted."""
    out: dict[str, Any] = {}
    for name, value in pairs:
        shown = REDACTED if name in SECRET_MEMBERS else value
        if name not in out:
            out[name] = shown
        elif isinstance(out[name], list):
            out[name].append(shown)
        else:
            out[name] = [out[name], shown]
    return out


# --------------------------------------------------------------------------------------------
# Checking an exchange against its contract


@dataclass(frozen=True)
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
    contract: Contract | None,
    status: int,
    request_body: Any,
    response_body: Any,
    *,
    check_request: bool = True,
    check_response: bool = True,
) -> list[Violation]:
    """Every way an exchange breaks its contract, sorted. A success (2xx) is checked against
    the contract: the request body, the status and the response body. An error (4xx/5xx) must
    carry Graph's ``{"error": {"code", "message"}}`` body; its request is not checked, since a
    rejected request is expected to break the contract. ``check_request``/``check_response``
    turn off the body checks that the app already made."""
    found: list[Violation] = []
    if 200 <= status < 300 and contract is not None:
        if check_request and contract.request is not None:
            found += _schema_violations("request", contract.request.iter_errors(request_body))
        if status != contract.status:
            found.append(
                Violation(
                    "response", "", f"The status is {status}; the contract says {contract.status}."
                )
            )
        if check_response:
            if contract.response is not None:
                found += _schema_violations(
                    "response", contract.response.iter_errors(response_body)
                )
            elif response_body is not None:
                found.append(
                    Violation("response", "", "The operation answers no body, but one was sent.")
                )
    elif status >= 400 and not _is_graph_error(response_body):
        found.append(
            Violation(
                "response",
                "",
                'An error answer must have Graph\'s {"error": {"code", "message"}} body.',
            )
        )
    return sorted(set(found), key=lambda v: (v.side, v.path, v.message))


def _schema_violations(side: str, errors: Iterable[Any]) -> list[Violation]:
    return [Violation(side, property_path(e.absolute_path), describe(e)) for e in errors]


def _is_graph_error(body: Any) -> bool:
    error = body.get("error") if isinstance(body, Mapping) else None
    return (
        isinstance(error, Mapping)
        and isinstance(error.get("code"), str)
        and isinstance(error.get("message"), str)
    )


# --------------------------------------------------------------------------------------------
# Exchanges and the files they become


@dataclass(frozen=True)
class Exchange:
    """One request and its answer as captured: decoded, not yet redacted or normalised."""

    method: str
    path: str
    query: Sequence[tuple[str, str]]
    request_headers: Sequence[tuple[str, str]]
    request_body: Any
    status: int
    response_headers: Sequence[tuple[str, str]]
    response_body: Any
    operation: str | None
    contract: str | None
    violations: Sequence[str] = ()
    fault: Mapping[str, Any] | None = None
    #: A text body was cut at :data:`MAX_TEXT_BYTES`.
    truncated: bool = False

    def example(self, name: str, source: str) -> dict[str, Any]:
        """The example document: fixture format, ``documented`` false, redacted, normalised."""
        return {
            "name": name,
            "operation": self.operation,
            "documented": False,
            "truncated": self.truncated,
            "source": source,
            "placeholders": [],
            "request": {
                "method": self.method,
                "path": self.path,
                "query": _query(self.query),
                "headers": normalise_headers(self.request_headers),
                "body": redact_body(self.request_body, operation=self.operation),
            },
            "response": {
                "status": self.status,
                "headers": normalise_headers(self.response_headers),
                "body": normalise_body(redact_body(self.response_body)),
            },
            "contract": self.contract,
            "violations": list(self.violations),
            "fault": dict(self.fault) if self.fault else None,
        }


def dumps_example(document: Mapping[str, Any]) -> str:
    """The text of an example file: as ``contracts build`` writes them (sorted, indented)."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


class Recorder:
    """Writes exchanges into one folder, one file each, numbered in the order they are
    recorded. Thread-safe: the number is taken under a lock, and each file is written under a
    temporary name and renamed, so a reader never sees half a file.

    The file is written in the request's own thread, before the answer leaves: once a client
    has its answer, the recording is on disk, and under load the server slows down instead of
    piling recordings up in memory. (A writer thread was measured and dropped: under load, the
    GIL starved it, its backlog grew without bound and was lost when the server stopped.)

    Raises :class:`StartupError` when the folder cannot be created.
    """

    def __init__(self, directory: Path, *, source: str) -> None:
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StartupError(f"cannot record into {directory}: {exc.strerror or exc}") from None
        self.directory = directory
        self.source = source
        self._lock = threading.Lock()
        self._last = _highest_number(directory)

    def record(self, exchange: Exchange) -> Path | None:
        """Write ``exchange``; the path written, or ``None`` when the write failed (logged,
        never raised: the exchange has happened, and a full disk must not turn it into an
        error)."""
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


def _highest_number(directory: Path) -> int:
    numbers = [int(m.group(1)) for p in directory.glob("*.json") if (m := _NUMBERED.match(p.name))]
    return max(numbers, default=0)


def recorder_of(state: MockGraph) -> Recorder | None:
    """The app's recorder, when it records."""
    recorder: Recorder | None = state.services.get(SERVICE)
    return recorder


def is_recorded(method: str, path: str) -> bool:
    """Graph calls are recorded; CORS preflights, the control API and ``$batch`` envelopes are
    not (the requests inside a batch are, each on its own)."""
    if method == "OPTIONS" or path == BASE_PATH + "/$batch":
        return False
    return path == BASE_PATH or path.startswith(BASE_PATH + "/")


# --------------------------------------------------------------------------------------------
# mockgraph serve --record


def install(app: Flask, state: MockGraph) -> None:
    """With ``Config.record_dir`` set: keep a :class:`Recorder` in
    ``state.services["recorder"]`` and write every Graph exchange the app answers. Without it:
    nothing. Raises :class:`StartupError` when the folder cannot be created."""
    directory = state.config.record_dir
    if directory is None:
        return
    recorder = Recorder(Path(directory), source=SERVE_SOURCE)
    state.services[SERVICE] = recorder

    def _record(req: Request, facts: _AppCtxGlobals, response: Response) -> Response:
        if not is_recorded(req.method, req.path):
            return response
        operation = routes.operation_of(req)
        contract = state.contracts.get(operation) if operation else None
        request_body, cut = _request_body(req, state.config)
        status = response.status_code
        if 200 <= status < 300 and "response_body" in vars(facts):
            response_body = facts.response_body
        elif response.is_streamed:
            response_body = None
        else:
            response_body, _ = decode_body(response.get_data())
        # The app has already checked what its config asks it to; only the rest is checked here.
        checked = check_exchange(
            contract,
            status,
            request_body,
            response_body,
            check_request=not state.config.validate_requests,
            check_response=not state.config.validate_responses,
        )
        violations = [str(v) for v in checked]
        violations += [f"response: {m}" for m in getattr(facts, "contract_violations", ())]
        recorder.record(
            Exchange(
                method=req.method,
                path=req.path,
                query=list(req.args.items(multi=True)),
                request_headers=list(req.headers.items()),
                request_body=request_body,
                status=status,
                response_headers=list(response.headers.items()),
                response_body=response_body,
                operation=operation,
                contract=operation if contract is not None else None,
                violations=sorted(violations),
                fault=getattr(facts, "injected_fault", None),
                truncated=cut,
            )
        )
        return response

    state.after.append(_record)


def _request_body(req: Request, config: Config) -> tuple[Any, bool]:
    """The decoded request body, unless it is over the size limit (then it was never read,
    and ``None`` is recorded)."""
    length = req.content_length
    if length is not None and length > config.max_body_bytes:
        return None, False
    try:
        return decode_body(req.get_data(cache=True))
    except HTTPException:  # a chunked body over the limit
        return None, False


# --------------------------------------------------------------------------------------------
# mockgraph record: the recording proxy

PROXY_EXTENSION = "mockgraph-record"
#: Methods the proxy forwards.
PROXY_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
# The fault header is the mock's own: a real Graph must never see it.
_NOT_FORWARDED = HOP_BY_HOP | {"host", "content-length", "accept-encoding", FAULT_HEADER.lower()}
_NOT_RETURNED = HOP_BY_HOP | {"content-length"}


@dataclass(frozen=True)
class Upstream:
    """Where ``/beta`` is forwarded to: ``base`` ends with the path that replaces ``/beta``."""

    scheme: str
    host: str
    port: int | None
    base: str

    @classmethod
    def parse(cls, url: str) -> Upstream:
        """``https://graph.microsoft.com`` or ``.../beta`` (an empty path means ``/beta``).
        Raises ``ValueError`` for anything but an http(s) URL with a host, and for user
        credentials, a query or a fragment in it."""
        parts = urlsplit(url.strip())
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError("the upstream must be an http:// or https:// URL with a host")
        if parts.username is not None or parts.password is not None:
            raise ValueError("the upstream URL must not hold credentials")
        if parts.query or parts.fragment:
            raise ValueError("the upstream URL must not have a query or a fragment")
        try:
            port = parts.port
        except ValueError:
            raise ValueError("the upstream URL has an invalid port") from None
        base = parts.path.rstrip("/") or BASE_PATH
        return cls(parts.scheme, parts.hostname, port, base)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = f":{self.port}" if self.port is not None else ""
        return f"{self.scheme}://{host}{port}{self.base}"


@dataclass(frozen=True)
class Answer:
    """The upstream's answer, as received."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def response(self) -> Response:
        """The answer to return: unchanged but for hop-by-hop headers (the server sets its own)."""
        headers = Headers([(k, v) for k, v in self.headers if k.lower() not in _NOT_RETURNED])
        response = Response(self.body, status=self.status, headers=headers)
        if "Content-Type" not in headers:
            del response.headers["Content-Type"]
        return response


@dataclass
class Proxy:
    """Forwards each request under ``/beta`` to :attr:`upstream`, checks both directions
    against the contracts (violations are logged and recorded, never blocking) and records the
    exchange."""

    upstream: Upstream
    recorder: Recorder
    contracts: Contracts
    timeout: float = 60.0
    _routes: MapAdapter = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._routes = _route_adapter()

    def operation(self, method: str, path: str) -> str | None:
        """The operation a request calls: as the mock routes it (every URL form it answers),
        else by the contracts' path templates (operations the mock does not route)."""
        try:
            endpoint, _ = self._routes.match(path, method)
        except HTTPException:
            endpoint = None
        if isinstance(endpoint, str) and endpoint.startswith("graph."):
            return endpoint.split(".", 1)[1]
        segments = [s for s in path.split("/") if s][1:]
        for contract in self.contracts.values():
            template = [s for s in contract.path.split("/") if s]
            if contract.method == method and _matches(template, segments):
                return contract.operation
        return None

    def send(self, method: str, target: str, headers: list[tuple[str, str]], body: bytes) -> Answer:
        """One request to the upstream (``target``: path and query below :attr:`upstream`), on
        its own connection; redirects are returned, not followed. Raises :class:`BadGateway`
        or :class:`GatewayTimeout`."""
        up = self.upstream
        connection: http.client.HTTPConnection
        if up.scheme == "https":
            connection = http.client.HTTPSConnection(
                up.host, up.port, timeout=self.timeout, context=ssl.create_default_context()
            )
        else:
            connection = http.client.HTTPConnection(up.host, up.port, timeout=self.timeout)
        try:
            # http.client adds Host and "Accept-Encoding: identity", so the body comes back
            # uncompressed and can be both returned and recorded.
            connection.putrequest(method, up.base + target)
            for name, value in headers:
                connection.putheader(name, value)
            if body or method in {"POST", "PUT", "PATCH"}:
                connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body or None)
            answer = connection.getresponse()
            return Answer(answer.status, answer.getheaders(), answer.read())
        except TimeoutError:
            raise GatewayTimeout(f"The upstream {up.url} did not answer in time.") from None
        except (OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "strerror", None) or type(exc).__name__
            raise BadGateway(f"The upstream {up.url} could not be reached: {reason}.") from None
        finally:
            connection.close()

    def handle(self, incoming: Request) -> Response:
        """Forward ``incoming``, record the exchange, and return the upstream's answer."""
        body = incoming.get_data(cache=True)
        target = quote(incoming.path[len(BASE_PATH) :], safe="/()'$,:;=@!*+~")
        if incoming.query_string:
            target += "?" + incoming.query_string.decode("latin-1")
        forwarded = [(k, v) for k, v in incoming.headers.items() if k.lower() not in _NOT_FORWARDED]
        answer = self.send(incoming.method, target, forwarded, body)
        operation = self.operation(incoming.method, incoming.path)
        contract = self.contracts.get(operation) if operation else None
        request_body, cut_request = decode_body(body)
        response_body, cut_response = decode_body(answer.body)
        violations = check_exchange(contract, answer.status, request_body, response_body)
        for violation in violations:
            log.warning("%s %s breaks its contract: %s", incoming.method, incoming.path, violation)
        self.recorder.record(
            Exchange(
                method=incoming.method,
                path=incoming.path,
                query=list(incoming.args.items(multi=True)),
                request_headers=list(incoming.headers.items()),
                request_body=request_body,
                status=answer.status,
                response_headers=answer.headers,
                response_body=response_body,
                operation=operation,
                contract=operation if contract is not None else None,
                violations=[str(v) for v in violations],
                truncated=cut_request or cut_response,
            )
        )
        return answer.response()


def _matches(template: Sequence[str], segments: Sequence[str]) -> bool:
    return len(template) == len(segments) and all(
        (t.startswith("{") and t.endswith("}") and bool(s)) or t.lower() == s.lower()
        for t, s in zip(template, segments, strict=True)
    )


def _route_adapter() -> MapAdapter:
    """The mock's URL rules, on an app of their own, to name the operation of a path."""
    matcher = Flask("mockgraph-routes")
    routes.register(matcher)
    return matcher.url_map.bind("localhost")


def create_proxy(
    upstream: str,
    out: Path,
    *,
    contracts: Contracts | None = None,
    timeout: float = 60.0,
    max_body_bytes: int = Config.max_body_bytes,
) -> Flask:
    """A recording proxy: a WSGI app that forwards every request under ``/beta`` to
    ``upstream`` and writes each exchange into ``out``. Other paths, an unreachable upstream
    and bodies over ``max_body_bytes`` get Graph's error body (from the one renderer); nothing
    is recorded for them. Raises ``ValueError`` for a bad ``upstream`` and
    :class:`StartupError` when ``out`` cannot be created."""
    # app.py imports this module (INSTALLERS), so its renderer is imported here, when used.
    from mockgraph.app import render_error

    target = Upstream.parse(upstream)
    proxy = Proxy(
        upstream=target,
        recorder=Recorder(out, source=f"mockgraph record --upstream {target.url}"),
        contracts=contracts if contracts is not None else Contracts.load(),
        timeout=timeout,
    )
    app = Flask("mockgraph-record")
    app.config["MAX_CONTENT_LENGTH"] = max_body_bytes
    app.extensions[PROXY_EXTENSION] = proxy

    def forward(rest: str = "") -> Response:
        current: Proxy = current_app.extensions[PROXY_EXTENSION]
        return current.handle(request)

    app.add_url_rule(BASE_PATH, "forward", forward, methods=PROXY_METHODS)
    app.add_url_rule(BASE_PATH + "/<path:rest>", "forward", forward, methods=PROXY_METHODS)

    def graph_error(error: GraphError) -> Response:
        return render_error(error)

    def http_error(error: HTTPException) -> Response:
        return render_error(from_http_exception(error))

    app.register_error_handler(GraphError, graph_error)
    app.register_error_handler(HTTPException, http_error)
    return app


def proxy_of(app: Flask) -> Proxy:
    """The :class:`Proxy` of an app made by :func:`create_proxy`."""
    proxy: Proxy = app.extensions[PROXY_EXTENSION]
    return proxy
