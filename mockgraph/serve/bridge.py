"""The WSGI app served over ASGI with each request body received whole on the event loop first,
so that a client stalling mid-body holds no thread (granian's own WSGI mode hands a thread over
before the body arrives)."""

from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import Executor
from typing import Any

from mockgraph.http.facts import BODY_PROBLEM, DELAY_KEY

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Environ = dict[str, Any]
WSGIApp = Callable[[Environ, Callable[..., Any]], Iterable[bytes]]
#: True for a request (its environ, body received) the app may answer on the event loop itself.
InlineRule = Callable[[Environ], bool]
Headers = list[tuple[bytes, bytes]]

_CLOSE = (b"connection", b"close")
_BASE: Environ = {"wsgi.version": (1, 0), "wsgi.errors": sys.stderr, "wsgi.multithread": True}
_BASE.update({"wsgi.multiprocess": False, "wsgi.run_once": False})


class Bridge:
    """``app`` served over ASGI. The body must arrive within ``body_timeout`` seconds in all;
    past ``max_body`` bytes it is no longer received and the app sees only its length (a
    mockgraph app then answers 413). A body that comes too slowly, or a chunked body that
    ends before its last chunk (broken framing, or a client that hung up), is answered by the
    app too (:data:`~mockgraph.http.facts.BODY_PROBLEM`: 408, 400), through its one error
    renderer, and the connection is closed; a client that hangs up before a body of declared
    length arrives gets no answer. The app runs on the loop where ``inline`` says so, else on
    ``pool``; an injected delay it asks for (:data:`DELAY_KEY`) is waited out on the loop,
    holding no thread. ``on_shutdown`` runs when the server stops (ASGI lifespan)."""

    def __init__(
        self,
        app: WSGIApp,
        pool: Executor,
        *,
        max_body: int = 1024 * 1024,
        body_timeout: float = 10.0,
        inline: InlineRule | None = None,
        on_shutdown: Callable[[], None] | None = None,
    ) -> None:
        self.app, self.pool, self.inline = app, pool, inline
        self.on_shutdown = on_shutdown
        self.max_body, self.body_timeout = max_body, body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":  # nothing to start; at shutdown, `on_shutdown`
            while (kind := (await receive())["type"]) != "lifespan.shutdown":
                await send({"type": kind + ".complete"})
            if self.on_shutdown is not None:
                self.on_shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        try:
            await self._answer(scope, receive, send)
        except asyncio.CancelledError:  # the server gave up on the client: nobody to answer
            return

    async def _answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        environ = environ_of(scope)
        declared = environ.get("CONTENT_LENGTH")
        whole = True
        if declared is None and "HTTP_TRANSFER_ENCODING" not in environ:
            body = b""  # no framing header, no body (RFC 9112, 6.3)
        elif declared is not None and declared.isdigit() and int(declared) > self.max_body:
            body, whole = b"", False
        else:
            try:
                received = await asyncio.wait_for(self._body(receive), self.body_timeout)
            except TimeoutError:
                received, environ[BODY_PROBLEM] = b"", "timeout"
            if received is None:
                # granian reports a body cut short, or chunks it cannot parse, as a disconnect;
                # a client still there (half-closed) is owed an answer, and one that truly hung
                # up gets it too: nobody reads it.
                problem = "incomplete" if declared is not None else "framing"
                received, environ[BODY_PROBLEM] = b"", problem
            environ.pop("HTTP_TRANSFER_ENCODING", None)
            environ["CONTENT_LENGTH"] = str(len(received))
            whole = len(received) <= self.max_body and BODY_PROBLEM not in environ
            body = received if len(received) <= self.max_body else b""
        environ["wsgi.input"] = io.BytesIO(body)
        environ[DELAY_KEY] = 0.0
        if self.inline is not None and self.inline(environ):
            status, headers, content = call_wsgi(self.app, environ)
        else:
            loop = asyncio.get_running_loop()
            status, headers, content = await loop.run_in_executor(
                self.pool, call_wsgi, self.app, environ
            )
        if environ[DELAY_KEY]:
            await asyncio.sleep(environ[DELAY_KEY])
        if not whole:
            headers.append(_CLOSE)  # the rest of the body is never read: no keep-alive
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    async def _body(self, receive: Receive) -> bytes | None:
        """The body, or its first bytes past ``max_body``; ``None`` if the client hung up."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk: bytes = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            if size > self.max_body or not message.get("more_body", False):
                return b"".join(chunks)


def environ_of(scope: Scope) -> Environ:
    """The PEP 3333 environ of an ASGI HTTP scope (bytes as latin-1 strings)."""
    environ = _BASE.copy()
    server = scope.get("server") or ("127.0.0.1", 0)
    client = scope.get("client") or ("", 0)
    environ["REQUEST_METHOD"] = scope["method"]
    root: str = scope.get("root_path", "")
    path: str = scope["path"]
    if root and path.startswith(root):
        path = path[len(root) :]
    environ["SCRIPT_NAME"] = root.encode().decode("latin-1")
    environ["PATH_INFO"] = path.encode().decode("latin-1")
    environ["QUERY_STRING"] = scope.get("query_string", b"").decode("latin-1")
    environ["SERVER_NAME"], environ["SERVER_PORT"] = str(server[0]), str(server[1])
    environ["REMOTE_ADDR"], environ["REMOTE_PORT"] = str(client[0]), str(client[1])
    environ["SERVER_PROTOCOL"] = "HTTP/" + scope.get("http_version", "1.1")
    environ["wsgi.url_scheme"] = scope.get("scheme", "http")
    for raw_name, raw_value in scope["headers"]:
        key = raw_name.decode("latin-1").upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        value = raw_value.decode("latin-1")
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


def call_wsgi(app: WSGIApp, environ: Environ) -> tuple[int, Headers, bytes]:
    """Run the WSGI app to completion: status, ASGI headers, the whole body."""
    answer: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        answer[:] = status, headers
        return lambda data: None  # PEP 3333's write(), which Flask never calls

    iterable = app(environ, start_response)
    try:
        content = b"".join(iterable)
    finally:
        if (close := getattr(iterable, "close", None)) is not None:
            close()
    status, headers = answer
    encoded = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]
    return int(status[:3]), encoded, content
