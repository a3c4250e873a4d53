"""``create_app(config)``: wires the config, the contracts, the store, the routes, the optional
services and the one error renderer into a Flask app. Nothing is created at import time."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flask import Flask, Request, Response
from flask.sessions import NullSession, SessionInterface
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Rule
from werkzeug.wsgi import get_content_length

from mockgraph.config import Config
from mockgraph.features import (
    auth,
    batch,
    control,
    cors,
    faults,
    journal,
    openapi,
    persistence,
    recording,
    statefile,
)
from mockgraph.http.contracts import Contracts
from mockgraph.http.errors import (
    GraphError,
    InternalError,
    PayloadTooLarge,
    error_body,
    from_http_exception,
)
from mockgraph.http.rendering import GraphResponse, dumps
from mockgraph.resources.keysets import views as routes
from mockgraph.resources.keysets.store import Store
from mockgraph.state import EXTENSION, AfterHook, BeforeHook, MockGraph, current_g, current_request

if TYPE_CHECKING:
    from flask.ctx import _AppCtxGlobals

log = logging.getLogger("mockgraph")

#: Optional parts, each ``install(app, state)``: they add their request steps to
#: ``state.before`` / ``state.after`` (in this order) and keep their objects in
#: ``state.services``.
#: Order (insert new parts at their place, one per line): statefile (the --state seed), cors,
#: journal, auth, faults, control, batch, openapi, recording, persistence.
INSTALLERS: tuple[Callable[[Flask, MockGraph], None], ...] = (
    statefile.install,
    cors.install,
    journal.install,
    auth.install,
    faults.install,
    control.install,
    batch.install,
    openapi.install,
    recording.install,
    persistence.install,
)


#: How many hooks and views :class:`MockGraphFlask` remembers the sync form of.
_SYNC_FORMS_KEPT = 256


class NoSessions(SessionInterface):
    """Graph has no sessions, nor has the mock: every request gets the one shared null
    session. Flask's default checks for a signing key and builds a new null session on every
    request (~2% of a get, issue 6)."""

    _null = NullSession()

    def open_session(self, app: Flask, request: Request) -> NullSession:
        return self._null

    def save_session(self, app: Flask, session: Any, response: Response) -> None:
        return None


class LazyRule(Rule):
    """werkzeug's URL rule, its two URL builders compiled on first use (``url_for``), not when
    the rule is added: werkzeug generates and compiles Python source for each, and for the
    app's fifty rules that was two thirds of ``create_app`` (the live-server fixture builds an
    app per config; issue 6). Matching requests never uses them."""

    def _compile_builder(self, append_unknown: bool = True) -> Callable[..., tuple[str, str]]:
        compile_now = super()._compile_builder
        name = "_build_unknown" if append_unknown else "_build"

        def build(rule: Rule, *args: Any, **kwargs: Any) -> tuple[str, str]:
            compiled: Callable[..., tuple[str, str]] = compile_now(append_unknown).__get__(rule)
            setattr(rule, name, compiled)  # later calls go straight to it
            return compiled(*args, **kwargs)

        return build


class MockGraphFlask(Flask):
    """Flask, with the sync form of each hook and view worked out once: Flask otherwise
    inspects every one of them for a coroutine on every request. Its answers are
    :class:`~mockgraph.http.rendering.GraphResponse`."""

    response_class = GraphResponse
    session_interface = NoSessions()
    url_rule_class = LazyRule

    def __init__(self, import_name: str) -> None:
        # No static folder: a Graph mock serves no /static/ files, and one rule less is
        # matched on every request.
        super().__init__(import_name, static_folder=None)
        self._sync_forms: dict[Callable[..., Any], Callable[..., Any]] = {}

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        try:
            return self._sync_forms[func]
        except KeyError:
            sync = super().ensure_sync(func)
            # Bounded: the app's hooks and views are a few dozen; callables made per request
            # (after_this_request) are not kept past the bound.
            if len(self._sync_forms) < _SYNC_FORMS_KEPT:
                self._sync_forms[func] = sync
            return sync
        except TypeError:  # an unhashable callable
            return super().ensure_sync(func)


def create_app(config: Config | None = None, *, contracts: Contracts | None = None) -> Flask:
    """A new mockgraph app with its own empty store. ``contracts`` defaults to the ones shipped
    with the package, loaded and compiled here, once."""
    config = config or Config()
    app = MockGraphFlask("mockgraph")
    app.json.sort_keys = False  # type: ignore[attr-defined]
    # Flask's own limit, for bodies without Content-Length (chunked); answered as Graph's 413.
    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes
    state = MockGraph(
        config=config,
        contracts=contracts if contracts is not None else Contracts.load(),
        store=Store(clock=config.clock),
    )
    app.extensions[EXTENSION] = state

    state.before.append(_starter(state))
    for install in INSTALLERS:
        install(app, state)
    routes.register(app)
    state.after.append(_response_checker(state))
    state.after.append(_finish)
    app.before_request(_run_before(state))
    app.after_request(_run_after(state))
    app.register_error_handler(GraphError, _render_graph_error)
    app.register_error_handler(HTTPException, _render_http_error)
    app.register_error_handler(Exception, _render_unexpected)
    return app


#: uuid.UUID's version-4 bits, applied to a random 128-bit number.
_V4_CLEAR = ~((0xC000 << 48) | (0xF000 << 64)) & ((1 << 128) - 1)
_V4_SET = (0x8000 << 48) | (4 << 76)


def new_request_id() -> str:
    """A version-4 UUID string, as ``str(uuid.uuid4())`` gives, from the ``random`` module:
    uuid4() reads os.urandom, which releases the GIL on every request (15-34% of a loaded get's
    samples), and building a UUID object per request costs more than the rest of this; a
    request id needs no crypto."""
    digits = f"{random.getrandbits(128) & _V4_CLEAR | _V4_SET:032x}"
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def _run_before(state: MockGraph) -> Callable[[], Response | None]:
    steps = state.before

    def _before() -> Response | None:
        req, facts = current_request(), current_g()
        for step in steps:
            answer = step(req, facts)
            if answer is not None:
                return answer
        return None

    return _before


def _run_after(state: MockGraph) -> Callable[[Response], Response]:
    steps = state.after

    def _after(response: Response) -> Response:
        req, facts = current_request(), current_g()
        for step in reversed(steps):
            response = step(req, facts, response)
        return response

    return _after


def _starter(state: MockGraph) -> BeforeHook:
    limit = state.config.max_body_bytes

    def _start(req: Request, facts: _AppCtxGlobals) -> None:
        facts.started = time.perf_counter()
        facts.request_id = request_id = new_request_id()
        facts.client_request_id = req.environ.get("HTTP_CLIENT_REQUEST_ID") or request_id
        length = get_content_length(req.environ)  # req.content_length, without two lookups
        if length is not None and length > limit:
            raise PayloadTooLarge(f"The request body is larger than {limit} bytes.")
        return None

    return _start


def _response_checker(state: MockGraph) -> AfterHook:
    contracts, enabled = state.contracts, state.config.validate_responses

    def _check_response(req: Request, facts: _AppCtxGlobals, response: Response) -> Response:
        """Check the mock's own success answer against its contract; violations are logged
        and kept in ``g.contract_violations`` for the journal (they are bugs of the mock)."""
        violations: tuple[str, ...] = ()  # kept by the journal: no new object per answer
        # A CORS preflight matches a route's URL but is no call of its operation.
        if enabled and 200 <= response.status_code < 300 and req.method != "OPTIONS":
            operation = routes.operation_of(req)
            contract = contracts.get(operation) if operation else None
            if contract is not None:
                violations = tuple(
                    contract.response_violations(getattr(facts, "response_body", None))
                )
                for violation in violations:
                    log.warning("response of %s breaks its contract: %s", operation, violation)
        facts.contract_violations = violations
        return response

    return _check_response


def _finish(req: Request, facts: _AppCtxGlobals, response: Response) -> Response:
    # Added, not set: nothing else writes these two, and a set scans every header first.
    response.headers.add("request-id", getattr(facts, "request_id", ""))
    response.headers.add("client-request-id", getattr(facts, "client_request_id", ""))
    return response


def render_error(error: GraphError) -> Response:
    """The ONE renderer of error answers: Graph's body, status and headers."""
    facts = current_g()
    request_id = facts.get("request_id") or new_request_id()
    body: dict[str, Any] = error_body(
        error,
        request_id=request_id,
        client_request_id=facts.get("client_request_id") or request_id,
    )
    response = GraphResponse(dumps(body), status=error.status, headers=error.headers)
    response.content_type = "application/json"
    return response


def _render_graph_error(error: GraphError) -> Response:
    return render_error(error)


def _render_http_error(error: HTTPException) -> Response:
    return render_error(from_http_exception(error))


def _render_unexpected(error: Exception) -> Response:
    log.exception("unexpected error in mockgraph (a bug in the mock, not in the client)")
    return render_error(InternalError("An unexpected error occurred in the mock server."))
