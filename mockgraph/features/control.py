"""The control API under ``/_mockgraph/`` (never under ``/beta``, no bearer token): reset, the
request journal, the stored items as a state document, a health check and a settable clock,
for clients outside Python (frontend dev servers, other languages).

=========================  =====================================================================
``POST /reset``            the stores as at start, the journal cleared, the clock as configured
``GET /requests``          the journal (redacted), oldest first: ``{"requests": [...]}``;
                           ``?operation=``, ``?method=``, ``?limit=N`` (the newest N)
``DELETE /requests``       clear the journal
``GET /state``             the items as a state document, secrets redacted;
                           ``?secrets=true`` (loopback clients only) for a file that reloads
``POST /state``            replace every item with a state document (checked whole first)
``GET /health``            ``{"status": "ok", "keySets": N}``
``GET /clock``             ``{"now": <seconds>, "iso": "...Z"}``
``POST /clock``            ``{"now": <seconds or ISO 8601>}`` freezes the clock; ``null`` frees it
=========================  =====================================================================

It answers programs, never web pages: a request carrying an ``Origin`` other than the server's
own is refused (403), whatever its method or content type, and no answer grants CORS; the
``Host`` check on arrival keeps DNS-rebinding pages out. Every problem is a Graph-shaped error
from the one renderer, and changes nothing.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Flask, Response, current_app, request

from mockgraph.config import CONTROL_PATH
from mockgraph.features.journal import Entry
from mockgraph.features.redact import redact_body
from mockgraph.features.statefile import InvalidState, parse_document
from mockgraph.http.errors import AccessDenied, BadRequest
from mockgraph.http.parsing import read_object
from mockgraph.http.rendering import no_content, plain_json

if TYPE_CHECKING:
    from mockgraph.state import MockGraph

#: The range of clock values a ``datetime`` can show (years 1 to 9999).
_CLOCK_RANGE = (-62135596800.0, 253402300799.0)
#: ASCII digits only (``str.isdigit`` also takes "²", which ``int`` refuses).
_LIMIT = re.compile(r"[0-9]{1,9}")
_CLOCK_TYPE = "The property 'now' must be a number of seconds, an ISO 8601 string or null."

bp = Blueprint("control", __name__, url_prefix=CONTROL_PATH)


def guard() -> None:
    """The request step: a request to the control API that a web page sent (an ``Origin``
    that is not this server's own) is refused before anything runs."""
    if not request.path.startswith(CONTROL_PATH + "/"):
        return
    origin = request.headers.get("Origin")
    if origin is not None and origin != f"{request.scheme}://{request.host}":
        raise AccessDenied("The control API does not answer web pages of other origins.")


def _mock() -> MockGraph:
    mock: MockGraph = current_app.extensions["mockgraph"]
    return mock


def _only(allowed: Iterable[str]) -> None:
    unknown = sorted(set(request.args) - set(allowed))
    if unknown:
        raise BadRequest(f"The query parameter '{unknown[0]}' is not supported here.")


def _flag(name: str) -> bool:
    raw = request.args.get(name, "false").strip().lower()
    if raw in {"1", "true", "yes"}:
        return True
    if raw in {"0", "false", "no"}:
        return False
    raise BadRequest(f"The query parameter '{name}' must be true or false.")


@bp.post("/reset")
def reset_view() -> Response:
    _mock().reset()
    return no_content()


def select_entries(
    entries: list[Entry],
    *,
    operation: str | None = None,
    method: str | None = None,
    limit: int | None = None,
) -> list[Entry]:
    """The entries (oldest first) of ``operation`` and ``method`` (any when ``None``); with
    ``limit``, only the newest ``limit`` of them."""
    chosen = [
        e
        for e in entries
        if (operation is None or e.operation == operation)
        and (method is None or e.method == method.upper())
    ]
    if limit is None:
        return chosen
    return chosen[-limit:] if limit else []


@bp.get("/requests")
def list_requests() -> Response:
    _only(("operation", "method", "limit"))
    raw_limit = request.args.get("limit")
    if raw_limit is not None and not _LIMIT.fullmatch(raw_limit):
        raise BadRequest("The query parameter 'limit' must be a whole number, 0 or more.")
    entries = select_entries(
        _mock().journal.entries(),
        operation=request.args.get("operation"),
        method=request.args.get("method"),
        limit=int(raw_limit) if raw_limit is not None else None,
    )
    return plain_json({"requests": [e.to_json() for e in entries]})


@bp.delete("/requests")
def clear_requests() -> Response:
    _only(())
    _mock().journal.clear()
    return no_content()


def _is_loopback(address: str | None) -> bool:
    try:
        return address is not None and ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


@bp.get("/state")
def get_state() -> Response:
    # Redacted unless asked for; the secrets only to a client on this machine (a server
    # started with --allow-remote must not hand them to the network).
    _only(("secrets",))
    document = _mock().state_document()
    if not _flag("secrets"):
        return plain_json(redact_body(document))
    if not _is_loopback(request.remote_addr):
        raise AccessDenied("Secrets are only given to clients on the same machine.")
    return plain_json(document)


@bp.post("/state")
def put_state() -> Response:
    _only(())
    mock = _mock()
    body = read_object(request, mock.config.max_body_bytes)
    try:
        items = parse_document(body, mock.resources, "The state document")
    except InvalidState as exc:
        raise BadRequest(str(exc)) from None
    mock.load(items)
    return no_content()


@bp.get("/health")
def health() -> Response:
    return plain_json(
        {"status": "ok", **{name: len(store) for name, store in _mock().stores.items()}}
    )


def clock_view(now: float) -> dict[str, Any]:
    """``{"now": seconds, "iso": "YYYY-MM-DDTHH:MM:SSZ"}`` (the ISO form to the second)."""
    iso = datetime.fromtimestamp(math.floor(now), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"now": now, "iso": iso}


def parse_clock(value: Any) -> float | None:
    """``None``, seconds since the epoch, or an ISO 8601 date-time (UTC when it has no offset)
    -> seconds or ``None``. Raises :class:`BadRequest`."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise BadRequest(_CLOCK_TYPE)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise BadRequest(
                "The property 'now' is not an ISO 8601 date-time, e.g. '2030-01-01T00:00:00Z'."
            ) from None
        seconds = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    else:
        seconds = float(value)
    if not (math.isfinite(seconds) and _CLOCK_RANGE[0] <= seconds <= _CLOCK_RANGE[1]):
        raise BadRequest("The property 'now' is out of range (years 1 to 9999).")
    return seconds


@bp.get("/clock")
def get_clock() -> Response:
    return plain_json(clock_view(_mock().clock.now()))


@bp.post("/clock")
def set_clock() -> Response:
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
