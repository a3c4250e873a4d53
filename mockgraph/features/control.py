"""The control API under ``/_mockgraph/`` (no bearer token): reset, the request journal, the
items as a state document, a health check and a settable clock. It answers programs, never web
pages: a request from another ``Origin`` is refused (403) and no answer grants CORS."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Flask, Request, Response, current_app, request

from mockgraph.config import CONTROL_PATH
from mockgraph.features.redact import redact_body
from mockgraph.features.statefile import InvalidState, parse_document
from mockgraph.http.errors import AccessDenied, BadRequest
from mockgraph.http.intake import is_loopback
from mockgraph.http.parsing import read_object
from mockgraph.http.rendering import no_content, plain_json

if TYPE_CHECKING:
    from mockgraph.state import MockGraph

_LIMIT = re.compile(r"[0-9]{1,9}")  # ASCII digits only: int() would take "²" and "٣"
_FLAGS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}

bp = Blueprint("control", __name__, url_prefix=CONTROL_PATH)


def guard(req: Request) -> None:
    """The request step: a request to the control API that a web page sent (an ``Origin``
    that is not this server's own) is refused before anything runs."""
    if not req.path.startswith(CONTROL_PATH + "/"):
        return
    origin = req.environ.get("HTTP_ORIGIN")
    if origin is not None and origin != f"{req.scheme}://{req.host}":
        raise AccessDenied("The control API does not answer web pages of other origins.")


def _mock(allowed: Iterable[str] | None = None) -> MockGraph:
    """The app's bundle, after refusing a query parameter not in ``allowed`` (if given)."""
    unknown = sorted(set(request.args) - set(allowed)) if allowed is not None else None
    if unknown:
        raise BadRequest(f"The query parameter '{unknown[0]}' is not supported here.")
    mock: MockGraph = current_app.extensions["mockgraph"]
    return mock


@bp.post("/reset")
def reset_view() -> Response:
    """The stores as at start, the journal cleared, the clock and fault counters reset."""
    _mock().reset()
    return no_content()


@bp.get("/requests")
def list_requests() -> Response:
    """The journal, oldest first; ``?operation=``, ``?method=``, ``?limit=N`` (the newest N)."""
    mock = _mock(("operation", "method", "limit"))
    operation, method = request.args.get("operation"), request.args.get("method")
    limit = request.args.get("limit")
    if limit is not None and not _LIMIT.fullmatch(limit):
        raise BadRequest("The query parameter 'limit' must be a whole number, 0 or more.")
    entries = mock.journal.entries(
        operation=operation, method=method, limit=int(limit) if limit is not None else None
    )
    return plain_json({"requests": [e.to_json() for e in entries]})


@bp.delete("/requests")
def clear_requests() -> Response:
    _mock(()).journal.clear()
    return no_content()


@bp.get("/state")
def get_state() -> Response:
    """The items as a state document, secrets redacted; ``?secrets=true`` (clients on this
    machine only: ``--allow-remote`` must not hand them to the network) for one that loads."""
    mock = _mock(("secrets",))
    secrets = _FLAGS.get(request.args.get("secrets", "false").strip().lower())
    if secrets is None:
        raise BadRequest("The query parameter 'secrets' must be true or false.")
    if not secrets:
        return plain_json(redact_body(mock.state_document()))
    if not is_loopback(request.remote_addr or ""):
        raise AccessDenied("Secrets are only given to clients on the same machine.")
    return plain_json(mock.state_document())


@bp.post("/state")
def put_state() -> Response:
    """Replace every item with a state document, checked whole first."""
    mock = _mock(())
    body = read_object(request, mock.config.max_body_bytes)
    try:
        mock.load(parse_document(body, mock.resources, "The state document"))
    except InvalidState as exc:
        raise BadRequest(str(exc)) from None
    return no_content()


@bp.get("/health")
def health() -> Response:
    return plain_json({"status": "ok", **{name: len(s) for name, s in _mock().stores.items()}})


def clock_view(now: float) -> dict[str, Any]:
    """``{"now": seconds, "iso": "YYYY-MM-DDTHH:MM:SSZ"}`` (the ISO form to the second)."""
    iso = datetime.fromtimestamp(math.floor(now), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"now": now, "iso": iso}


def parse_clock(value: Any) -> float | None:
    """``None``, seconds since the epoch, or an ISO 8601 date-time (UTC without an offset)
    -> seconds or ``None``. Raises :class:`BadRequest`."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise BadRequest(
                "The property 'now' is not an ISO 8601 date-time, e.g. '2030-01-01T00:00:00Z'."
            ) from None
        value = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    elif isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRequest(
            "The property 'now' must be a number of seconds, an ISO 8601 string or null."
        )
    try:
        datetime.fromtimestamp(value, UTC)
    except (OverflowError, ValueError, OSError):
        raise BadRequest("The property 'now' is out of range (years 1 to 9999).") from None
    return float(value)


@bp.get("/clock")
def get_clock() -> Response:
    return plain_json(clock_view(_mock().clock.now()))


@bp.post("/clock")
def set_clock() -> Response:
    """``{"now": <seconds or ISO 8601>}`` freezes the clock; ``null`` frees it."""
    mock = _mock()
    body = read_object(request, mock.config.max_body_bytes)
    unknown = sorted(set(body) - {"now"})
    if unknown:
        raise BadRequest(f"The property '{unknown[0]}' does not exist on the clock.")
    if "now" not in body:
        raise BadRequest("The property 'now' is required.")
    mock.clock.set(parse_clock(body["now"]))
    return plain_json(clock_view(mock.clock.now()))


def register(app: Flask) -> None:
    """Serve the control API on ``app`` at :data:`~mockgraph.config.CONTROL_PATH`."""
    app.register_blueprint(bp)
