"""The request journal: the exchanges the app answered, in a ring bounded by count
(``Config.journal_size``) and by the bytes they keep (``Config.journal_bytes``), the oldest
leaving first. An exchange is kept raw and decoded and redacted when the journal is read."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from itertools import chain
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from flask import Request, Response
from werkzeug.datastructures import EnvironHeaders
from werkzeug.exceptions import HTTPException
from werkzeug.wsgi import get_content_length

from mockgraph.features.redact import read_body, redact_headers, redact_query
from mockgraph.http.facts import DELAY_KEY, Facts

if TYPE_CHECKING:
    from mockgraph.state import MockGraph


@dataclass(frozen=True)
class Entry:
    """One exchange as the journal shows it, secrets redacted."""

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
    duration_ms: float  #: from arrival until the answer left, injected delay included
    violations: list[str] = field(default_factory=list)
    #: The injected fault, if any: ``{"status", "retry_after", "rule", "delay_ms"}``.
    fault: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def error_code(self) -> str | None:
        """Graph's error ``code`` of an error answer."""
        body = self.response_body
        error = body.get("error") if isinstance(body, dict) else None
        return error.get("code") if isinstance(error, dict) else None


@dataclass(slots=True, repr=False, eq=False, kw_only=True)
class Exchange:
    """The raw facts of one exchange, for the journal and the recorder: nothing decoded or
    redacted, so they hold secrets and never show them (not even in a repr). ``headers`` are
    the request's WSGI header variables (``HTTP_*``, ``CONTENT_*``)."""

    method: str
    path: str
    query_string: bytes
    headers: dict[str, str]
    data: bytes | None
    status: int
    response_headers: tuple[tuple[str, str], ...]
    response_data: bytes | None
    operation: str | None
    secrets: frozenset[str] = frozenset()
    violations: Sequence[str] = ()
    fault: dict[str, Any] | None = None
    time: float = 0.0
    monotonic: float = 0.0
    elapsed: float = 0.0

    def __repr__(self) -> str:
        return f"<Exchange {self.method} {self.path} {self.status}>"

    @classmethod
    def of(cls, req: Request, **facts: Any) -> Exchange:
        """The exchange of ``req`` and ``facts``: its request line, query and header variables,
        and no request, stream or server object that would stay alive with it."""
        headers = {
            k: v
            for k, v in req.environ.items()
            if k.startswith(("HTTP_", "CONTENT_")) and isinstance(v, str)
        }
        return cls(
            method=req.method,
            path=req.path,
            query_string=req.query_string,
            headers=headers,
            **facts,
        )

    def weight(self) -> int:
        """The bytes this exchange keeps: request line and query, headers, both bodies."""
        headers = self.headers
        return (
            len(self.method)
            + len(self.path)
            + len(self.query_string)
            + sum(map(len, headers))
            + sum(map(len, headers.values()))
            + sum(map(len, chain.from_iterable(self.response_headers)))
            + len(self.data or b"")
            + len(self.response_data or b"")
        )

    def entry(self, seq: int) -> Entry:
        """The redacted :class:`Entry` of these facts."""
        query: dict[str, list[str]] = {}
        pairs = parse_qsl(self.query_string.decode("utf-8", "replace"), keep_blank_values=True)
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


class Journal:
    """A thread-safe ring of exchanges: at most ``size`` of them (none with ``size`` 0), the
    oldest leaving while they weigh more than ``max_bytes`` (``None``: no bound); the newest
    always stays."""

    def __init__(self, size: int, max_bytes: int | None = None) -> None:
        self.size = size
        self.max_bytes = max_bytes
        self.kept_bytes = 0  #: what the exchanges kept weigh now
        self._lock = threading.Lock()
        self._ring: deque[tuple[int, Exchange, int]] = deque()
        self._seq = 0

    def record(self, exchange: Exchange) -> None:
        """Keep ``exchange`` under the next sequence number."""
        if self.size <= 0:
            return
        weight = exchange.weight()
        budget = self.max_bytes
        with self._lock:
            self._seq += 1
            ring = self._ring
            ring.append((self._seq, exchange, weight))
            self.kept_bytes += weight
            while len(ring) > 1 and (
                len(ring) > self.size or (budget is not None and self.kept_bytes > budget)
            ):
                self.kept_bytes -= ring.popleft()[2]

    def clear(self) -> None:
        with self._lock:
            self._ring.clear()
            self.kept_bytes = 0

    def entries(
        self, *, operation: str | None = None, method: str | None = None, limit: int | None = None
    ) -> list[Entry]:
        """The entries kept, oldest first: only those of ``operation`` and ``method`` when
        given, only the newest ``limit`` of them when given (chosen before any is decoded)."""
        with self._lock:
            kept = list(self._ring)
        chosen = [
            (seq, exchange)
            for seq, exchange, _ in kept
            if operation in (None, exchange.operation)
            and (method is None or exchange.method == method.upper())
        ]
        if limit is not None:
            chosen = chosen[len(chosen) - limit :] if limit else []
        return [exchange.entry(seq) for seq, exchange in chosen]

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries())

    def __len__(self) -> int:
        return len(self._ring)


def request_data(req: Request, limit: int) -> bytes | None:
    """The request body's bytes, unless there is none or it is over ``limit`` (never read what
    the app refused to read). Already read by the app, they cost nothing."""
    length = get_content_length(req.environ)
    if length == 0 or (length is not None and length > limit):
        return None
    # Without Content-Length or Transfer-Encoding a request has no body (RFC 9112, 6.3).
    if length is None and "HTTP_TRANSFER_ENCODING" not in req.environ:
        return None
    try:
        return req.get_data(cache=True)
    except HTTPException:  # a chunked body over the limit
        return None


def record(mock: MockGraph, req: Request, known: Facts, response: Response) -> None:
    """The after step: keep the exchange in the app's journal."""
    if mock.journal.size <= 0:
        return
    operation = known.operation
    elapsed = time.perf_counter() - known.started + (req.environ.get(DELAY_KEY) or 0.0)
    content_type = response.headers.get("Content-Type", "")
    is_json = content_type.startswith("application/json") and not response.is_streamed
    mock.journal.record(
        Exchange.of(
            req,
            time=known.arrived,
            monotonic=time.monotonic() - elapsed,
            elapsed=elapsed,
            data=request_data(req, mock.config.max_body_bytes),
            status=response.status_code,
            response_headers=tuple(response.headers.items()),
            response_data=response.get_data() if is_json else None,
            operation=operation.id if operation else req.endpoint,
            secrets=operation.secrets if operation else mock.all_secrets,
            violations=known.violations,
            fault=known.fault,
        )
    )
