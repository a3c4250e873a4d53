"""Graph errors as exceptions, and the one renderer of Graph's ``{"error": {...}}`` body.

Views, parsing, contracts and the store only ``raise`` a :class:`GraphError`; the app's single
error handler turns it (and every werkzeug HTTP error) into the body documented in the Graph
docs' ``concepts/errors.md``: ``code``, ``message`` and an ``innerError`` with ``date``,
``request-id`` and ``client-request-id``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from werkzeug.exceptions import HTTPException


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


class BadRequest(GraphError):
    """Malformed or incorrect input: bad JSON, wrong types, unknown or missing properties."""

    status = 400
    code = "invalidRequest"


class Unauthenticated(GraphError):
    """No ``Authorization: Bearer`` header, or an expired token."""

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
    """A key set with that id exists already."""

    status = 409
    code = "nameAlreadyExists"


class PayloadTooLarge(GraphError):
    """The request body is over the configured limit."""

    status = 413
    code = "invalidRequest"


class UnsupportedMediaType(GraphError):
    """A body whose content type is not JSON."""

    status = 415
    code = "notSupported"


class TooManyRequests(GraphError):
    """Throttled (``concepts/throttling.md``); carries ``Retry-After``."""

    status = 429
    code = "TooManyRequests"


class ServiceUnavailable(GraphError):
    """An injected outage; carries ``Retry-After``."""

    status = 503
    code = "serviceNotAvailable"


class BadGateway(GraphError):
    """The upstream could not be reached, or did not answer with HTTP."""

    status = 502
    code = "serviceNotAvailable"


class GatewayTimeout(GraphError):
    """The upstream did not answer in time."""

    status = 504
    code = "serviceNotAvailable"


class InternalError(GraphError):
    """A bug in the mock itself: never raised for client input."""

    status = 500
    code = "generalException"


_HTTP_EXCEPTIONS: dict[int, type[GraphError]] = {
    400: BadRequest,
    401: Unauthenticated,
    403: AccessDenied,
    404: NotFound,
    405: MethodNotAllowed,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    429: TooManyRequests,
    503: ServiceUnavailable,
}


def from_http_exception(exc: HTTPException) -> GraphError:
    """Map a werkzeug HTTP error (routing's 404/405, the 413 of the size limit) to a GraphError."""
    status = exc.code or 500
    cls = _HTTP_EXCEPTIONS.get(status, InternalError if status >= 500 else BadRequest)
    messages = {
        404: "Resource not found for the segment in the request URL.",
        405: "The HTTP method is not allowed on this resource.",
        413: "The request body is larger than the limit.",
    }
    error = cls(messages.get(status, exc.description or exc.name))
    valid = getattr(exc, "valid_methods", None)
    if status == 405 and valid:
        error.headers["Allow"] = ", ".join(sorted(valid))
    return error


def graph_date(now: datetime | None = None) -> str:
    """The ``innerError.date`` format Graph uses: UTC, seconds, no offset."""
    moment = now or datetime.now(UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def error_body(
    error: GraphError,
    *,
    request_id: str,
    client_request_id: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The one shape of every error answer."""
    return {
        "error": {
            "code": error.code,
            "message": error.message,
            "innerError": {
                "date": graph_date(now),
                "request-id": request_id,
                "client-request-id": client_request_id,
            },
        }
    }
