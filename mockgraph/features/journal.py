"""The request journal: every exchange the app answered, secrets redacted, in a ring bounded
twice so a long run cannot exhaust memory: by count (``Config.journal_size``) and by the bytes it
keeps of each exchange (``Config.journal_bytes``: request line and query, headers of both sides
and both bodies), the oldest exchanges leaving first.

Recording an exchange keeps its raw facts (the request's headers and body bytes, the answer's
headers and bytes); decoding and redaction happen when the journal is first read, once
per exchange, so the request path pays a few microseconds.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from flask import Response, request
from werkzeug.datastructures import EnvironHeaders
from werkzeug.exceptions import HTTPException

from mockgraph.features.redact import read_body, redact_headers, redact_query
from mockgraph.http.facts import DELAY_KEY, Facts

if TYPE_CHECKING:
    from mockgraph.state import MockGraph


@dataclass(frozen=True)
class Entry:
    """One exchange as the journal shows it."""

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
    #: From arrival until the answer left, injected delay included.
    duration_ms: float
    violations: list[str] = field(default_factory=list)
    #: The fault injected into this exchange, if any: ``{"status", "retry_after", "rule", ...}``.
    fault: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def error_code(self) -> str | None:
        """Graph's error ``code`` of an error answer."""
        body = self.response_body
        error = body.get("error") if isinstance(body, dict) else None
        return error.get("code") if isinstance(error, dict) else None


@dataclass(slots=True, repr=False, eq=False)
class Exchange:
    """The raw facts of one exchange, as the request path captured them: nothing decoded or
    redacted, so they hold secrets and never leave the journal (not even in a repr).
    ``headers`` are the request's WSGI header variables (``HTTP_*``, ``CONTENT_*``) only."""

    time: float
    monotonic: float
    elapsed: float
    method: str
    path: str
    query_string: bytes
    headers: dict[str, str]
    data: bytes | None
    status: int
    response_headers: tuple[tuple[str, str], ...]
    response_data: bytes | None
    operation: str | None
    secrets: frozenset[str]
    violations: Sequence[str]
    fault: dict[str, Any] | None

    def __repr__(self) -> str:
        return f"<Exchange {self.method} {self.path} {self.status}>"

    @classmethod
    def capture(cls, environ: Mapping[str, Any], **facts: Any) -> Exchange:
        """An exchange holding the request headers of ``environ`` and nothing else of it (no
        request, stream or server object stays alive through the journal)."""
        headers = {
            k: v
            for k, v in environ.items()
            if k.startswith(("HTTP_", "CONTENT_")) and isinstance(v, str)
        }
        return cls(headers=headers, **facts)

    def weight(self) -> int:
        """The bytes this exchange keeps: request line and query, headers, both bodies."""
        return (
            len(self.method)
            + len(self.path)
            + len(self.query_string)
            + sum(len(k) + len(v) for k, v in self.headers.items())
            + sum(len(k) + len(v) for k, v in self.response_headers)
            + len(self.data or b"")
            + len(self.response_data or b"")
        )

    def entry(self, seq: int) -> Entry:
        """The redacted :class:`Entry` of these facts."""
        pairs = parse_qsl(self.query_string.decode("utf-8", "replace"), keep_blank_values=True)
        query: dict[str, list[str]] = {}
        for name, value in redact_query(pairs):
            query.setdefault(name, []).append(value)
        return Entry(
            seq=seq,
            time=self.time,
            monotonic=self.monotonic,
            method=self.method,
            path=self.path,
            query=query,
            headers=redact_headers(EnvironHeaders(self.headers).items()),
            body=read_body(self.data, secrets=self.secrets),
            status=self.status,
            response_headers=redact_headers(self.response_headers),
            response_body=read_body(self.response_data),
            operation=self.operation,
            duration_ms=round(self.elapsed * 1000, 3),
            violations=list(self.violations),
            fault=self.fault,
        )


class _Slot:
    """One place in the ring: the raw facts until first read, then only their Entry."""

    __slots__ = ("seq", "_exchange", "_entry", "nbytes")

    def __init__(self, seq: int, exchange: Exchange, nbytes: int) -> None:
        self.seq, self.nbytes = seq, nbytes
        self._exchange: Exchange | None = exchange
        self._entry: Entry | None = None

    def entry(self) -> Entry:
        # Two readers may build the same Entry at once: both are equal and either is kept.
        exchange = self._exchange
        if exchange is None:
            assert self._entry is not None
            return self._entry
        self._entry = exchange.entry(self.seq)
        self._exchange = None
        return self._entry


class Journal:
    """A thread-safe ring of exchanges, oldest dropped first: at most ``size`` of them (none
    with ``size`` 0), and while they weigh more than ``max_bytes`` (``None``: no bound) the
    oldest leave; the newest is always kept."""

    def __init__(self, size: int, max_bytes: int | None = None) -> None:
        self._lock = threading.Lock()
        self._slots: deque[_Slot] = deque()
        self.size = size
        self.max_bytes = max_bytes
        self._budget = sys.maxsize if max_bytes is None else max_bytes
        self._bytes = 0
        self._seq = 0

    @property
    def kept_bytes(self) -> int:
        """What the exchanges kept weigh now."""
        with self._lock:
            return self._bytes

    def record(self, exchange: Exchange) -> None:
        """Keep ``exchange`` under the next sequence number; it becomes an :class:`Entry` when
        first read."""
        if self.size <= 0:
            return
        nbytes = exchange.weight()
        with self._lock:
            self._seq += 1
            slots = self._slots
            slots.append(_Slot(self._seq, exchange, nbytes))
            self._bytes += nbytes
            # Dropped slots are freed after the lock is released: freeing takes longer.
            dropped = []
            while len(slots) > 1 and (len(slots) > self.size or self._bytes > self._budget):
                dropped.append(slots.popleft())
                self._bytes -= dropped[-1].nbytes
        del dropped

    def clear(self) -> None:
        with self._lock:
            dropped, self._slots, self._bytes = self._slots, deque(), 0
        del dropped

    def entries(self) -> list[Entry]:
        """Every entry kept, oldest first (built outside the lock: recording never waits)."""
        with self._lock:
            kept = list(self._slots)
        return [slot.entry() for slot in kept]

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries())

    def __len__(self) -> int:
        with self._lock:
            return len(self._slots)


def request_data(limit: int) -> bytes | None:
    """The request body's bytes, unless there is none or it is over ``limit`` (never read
    what the app refused to read). Already read by the app, they cost nothing."""
    length = request.content_length
    if length == 0 or (length is not None and length > limit):
        return None
    # Without Content-Length or Transfer-Encoding a request has no body (RFC 9112, 6.3).
    if length is None and "HTTP_TRANSFER_ENCODING" not in request.environ:
        return None
    try:
        return request.get_data(cache=True)
    except HTTPException:  # a chunked body over the limit
        return None


def record(mock: MockGraph, known: Facts, response: Response) -> None:
    """The after step: keep the exchange in the app's journal."""
    if mock.journal.size <= 0:
        return
    operation = known.operation
    elapsed = time.perf_counter() - known.started + (request.environ.get(DELAY_KEY) or 0.0)
    answer = None if response.is_streamed or not response.is_json else response.get_data()
    mock.journal.record(
        Exchange.capture(
            request.environ,
            time=known.arrived,
            monotonic=time.monotonic() - elapsed,
            elapsed=elapsed,
            method=request.method,
            path=request.path,
            query_string=request.query_string,
            data=request_data(mock.config.max_body_bytes),
            status=response.status_code,
            response_headers=tuple(response.headers.items()),
            response_data=answer,
            operation=operation.id if operation else request.endpoint,
            secrets=operation.secrets if operation else mock.all_secrets,
            violations=known.violations,
            fault=known.fault,
        )
    )
