"""The request journal: every exchange the app answered, secrets redacted, in a bounded ring
(``Config.journal_size``) so a long run cannot exhaust memory."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from .config import CONTROL_PATH
from .redact import decode_body, redact_body, redact_headers
from .state import MockGraph

SERVICE = "journal"


@dataclass(frozen=True)
class Entry:
    """One exchange as the journal keeps it."""

    seq: int
    time: float  #: wall clock, seconds since the epoch, when the request arrived
    monotonic: float  #: ``time.monotonic()`` when the request arrived (for Retry-After checks)
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    status: int
    response_headers: dict[str, str]
    response_body: Any
    operation: str | None
    duration_ms: float
    violations: list[str] = field(default_factory=list)
    #: The fault injected into this exchange, if any: ``{"status", "retry_after", "rule"}``.
    fault: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Journal:
    """A thread-safe ring of :class:`Entry`, oldest dropped first."""

    def __init__(self, size: int) -> None:
        self._lock = threading.Lock()
        self._entries: deque[Entry] = deque(maxlen=max(size, 0) or None)
        self._size = size
        self._seq = 0

    def next_seq(self) -> int:
        with self._lock:
            self._seq += 1
            return self._seq

    def add(self, entry: Entry) -> None:
        if self._size <= 0:
            return
        with self._lock:
            self._entries.append(entry)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def entries(self) -> list[Entry]:
        with self._lock:
            return list(self._entries)

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries())

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


def journal_of(state: MockGraph) -> Journal:
    journal: Journal = state.services[SERVICE]
    return journal


def _request_body(limit: int) -> Any:
    """The request body as JSON (or text), unless it is over the limit: never read what the
    app refused to read."""
    length = request.content_length
    if length == 0 or (length is not None and length > limit):
        return None
    try:
        return decode_body(request.get_data(cache=True))[0]
    except HTTPException:
        return None


def install(app: Flask, state: MockGraph) -> None:
    """Keep a journal in ``state.services["journal"]`` and record every exchange into it."""
    journal = Journal(state.config.journal_size)
    state.services[SERVICE] = journal

    @app.before_request
    def _arrived() -> None:
        g.journal_started = (time.time(), time.monotonic(), time.perf_counter())

    @app.after_request
    def _record(response: Response) -> Response:
        if request.path.startswith(CONTROL_PATH + "/"):
            # The control API reads and clears the journal: its own calls would only crowd it.
            return response
        started = g.get("journal_started") or (time.time(), time.monotonic(), time.perf_counter())
        operation = (request.endpoint or "").removeprefix("graph.") or None
        body = _request_body(state.config.max_body_bytes)
        if "response_body" in g:
            response_body = g.response_body
        elif response.is_json:
            response_body = decode_body(response.get_data())[0]
        else:
            response_body = None
        journal.add(
            Entry(
                seq=journal.next_seq(),
                time=started[0],
                monotonic=started[1],
                method=request.method,
                path=request.path,
                query={k: request.args.getlist(k) for k in request.args},
                headers=redact_headers(request.headers),
                body=redact_body(body, operation=operation),
                status=response.status_code,
                response_headers=redact_headers(response.headers),
                response_body=redact_body(response_body),
                operation=operation,
                duration_ms=round((time.perf_counter() - started[2]) * 1000, 3),
                violations=list(g.get("contract_violations", [])),
                fault=g.get("injected_fault"),
            )
        )
        return response
