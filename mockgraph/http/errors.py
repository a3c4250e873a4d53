"""Graph errors as exceptions, and the ONE renderer of Graph's error body (``concepts/errors.md``:
``code``, ``message``, ``innerError`` with ``date``, ``request-id``, ``client-request-id``).

Views, parsing, contracts and the stores only ``raise`` a :class:`GraphError`; :func:`install`
renders it, every werkzeug HTTP error and any other exception with :func:`render_error`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from flask import Flask, Response
from werkzeug.exceptions import ClientDisconnected, HTTPException

from mockgraph.http.codec import encode
from mockgraph.http.facts import facts_or_none, new_request_id
from mockgraph.http.rendering import GraphResponse

log = logging.getLogger("mockgraph")


class StartupError(Exception):
    """The app cannot start as configured: the CLI prints the message, never a traceback."""


class GraphError(Exception):
    """An error answer; a subclass fixes the HTTP status and Graph's error ``code``."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "generalException"

    def __init_subclass__(cls, status: int | None = None, code: str | None = None) -> None:
        super().__init_subclass__()
        cls.status, cls.code = status or cls.status, code or cls.code

    def __init__(self, message: str, *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers: dict[str, str] = dict(headers or {})

    def body(self, request_id: str, client_request_id: str) -> dict[str, Any]:
        """Graph's error body (the sign-in authority's errors override it with OAuth's)."""
        date = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
        inner = {"date": date, "request-id": request_id, "client-request-id": client_request_id}
        return {"error": {"code": self.code, "message": self.message, "innerError": inner}}


class BadRequest(GraphError, status=400, code="invalidRequest"): ...


class Unauthenticated(GraphError, status=401, code="InvalidAuthenticationToken"): ...


class AccessDenied(GraphError, status=403, code="accessDenied"): ...


class NotFound(GraphError, status=404, code="itemNotFound"): ...


class MethodNotAllowed(GraphError, status=405, code="notAllowed"): ...


class RequestTimeout(GraphError, status=408, code="requestTimeout"): ...


class Conflict(GraphError, status=409, code="nameAlreadyExists"): ...


class PayloadTooLarge(GraphError, status=413, code="invalidRequest"): ...


class UnsupportedMediaType(GraphError, status=415, code="notSupported"): ...


class FailedDependency(GraphError, status=424, code="failedDependency"):
    """A ``$batch`` item not run because an item of its ``dependsOn`` did not succeed."""


class TooManyRequests(GraphError, status=429, code="TooManyRequests"): ...


class InternalError(GraphError, status=500, code="generalException"):
    """A bug in the mock, or a state file that cannot be written: never for client input."""


class BadGateway(GraphError, status=502, code="serviceNotAvailable"):
    """The recording proxy's upstream could not be reached or did not answer with HTTP."""


class ServiceUnavailable(GraphError, status=503, code="serviceNotAvailable"): ...


class GatewayTimeout(GraphError, status=504, code="serviceNotAvailable"): ...


_BY_STATUS: dict[int, type[GraphError]] = {
    cls.status: cls
    for cls in (BadRequest, Unauthenticated, AccessDenied, NotFound, MethodNotAllowed)
    + (PayloadTooLarge, UnsupportedMediaType, TooManyRequests, ServiceUnavailable)
}
_MESSAGES = {
    404: "Resource not found for the segment in the request URL.",
    405: "The HTTP method is not allowed on this resource.",
    413: "The request body is larger than the limit.",
}


def render_error(error: GraphError) -> Response:
    """The ONE renderer of error answers: the error's body, status and headers, with the
    request's ids."""
    known = facts_or_none()
    request_id = known.request_id if known else new_request_id()
    body = error.body(request_id, known.client_request_id if known else request_id)
    response = GraphResponse(
        encode(body), error.status, error.headers, content_type="application/json"
    )
    response.answer = body
    return response


def _render_any(error: Exception) -> Response:
    if isinstance(error, ClientDisconnected) and isinstance(error.__context__, TimeoutError):
        # A body that stopped arriving on a server with a socket timeout (``--dev``, the live
        # server): the 408 granian's bridge gives it.
        error = RequestTimeout("The request body did not arrive in time.")
    elif isinstance(error, HTTPException):  # routing's 404 and 405, the size limit's 413
        status, valid = error.code or 500, getattr(error, "valid_methods", None)
        cls = _BY_STATUS.get(status, InternalError if status >= 500 else BadRequest)
        error = cls(_MESSAGES.get(status, error.description or error.name))
        if status == 405 and valid:
            error.headers["Allow"] = ", ".join(sorted(valid))
    elif not isinstance(error, GraphError):
        log.exception("unexpected error in mockgraph (a bug in the mock, not in the client)")
        error = InternalError("An unexpected error occurred in the mock server.")
    return render_error(error)


def install(app: Flask) -> None:
    """Render every exception ``app`` meets with :func:`render_error`."""
    app.register_error_handler(Exception, _render_any)
