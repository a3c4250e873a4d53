"""``create_app(config)``: the mock as a Flask app. Read top to bottom, it is a request's path:
the steps every request takes, what answers it, what every answer goes through."""

from __future__ import annotations

import logging
from functools import partial

from flask import Flask, Request, Response, request

from mockgraph.config import CONTROL_PATH, Config
from mockgraph.features import (
    auth,
    authority,
    batch,
    control,
    cors,
    faults,
    journal,
    metadata,
    openapi,
    recording,
)
from mockgraph.http import errors, intake, routing
from mockgraph.http.contracts import Contracts
from mockgraph.http.facts import FACTS_KEY, Facts
from mockgraph.http.rendering import GraphResponse
from mockgraph.state import EXTENSION, MockGraph

log = logging.getLogger("mockgraph")


def create_app(config: Config | None = None, *, contracts: Contracts | None = None) -> Flask:
    """A new mockgraph app with its own state (``contracts``: the shipped ones by default).
    Raises :class:`~mockgraph.http.errors.StartupError` for a configuration that cannot run."""
    config = config or Config()
    mock = MockGraph.build(config, contracts if contracts is not None else Contracts.load())
    app = Flask("mockgraph", static_folder=None)
    app.response_class = GraphResponse
    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes  # chunked bodies too: a 413
    app.url_map.merge_slashes = False  # "/beta//x" is no Graph URL: a 404, not a redirect
    app.extensions[EXTENSION] = mock

    # Every request takes the steps of `begin`; every answer goes through `finish`.
    app.before_request(partial(begin, mock))

    # What answers: every resource's operations table, then the mock's own endpoints.
    for resource in mock.resources:
        routing.register(app, resource.operations)
    batch.register(app)
    metadata.register(app)
    authority.register(app)
    control.register(app)
    openapi.register(app, mock)

    # Every answer: errors rendered by the one renderer, then `finish`.
    errors.install(app)
    app.after_request(partial(finish, mock))
    return app


def begin(mock: MockGraph) -> Response | None:
    """The request steps, in this order; a step that answers or raises ends the request there."""
    req: Request = request._get_current_object()  # type: ignore[attr-defined]  # werkzeug.local
    config = mock.config
    # The request's facts made; the foreign Host, path, bytes and body sizes refused.
    known = intake.begin(req, mock.hosts, mock.operations, config.max_body_bytes)
    control.guard(req)  # no web page reaches the control API
    preflight = cors.answer_preflight(req, mock.cors)
    if preflight is not None:
        return preflight
    if config.require_auth:
        auth.authenticate(mock, req, known)
    faults.inject(mock, req, known)
    return None


def finish(mock: MockGraph, response: Response) -> Response:
    """The after step: the answer checked against its contract, ids and CORS headers added, the
    injected delay applied, the exchange journalled and recorded (not the control API's) and
    logged."""
    req: Request = request._get_current_object()  # type: ignore[attr-defined]
    known: Facts = req.environ[FACTS_KEY]
    known.answer = getattr(response, "answer", None)
    operation = known.operation
    if mock.config.validate_responses and operation is not None and operation.contract:
        if 200 <= response.status_code < 300 and req.method != "OPTIONS":
            problems = mock.contracts[operation.id].response_problems(known.answer)
            known.violations = tuple(message for _, message in problems)
            for violation in known.violations:
                log.warning("the answer of %s breaks its contract: %s", operation.id, violation)
    response.headers.add("request-id", known.request_id)  # no step before sets them
    response.headers.add("client-request-id", known.client_request_id)
    cors.allow_origin(mock.cors, req, response)
    faults.hold_back(mock.faults, req, known)
    if not req.path.startswith(CONTROL_PATH + "/"):
        journal.record(mock, req, known, response)
        if mock.recorder is not None:
            recording.record(mock, req, known, response)
    if mock.log is not None:
        mock.log.write(req, known, response)
    return response
