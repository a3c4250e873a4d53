"""The request log of ``mockgraph serve``: one line per exchange on stderr, as it happens: time,
method, path (secret query values redacted), status, duration, the operation, and for an error
the Graph error code and the first line of its message. Coloured on a terminal, plain
otherwise, or one JSON object a line for machines. Never a header value, a body or a token."""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
from typing import Any, TextIO
from urllib.parse import parse_qsl, urlencode

from flask import Request, Response

from mockgraph.features.redact import redact_query
from mockgraph.http.codec import encode
from mockgraph.http.facts import DELAY_KEY, Facts

FORMATS = ("text", "json")
_RESET, _DIM = "\033[0m", "\033[2m"
_COLOURS = {2: "\033[32m", 3: "\033[36m", 4: "\033[33m", 5: "\033[31m"}


class RequestLog:
    """Writes one line per exchange to ``stream`` (default stderr) in ``form`` (``text`` or
    ``json``); text is coloured when the stream is a terminal and ``NO_COLOR`` is unset."""

    def __init__(
        self, form: str = "text", stream: TextIO | None = None, *, every: float = 0.05
    ) -> None:
        if form not in FORMATS:
            raise ValueError(f"log format {form!r}: choose from {', '.join(FORMATS)}")
        self.form = form
        self.stream = stream if stream is not None else sys.stderr
        self.colour = form == "text" and _is_terminal(self.stream) and "NO_COLOR" not in os.environ
        #: Lines are written together at most ``every`` seconds after the first of them (0: at
        #: once): a write per request costs a get a seventh of its throughput.
        self.every = every
        self._lock = threading.Lock()
        self._pending: list[str] = []
        self._due = threading.Event()
        self._writer: threading.Thread | None = None
        self._stamp = (-1, "")  # the last second formatted, and its text

    def _second(self, moment: float) -> str:
        """The whole second of ``moment``: UTC ISO 8601 for JSON, local time of day for text;
        formatted once a second, as requests arriving together share it."""
        second, text = self._stamp
        if int(moment) != second:
            second = int(moment)
            if self.form == "json":
                text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            else:
                text = time.strftime("%H:%M:%S", time.localtime(second))
            self._stamp = (second, text)  # one assignment: a thread sees a matching pair
        return text

    def line(self, req: Request, facts: Facts, response: Response) -> str:
        """The line of one exchange (without its newline)."""
        query = req.query_string.decode("utf-8", "replace")
        target = req.path
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            target += "?" + urlencode(redact_query(pairs), safe="$'(),<>")
        elapsed = (time.perf_counter() - facts.started + (req.environ.get(DELAY_KEY) or 0.0)) * 1000
        operation = facts.operation.id if facts.operation else req.endpoint or "-"
        code, message = _error(facts.answer) if response.status_code >= 400 else (None, None)
        if self.form == "json":
            record: dict[str, Any] = {
                "time": f"{self._second(facts.arrived)}.{int(facts.arrived * 1000) % 1000:03d}Z",
                "method": req.method,
                "path": target,
                "status": response.status_code,
                "duration_ms": round(elapsed, 2),
                "operation": operation,
                "request_id": facts.request_id,
            }
            if code is not None:
                record["error"] = {"code": code, "message": message}
            return encode(record).decode()
        clock = f"{self._second(facts.arrived)}.{int(facts.arrived * 1000) % 1000:03d}"
        status = str(response.status_code)
        if self.colour:
            clock = f"{_DIM}{clock}{_RESET}"
            status = f"{_COLOURS.get(response.status_code // 100, '')}{status}{_RESET}"
        text = f"{clock} {req.method} {target} {status} {elapsed:.1f}ms {operation}"
        return f"{text} {code}: {message}" if code is not None else text

    def write(self, req: Request, facts: Facts, response: Response) -> None:
        """The after step: log the exchange (a failing stream never fails the request)."""
        line = self.line(req, facts, response) + "\n"
        with self._lock:
            self._pending.append(line)
            if len(self._pending) == 1:  # the first of a batch wakes the writer
                if self.every > 0 and self._writer is None:
                    self._writer = threading.Thread(target=self._write_when_due, daemon=True)
                    self._writer.start()
                    atexit.register(self.flush)
                self._due.set()
        if self.every <= 0:
            self.flush()

    def flush(self) -> None:
        """Write the lines not written yet."""
        with self._lock:
            lines, self._pending = self._pending, []
            self._due.clear()
            if not lines:
                return
            try:
                self.stream.write("".join(lines))
                self.stream.flush()
            except (OSError, ValueError):
                pass

    def _write_when_due(self) -> None:
        while True:
            self._due.wait()
            time.sleep(self.every)
            self.flush()


def _error(answer: Any) -> tuple[str | None, str | None]:
    """Graph's error code and the first line of its message (or the OAuth error's)."""
    if not isinstance(answer, dict):
        return None, None
    error = answer.get("error")
    if isinstance(error, dict):
        message = str(error.get("message", ""))
        return str(error.get("code")), message.splitlines()[0] if message else ""
    if isinstance(error, str):
        description = str(answer.get("error_description", ""))
        return error, description.splitlines()[0] if description else ""
    return None, None


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
