"""``create_app(config)``: wires the config, the contracts, the store, the routes, the optional
services and the one error renderer into a Flask app. Nothing is created at import time."""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from . import (
    auth,
    batch,
    control,
    cors,
    faults,
    journal,
    openapi,
    persistence,
    recording,
    routes,
    statefile,
)
from .config import Config
from .contracts import Contracts
from .errors import GraphError, InternalError, PayloadTooLarge, error_body, from_http_exception
from .rendering import dumps
from .state import EXTENSION, MockGraph, mockgraph
from .store import Store

log = logging.getLogger("mockgraph")

#: Optional parts, each ``install(app, state)``: they register their own request hooks (in
#: this order) and keep their objects in ``state.services``.
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


class MockGraphFlask(Flask):
    """Flask, with the sync form of each hook and view worked out once: Flask otherwise
    inspects every one of them for a coroutine on every request (ten per request here)."""

    def __init__(self, import_name: str) -> None:
        super().__init__(import_name)
        self._sync_forms: dict[Callable[..., Any], Callable[..., Any]] = {}

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        try:
            return self._sync_forms[func]
        except KeyError:
            sync = self._sync_forms[func] = super().ensure_sync(func)
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

    app.before_request(_start)
    for install in INSTALLERS:
        install(app, state)
    routes.register(app)
    app.after_request(_check_response)
    app.after_request(_finish)
    app.register_error_handler(GraphError, _render_graph_error)
    app.register_error_handler(HTTPException, _render_http_error)
    app.register_error_handler(Exception, _render_unexpected)
    return app


def _start() -> None:
    # A version-4 UUID from the `random` module: uuid4() reads os.urandom, which releases the
    # GIL on every request (15-34% of a loaded get's samples); a request id needs no crypto.
    g.request_id = str(uuid.UUID(int=random.getrandbits(128), version=4))
    g.client_request_id = request.headers.get("client-request-id") or g.request_id
    limit = request.max_content_length
    if limit is not None and request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"The request body is larger than {limit} bytes.")


def _check_response(response: Response) -> Response:
    """Check the mock's own success answer against its contract; violations are logged and
    kept in ``g.contract_violations`` for the journal (they are bugs of the mock)."""
    state: MockGraph = mockgraph()
    # A CORS preflight matches a route's URL but is no call of its operation.
    operation = routes.current_operation() if request.method != "OPTIONS" else None
    violations: list[str] = []
    if state.config.validate_responses and operation and 200 <= response.status_code < 300:
        contract = state.contracts.get(operation)
        if contract is not None:
            violations = contract.response_violations(g.get("response_body"))
            for violation in violations:
                log.warning("response of %s breaks its contract: %s", operation, violation)
    g.contract_violations = violations
    return response


def _finish(response: Response) -> Response:
    response.headers["request-id"] = g.get("request_id", "")
    response.headers["client-request-id"] = g.get("client_request_id", "")
    return response


def render_error(error: GraphError) -> Response:
    """The ONE renderer of error answers: Graph's body, status and headers."""
    request_id = g.get("request_id") or str(uuid.uuid4())
    body: dict[str, Any] = error_body(
        error,
        request_id=request_id,
        client_request_id=g.get("client_request_id") or request_id,
    )
    response = Response(dumps(body), status=error.status, headers=error.headers)
    response.content_type = "application/json"
    return response


def _render_graph_error(error: GraphError) -> Response:
    return render_error(error)


def _render_http_error(error: HTTPException) -> Response:
    return render_error(from_http_exception(error))


def _render_unexpected(error: Exception) -> Response:
    log.exception("unexpected error in mockgraph (a bug in the mock, not in the client)")
    return render_error(InternalError("An unexpected error occurred in the mock server."))
