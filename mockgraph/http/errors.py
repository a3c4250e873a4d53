"""Graph errors as exceptions, and the ONE renderer of Graph's ``{"error": {...}}`` body.

Views, parsing, contracts and the stores only ``raise`` a :class:`GraphError`; :func:`install`
registers the renderer for it, for every werkzeug HTTP error and for any other exception, so
every answer that is not a success has the body documented in the Graph docs'
``concepts/errors.md``: ``code``, ``message`` and an ``innerError`` with ``date``, ``request-id``
and ``client-request-id``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from flask import Flask, Response
from werkzeug.exceptions import HTTPException

from mockgraph.http.codec import encode
from mockgraph.http.facts import facts_or_none, new_request_id

log = logging.getLogger("mockgraph")


class StartupError(Exception):
    """The app cannot start as configured (a bad state file, a bad fault rule...): the CLI
    prints the message, never a traceback."""


class GraphError(Exception):
    """An error answer. Subclasses fix the HTTP status and Graph's error ``code``."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "generalException"

    def __init__(self, message: str, *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers: dict[str, str] = dict(headers or {})

    def body(self, request_id: str, client_request_id: str) -> dict[str, Any]:
        """The answer's body: Graph's error shape (the sign-in authority's errors override it
        with the OAuth shape)."""
        return error_body(self, request_id=request_id, client_request_id=client_request_id)


class BadRequest(GraphError):
    """Malformed or incorrect input: bad JSON, wrong types, unknown or missing properties."""

    status = 400
    code = "invalidRequest"


class Unauthenticated(GraphError):
    """No ``Authorization: Bearer`` header, or a token that is expired or not for Graph."""

    status = 401
    code = "InvalidAuthenticationToken"


class AccessDenied(GraphError):
    """The token lacks the permission that the operation's doc page names."""

    status = 403
    code = "accessDenied"


class NotFound(GraphError):
    """No such key set, key or path."""

    status = 404
    code = "itemNotFound"


class MethodNotAllowed(GraphError):
    """The path exists but not with this HTTP method."""

    status = 405
    code = "notAllowed"


class Conflict(GraphError):
    """An item with that id exists already."""

    status = 409
    code = "nameAlreadyExists"


class RequestTimeout(GraphError):
    """The request's body did not arrive in time."""

    status = 408
    code = "requestTimeout"


class PayloadTooLarge(GraphError):
    """The request body is over the configured limit."""

    status = 413
    code = "invalidRequest"


class UnsupportedMediaType(GraphError):
    """A body whose content type is not the one the operation takes."""

    status = 415
    code = "notSupported"


class FailedDependency(GraphError):
    """A ``$batch`` item not run because an item of its ``dependsOn`` did not succeed."""

    status = 424
    code = "failedDependency"


class TooManyRequests(GraphError):
    """Throttled (``concepts/throttling.md``); carries ``Retry-After``."""

    status = 429
    code = "TooManyRequests"


class InternalError(GraphError):
    """A bug in the mock, or a state file that cannot be written: never for client input."""

    status = 500
    code = "generalException"


class BadGateway(GraphError):
    """The recording proxy's upstream could not be reached, or did not answer with HTTP."""

    status = 502
    code = "serviceNotAvailable"


class ServiceUnavailable(GraphError):
    """An injected outage; carries ``Retry-After``."""

    status = 503
    code = "serviceNotAvailable"


class GatewayTimeout(GraphError):
    """The recording proxy's upstream did not answer in time."""

    status = 504
    code = "serviceNotAvailable"


_BY_STATUS: dict[int, type[GraphError]] = {
    cls.status: cls
    for cls in (BadRequest, Unauthenticated, AccessDenied, NotFound, MethodNotAllowed)
    + (PayloadTooLarge, UnsupportedMediaType, TooManyRequests, ServiceUnavailable)
}
_HTTP_MESSAGES = {
    404: "Resource not found for the segment in the request URL.",
    405: "The HTTP method is not allowed on this resource.",
    413: "The request body is larger than the limit.",
}


def from_http_exception(exc: HTTPException) -> GraphError:
    """A werkzeug HTTP error (routing's 404/405, the size limit's 413) as a GraphError."""
    status = exc.code or 500
    cls = _BY_STATUS.get(status, InternalError if status >= 500 else BadRequest)
    error = cls(_HTTP_MESSAGES.get(status, exc.description or exc.name))
    valid = getattr(exc, "valid_methods", None)
    if status == 405 and valid:
        error.headers["Allow"] = ", ".join(sorted(valid))
    return error


def graph_date(now: datetime | None = None) -> str:
    """The ``innerError.date`` format Graph uses: UTC, seconds, no offset."""
    return (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def error_body(error: GraphError, *, request_id: str, client_request_id: str) -> dict[str, Any]:
    """The one shape of every error answer."""
    inner = {"date": graph_date(), "request-id": request_id, "client-request-id": client_request_id}
    return {"error": {"code": error.code, "message": error.message, "innerError": inner}}


def render_error(error: GraphError) -> Response:
    """The ONE renderer of error answers: the error's body (Graph's shape), status and
    headers, with the request's ids."""
    known = facts_or_none()
    request_id = known.request_id if known else new_request_id()
    client_request_id = known.client_request_id if known else request_id
    body = error.body(request_id, client_request_id)
    if known is not None:
        known.answer = body
    response = Response(encode(body), status=error.status, headers=error.headers)
    response.content_type = "application/json"
    return response


def _render_any(error: Exception) -> Response:
    if isinstance(error, GraphError):
        return render_error(error)
    if isinstance(error, HTTPException):
        return render_error(from_http_exception(error))
    log.exception("unexpected error in mockgraph (a bug in the mock, not in the client)")
    return render_error(InternalError("An unexpected error occurred in the mock server."))


def install(app: Flask) -> None:
    """Render every exception ``app`` meets with :func:`render_error`."""
    app.register_error_handler(Exception, _render_any)
