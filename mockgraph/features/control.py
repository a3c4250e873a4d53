"""The control API under ``/_mockgraph/`` (never under ``/beta``, no bearer token): reset, the
request journal, the stored key sets as a state document, a health check and a settable clock,
for clients outside Python (frontend dev servers, other languages).

=========================  =====================================================================
``POST /reset``            the store as at start, the journal cleared, the clock as configured
``GET /requests``          the journal (redacted), oldest first: ``{"requests": [...]}``;
                           ``?operation=``, ``?method=``, ``?limit=N`` (the newest N)
``DELETE /requests``       clear the journal
``GET /state``             the key sets as a state document, secrets redacted;
                           ``?secrets=true`` (loopback clients only) for a file that reloads
``POST /state``            replace every key set with a state document (checked whole first)
``GET /health``            ``{"status": "ok", "keySets": N}``
``GET /clock``             ``{"now": <seconds>, "iso": "...Z"}``
``POST /clock``            ``{"now": <seconds or ISO 8601>}`` freezes the clock; ``null`` frees it
=========================  =====================================================================

Writes answer 204 except ``POST /clock``, which answers the new clock as ``GET`` does. Every
problem is a Graph-shaped error from the app's one renderer, and changes nothing.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Flask, Response, request

from mockgraph.config import CONTROL_PATH
from mockgraph.features.journal import Entry, journal_of
from mockgraph.features.redact import redact_body
from mockgraph.features.statefile import InvalidState, parse_state, seed_of, state_document
from mockgraph.http import parsing
from mockgraph.http.errors import AccessDenied, BadRequest
from mockgraph.http.rendering import dumps
from mockgraph.state import MockGraph, mockgraph

SERVICE = "control"
JSON = "application/json"
#: The range of clock values a ``datetime`` can show (years 1 to 9999).
_CLOCK_RANGE = (-62135596800.0, 253402300799.0)
_CLOCK_TYPE = "The property 'now' must be a number of seconds, an ISO 8601 string or null."
_TRUE = {"1", "true", "yes"}
_FALSE = {"0", "false", "no"}

bp = Blueprint("control", __name__, url_prefix=CONTROL_PATH)


def reset(state: MockGraph) -> None:
    """What ``POST /reset`` and ``MockGraphServer.reset()`` do: the store back to how the app
    started (empty, or the key sets of ``Config.state``) and its clock back to ``Config.clock``,
    the journal cleared, and every service with a ``reset()`` method (e.g. the fault counters)
    reset. Rules and settings from the Config stay."""
    state.store.reset()
    seed = seed_of(state)
    if seed:
        state.store.load(seed)
    journal = state.services.get("journal")
    if journal is not None:
        journal.clear()
    for service in state.services.values():
        method = getattr(service, "reset", None)
        if callable(method):
            method()


def _json(body: Any, status: int = 200) -> Response:
    return Response(dumps(body), status=status, content_type=JSON)


def _no_content() -> Response:
    return Response(status=204)


def _only(allowed: Iterable[str]) -> None:
    unknown = sorted(set(request.args) - set(allowed))
    if unknown:
        raise BadRequest(f"The query parameter '{unknown[0]}' is not supported here.")


def _flag(name: str) -> bool:
    raw = request.args.get(name, "false").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise BadRequest(f"The query parameter '{name}' must be true or false.")


def _body() -> dict[str, Any]:
    return parsing.require_object(
        parsing.read_json(
            request.get_data(cache=True),
            request.content_type,
            request.content_length,
            mockgraph().config.max_body_bytes,
        )
    )


@bp.post("/reset")
def reset_view() -> Response:
    reset(mockgraph())
    return _no_content()


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
    if limit is not None:
        chosen = chosen[len(chosen) - limit :] if limit else []
    return chosen


@bp.get("/requests")
def list_requests() -> Response:
    _only(("operation", "method", "limit"))
    raw_limit = request.args.get("limit")
    limit: int | None = None
    if raw_limit is not None:
        if not raw_limit.isdigit() or len(raw_limit) > 9:
            raise BadRequest("The query parameter 'limit' must be a whole number, 0 or more.")
        limit = int(raw_limit)
    entries = select_entries(
        journal_of(mockgraph()).entries(),
        operation=request.args.get("operation"),
        method=request.args.get("method"),
        limit=limit,
    )
    return _json({"requests": [e.to_json() for e in entries]})


@bp.delete("/requests")
def clear_requests() -> Response:
    _only(())
    journal_of(mockgraph()).clear()
    return _no_content()


def _is_loopback(address: str | None) -> bool:
    try:
        return address is not None and ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


@bp.get("/state")
def get_state() -> Response:
    # Redacted by default: "never echo secrets", and this path needs no token. A dump that
    # reloads needs the secrets, so ?secrets=true gives them, but only to a client on this
    # machine (a server started with --allow-remote must not hand them to the network).
    _only(("secrets",))
    document = state_document(mockgraph().store)
    if not _flag("secrets"):
        return _json(redact_body(document))
    if not _is_loopback(request.remote_addr):
        raise AccessDenied("Key set secrets are only given to clients on the same machine.")
    return _json(document)


@bp.post("/state")
def put_state() -> Response:
    _only(())
    try:
        keysets = parse_state(_body(), "The state document")
    except InvalidState as exc:
        raise BadRequest(str(exc)) from None
    mockgraph().store.load(keysets)
    return _no_content()


@bp.get("/health")
def health() -> Response:
    return _json({"status": "ok", "keySets": len(mockgraph().store)})


def clock_view(now: float) -> dict[str, Any]:
    """``{"now": seconds, "iso": "YYYY-MM-DDTHH:MM:SSZ"}`` (the ISO form to the second)."""
    iso = datetime.fromtimestamp(math.floor(now), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"now": now, "iso": iso}


def parse_clock(value: Any) -> float | None:
    """``None``, seconds since the epoch, or an ISO 8601 date-time (UTC when it has no offset)
    -> seconds or ``None``. Raises :class:`BadRequest`."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise BadRequest(_CLOCK_TYPE)
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise BadRequest(
                "The property 'now' is not an ISO 8601 date-time, e.g. '2030-01-01T00:00:00Z'."
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        seconds = moment.timestamp()
    else:
        raise BadRequest(_CLOCK_TYPE)
    if not (math.isfinite(seconds) and _CLOCK_RANGE[0] <= seconds <= _CLOCK_RANGE[1]):
        raise BadRequest("The property 'now' is out of range (years 1 to 9999).")
    return seconds


@bp.get("/clock")
def get_clock() -> Response:
    return _json(clock_view(mockgraph().store.now()))


@bp.post("/clock")
def set_clock() -> Response:
    body = _body()
    unknown = sorted(set(body) - {"now"})
    if unknown:
        raise BadRequest(f"The property '{unknown[0]}' does not exist on the clock.")
    if "now" not in body:
        raise BadRequest("The property 'now' is required.")
    store = mockgraph().store
    store.set_clock(parse_clock(body["now"]))
    return _json(clock_view(store.now()))


def install(app: Flask, state: MockGraph) -> None:
    """Serve the control API on ``app`` at :data:`~mockgraph.config.CONTROL_PATH`."""
    app.register_blueprint(bp)
    state.services[SERVICE] = CONTROL_PATH
