"""The request journal: every exchange the app answered, secrets redacted, in a ring bounded
twice so a long run cannot exhaust memory: by count (``Config.journal_size``) and by the bytes
of the bodies it keeps (``Config.journal_bytes``), the oldest exchanges leaving first.

Recording costs a few microseconds (issue 6): the request thread keeps only raw facts (a copy
of the WSGI environ, the body bytes, the response's header pairs and body object); decoding
and redaction wait until someone reads the journal, and happen once per exchange."""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qsl

from flask import Flask, Request, Response
from werkzeug.datastructures import EnvironHeaders, MultiDict
from werkzeug.exceptions import HTTPException
from werkzeug.wsgi import get_content_length

from mockgraph.config import CONTROL_PATH
from mockgraph.features.redact import decode_body, redact_body, redact_headers
from mockgraph.state import MockGraph

if TYPE_CHECKING:
    from flask.ctx import _AppCtxGlobals

SERVICE = "journal"
#: The key in ``g`` of ``time.perf_counter()`` when the request arrived (the app's first hook
#: sets it).
STARTED = "started"


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


@dataclass(slots=True, repr=False, eq=False)
class Exchange:
    """The raw facts of one exchange, as the request thread captured them: nothing decoded,
    nothing redacted, so they hold secrets and never leave the journal (not even in a repr).
    The app must not mutate the objects it hands over (``g.response_body``,
    ``g.contract_violations``, ``g.injected_fault``) once it has answered."""

    time: float
    monotonic: float
    elapsed: float  #: seconds from arrival to the journal's after_request hook
    method: str
    path: str
    query_string: bytes
    #: A shallow copy of the WSGI environ (the request headers are its ``HTTP_*`` and
    #: ``CONTENT_*`` keys), without the request object and the streams: the journal keeps no
    #: request alive.
    environ: dict[str, Any]
    data: bytes | None  #: the request body, ``None`` when not read (absent or over the limit)
    status: int
    response_headers: tuple[tuple[str, str], ...]
    response_body: Any  #: the body object the app rendered, for an answer that is not JSON
    response_data: bytes | None  #: the JSON answer's bytes
    endpoint: str | None
    violations: Sequence[str] | None
    fault: dict[str, Any] | None

    def __repr__(self) -> str:
        return f"<Exchange {self.method} {self.path} {self.status}>"

    def entry(self, seq: int) -> Entry:
        """The redacted :class:`Entry` of these facts (decoded and redacted here)."""
        operation = (self.endpoint or "").removeprefix("graph.") or None
        body = None if self.data is None else decode_body(self.data)[0]
        response_body = self.response_body
        if self.response_data is not None:
            response_body = decode_body(self.response_data)[0]
        return Entry(
            seq=seq,
            time=self.time,
            monotonic=self.monotonic,
            method=self.method,
            path=self.path,
            query=parse_query(self.query_string),
            headers=redact_headers(EnvironHeaders(self.environ)),
            body=redact_body(body, operation=operation),
            status=self.status,
            response_headers=redact_headers(dict(self.response_headers)),
            response_body=redact_body(response_body),
            operation=operation,
            duration_ms=round(self.elapsed * 1000, 3),
            violations=list(self.violations or ()),
            fault=self.fault,
        )


class _Slot:
    """One place in the ring: the raw facts until first read, then only their Entry; and the
    body bytes the facts counted when recorded (still counted once they are an Entry)."""

    __slots__ = ("seq", "_exchange", "_entry", "nbytes")

    def __init__(
        self, seq: int, exchange: Exchange | None, nbytes: int, entry: Entry | None = None
    ) -> None:
        self.seq = seq
        self._exchange = exchange
        self._entry = entry
        self.nbytes = nbytes

    def entry(self) -> Entry:
        # Two readers may build the same Entry at once: both are equal and either is kept.
        # The Entry is stored before the facts are dropped, so a reader that finds no facts
        # finds the Entry.
        exchange = self._exchange
        if exchange is None:
            return cast(Entry, self._entry)
        entry = self._entry = exchange.entry(self.seq)
        self._exchange = None
        return entry


class Journal:
    """A thread-safe ring of :class:`Entry`, oldest dropped first. It keeps at most ``size``
    exchanges (none with ``size`` 0) and, while the bodies it keeps weigh more than
    ``max_bytes`` (see :meth:`record`; ``None``: no byte bound), drops the oldest; the
    newest is always kept, even when it alone is over."""

    def __init__(self, size: int, max_bytes: int | None = None) -> None:
        self._lock = threading.Lock()
        self._entries: deque[_Slot] = deque()
        self._size = size
        self._max_bytes = max_bytes
        # An int either way: the per-record check stays one integer comparison.
        self._budget = sys.maxsize if max_bytes is None else max_bytes
        self._bytes = 0
        self._seq = 0

    @property
    def size(self) -> int:
        return self._size

    @property
    def max_bytes(self) -> int | None:
        return self._max_bytes

    @property
    def body_bytes(self) -> int:
        """What the bodies of the exchanges kept weigh now."""
        with self._lock:
            return self._bytes

    def next_seq(self) -> int:
        with self._lock:
            self._seq += 1
            return self._seq

    def add(self, entry: Entry) -> None:
        """Keep a ready ``entry`` as it is (its ``seq`` is the caller's). It counts no body
        bytes: only recorded exchanges weigh against ``max_bytes``."""
        if self._size <= 0:
            return
        with self._lock:
            dropped = self._entries.popleft() if len(self._entries) == self._size else None
            if dropped is not None:
                self._bytes -= dropped.nbytes
            self._entries.append(_Slot(entry.seq, None, 0, entry))
        del dropped

    def record(self, exchange: Exchange) -> None:
        """Keep ``exchange`` under the next sequence number (so the ring is in ``seq`` order);
        it becomes an :class:`Entry` when first read.

        Its bodies weigh: the request's bytes, the JSON answer's bytes, and a body object that
        is ``bytes`` or ``str`` by its length (any other object 0)."""
        if self._size <= 0:
            return
        # Inline, not a method of Exchange: a call costs more than the sum (issue 6).
        data = exchange.data
        answer = exchange.response_data
        body = exchange.response_body
        nbytes = (len(data) if data else 0) + (len(answer) if answer else 0)
        if body is not None and isinstance(body, (bytes, str)):
            nbytes += len(body)
        with self._lock:
            self._seq += 1
            entries = self._entries
            # The oldest leave the ring here and are freed after the lock is released: freeing
            # their facts takes longer than keeping the new one.
            dropped = entries.popleft() if len(entries) == self._size else None
            if dropped is not None:
                self._bytes -= dropped.nbytes
            entries.append(_Slot(self._seq, exchange, nbytes))
            self._bytes += nbytes
            over: list[_Slot] | None = None
            if self._bytes > self._budget and len(entries) > 1:
                over = []
                while self._bytes > self._budget and len(entries) > 1:
                    over.append(entries.popleft())
                    self._bytes -= over[-1].nbytes
        del dropped, over

    def clear(self) -> None:
        with self._lock:
            dropped = self._entries
            self._entries = deque()
            self._bytes = 0
        del dropped

    def entries(self) -> list[Entry]:
        with self._lock:
            kept = list(self._entries)
        # Built outside the lock: recording never waits for a reader's decoding.
        return [slot.entry() for slot in kept]

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries())

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


def journal_of(state: MockGraph) -> Journal:
    journal: Journal = state.services[SERVICE]
    return journal


def parse_query(query_string: bytes) -> dict[str, list[str]]:
    """The query as ``request.args`` parses it (werkzeug's ``Request.args``: blank values
    kept, invalid bytes left percent-encoded), each name with all its values."""
    args = MultiDict(
        parse_qsl(
            query_string.decode(errors="werkzeug.url_quote"),
            keep_blank_values=True,
            errors="werkzeug.url_quote",
        )
    )
    return {name: args.getlist(name) for name in args}


#: Environ keys that hold objects, not facts: the request (and through it its parsed body),
#: the streams, and the connection objects of the servers ``mockgraph serve`` runs on.
_NOT_FACTS = (
    "werkzeug.request",
    "wsgi.input",
    "wsgi.errors",
    "werkzeug.socket",
    "gunicorn.socket",
    "waitress.client_disconnected",
)


def _environ_facts(environ: dict[str, Any]) -> dict[str, Any]:
    """The environ, for :class:`~werkzeug.datastructures.EnvironHeaders` to read later: a
    C-level copy costs a fifth of picking the header keys out one by one."""
    copy = environ.copy()
    for name in _NOT_FACTS:
        copy.pop(name, None)
    return copy


def _request_data(req: Request, limit: int) -> bytes | None:
    """The request body's bytes, unless over the limit: never read what the app refused to
    read. Already read by the app, they are cached on the request and cost nothing."""
    environ = req.environ
    length = get_content_length(environ)
    if length == 0 or (length is not None and length > limit):
        return None
    # Without Content-Length or Transfer-Encoding a request has no body (RFC 9112, 6.3).
    if length is None and "HTTP_TRANSFER_ENCODING" not in environ:
        return None
    try:
        return req.get_data(cache=True)
    except HTTPException:
        return None


def _is_json(content_type: str | None) -> bool:
    """``Response.is_json`` without building the parsed mimetype on every answer."""
    if not content_type:
        return False
    mimetype = content_type.partition(";")[0].strip().lower()
    return mimetype == "application/json" or mimetype.endswith("+json")


def install(app: Flask, state: MockGraph) -> None:
    """Keep a journal in ``state.services["journal"]`` and record every exchange into it
    (nothing at all with ``journal_size`` 0), bounded by ``journal_size`` and ``journal_bytes``."""
    journal = Journal(state.config.journal_size, state.config.journal_bytes)
    state.services[SERVICE] = journal
    if journal.size <= 0:
        return
    limit = state.config.max_body_bytes
    control = CONTROL_PATH + "/"

    def _record(req: Request, facts: _AppCtxGlobals, response: Response) -> Response:
        if req.path.startswith(control):
            # The control API reads and clears the journal: its own calls would only crowd it.
            return response
        now = time.perf_counter()
        known = vars(facts)
        elapsed = now - known.get(STARTED, now)
        # The answer's bytes, not the body object the app rendered: bytes are no work for the
        # cyclic garbage collector, while a kept page of 100 key sets is hundreds of objects
        # that each survive into its oldest generation and bring on full collections (each
        # ~125 ms with 100,000 key sets stored).
        response_body = None
        response_data = None
        if _is_json(response.headers.get("Content-Type")) and not response.is_streamed:
            response_data = response.get_data()
        else:
            response_body = known.get("response_body")
        journal.record(
            Exchange(
                time.time() - elapsed,
                time.monotonic() - elapsed,
                elapsed,
                req.method,
                req.path,
                req.query_string,
                _environ_facts(req.environ),
                _request_data(req, limit),
                response.status_code,
                tuple(response.headers),
                response_body,
                response_data,
                req.endpoint,
                known.get("contract_violations"),
                known.get("injected_fault"),
            )
        )
        return response

    state.after.append(_record)
