"""Running an app on a real socket for ``mockgraph serve``: the production server, the Werkzeug
development server behind ``--dev``, and a graceful stop on SIGINT/SIGTERM.

The production server is granian (a Rust HTTP/1.1 server with keep-alive), embedded in ONE
process: it receives each request, body included, on an event loop; the WSGI app answers the
quick ones right there on the loop, and those that may wait (key generation, an ``fsync``...)
on a pool of Python threads (:func:`quick_requests` sorts them). One process because the
store is in memory: a second one would split it (``PERFORMANCE.md``). Where granian cannot be
imported or started, waitress (pure Python) serves instead. Figures behind the choice of
server: ``benchmarks/run.py``.

Figures behind the adapter (issue 6): requests/s, get / create, ``wrk -t1 -c8 -d5s``, medians
of 3 interleaved runs on the shared 2-core machine (single runs move by 2x there):

- bare Flask app (``benchmarks/targets.py``): every request on the pool, as before,
  1,646 / 1,323; quick requests on the loop 3,466 / 2,447. Server CPU per request:
  654 / 825 us before, 349 / 488 us after.
- mockgraph as served: 1,618 / 1,110 before, 3,000 / 1,610 after.
- Of the CPU left, the adapter's own Python takes about 9 / 20 us; the rest is granian's
  hand-offs between its Rust threads and the loop (a third of it in the kernel, waking them).
- Tried and not taken, no better within the noise (about 15%): uvloop and rloop as the
  loop, granian's ``rust`` task implementation (Python < 3.12 only, experimental), and the
  RSGI interface, which also drops header values that are not ASCII where ASGI passes bytes.

Every server stops the same way on SIGINT or SIGTERM (and SIGBREAK on Windows): it stops
accepting, lets the requests in flight finish, and :func:`run` returns 0.
"""

from __future__ import annotations

import asyncio
import gc
import io
import ipaddress
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING, Any

from flask import Flask

from mockgraph.config import CONTROL_PATH, Config
from mockgraph.http.errors import StartupError
from mockgraph.http.facts import DELAY_KEY
from mockgraph.state import mockgraph

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication, WSGIEnvironment

log = logging.getLogger("mockgraph")

#: Servers :func:`run` knows, in the order ``auto`` tries them.
PRODUCTION_SERVERS: tuple[str, ...] = ("granian", "waitress")
#: Werkzeug's development server: only with ``--dev`` (it closes every connection after one
#: response and starts a thread per request).
DEV_SERVER = "werkzeug"
#: How long a stop waits for the requests in flight before giving up on them.
DRAIN_SECONDS = 30.0

#: Whether granian's adapter may answer a request on its event loop, from the request's WSGI
#: environ (its body already received): see :func:`run` and :func:`quick_requests`.
InlineRule = Callable[[dict[str, Any]], bool]
#: Writes with a larger body go to a thread: a valid 700 KB create takes ~0.1 s to parse, and
#: the explanation of a bad one of that size longer, while the loop would serve nobody.
QUICK_BODY_BYTES = 16 * 1024

_STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGBREAK") if hasattr(signal, name)
)


def base_url(host: str, port: int) -> str:
    """``http://host:port/beta``, with an IPv6 address in brackets."""
    bare = host.strip("[]")
    shown = f"[{bare}]" if ":" in bare else bare
    return f"http://{shown}:{port}/beta"


def available_servers() -> tuple[str, ...]:
    """The production servers that can be imported here, best first."""
    found = []
    for name in PRODUCTION_SERVERS:
        try:
            __import__(name)
        except ImportError:
            continue
        found.append(name)
    return tuple(found)


def choose_server(requested: str = "auto", *, dev: bool = False) -> str:
    """The server :func:`run` uses: ``werkzeug`` with ``dev``, else ``requested``, where
    ``auto`` is the best importable production server. Raises :class:`StartupError` for an
    unknown or missing one."""
    if dev:
        return DEV_SERVER
    if requested == "auto":
        found = available_servers()
        if not found:
            raise StartupError("no production server is installed: pip install granian")
        return found[0]
    if requested == DEV_SERVER:
        raise StartupError("the Werkzeug development server runs only with --dev")
    if requested not in PRODUCTION_SERVERS:
        raise StartupError(f"unknown server {requested!r}: choose from {PRODUCTION_SERVERS}")
    if requested not in available_servers():
        raise StartupError(f"{requested} is not installed: pip install {requested}")
    return requested


def quick_requests(app: Flask) -> InlineRule | None:
    """The requests of a mockgraph app that granian's adapter answers on its event loop; the
    others go to a thread, where waiting stalls no other client. ``None``: none of them.

    On the loop a request costs no thread handoff (about twice the requests per second,
    ``benchmarks/README.md``), but while the app answers it the loop serves nobody else, so
    only requests that hold the GIL and never wait go there: an operation of a resource that
    is not ``blocking`` in its table, with a body of at most :data:`QUICK_BODY_BYTES`, in an
    app that neither records (a file per exchange) nor keeps a state file (an ``fsync`` per
    write). The control API and ``$batch`` go to a thread."""
    mock = mockgraph(app)
    if mock.recorder is not None:
        return None
    writes_wait = mock.persistence is not None
    adapter = app.url_map.bind("localhost")

    def quick(environ: dict[str, Any]) -> bool:
        try:
            endpoint, _ = adapter.match(environ["PATH_INFO"], environ["REQUEST_METHOD"])
        except Exception:  # not found, wrong method: an error answer, quick to make
            return not environ["PATH_INFO"].startswith(CONTROL_PATH)
        operation = mock.operations.get(str(endpoint))
        if operation is None or operation.blocking:
            return False
        if operation.reads:
            return True
        length = environ.get("CONTENT_LENGTH")
        if writes_wait or (length and (not length.isdigit() or int(length) > QUICK_BODY_BYTES)):
            return False
        return True

    return quick


def run(
    app: Flask,
    config: Config,
    *,
    dev: bool = False,
    threads: int = 8,
    server: str = "auto",
    announce: Callable[[str], None] | None = None,
    inline: InlineRule | None = None,
) -> int:
    """Serve ``app`` on ``config.host``/``config.port`` until SIGINT/SIGTERM; returns the exit
    status (0 after a graceful stop).

    ``threads`` Python threads run the app (the development server starts one per request).
    With granian, the requests for which ``inline`` is true are answered on its event loop
    instead, without a thread handoff: only give a rule that picks requests which cannot
    block (:func:`quick_requests` for a mockgraph app); ``None`` sends every request to a
    thread, the choice for an app whose views may wait (the recording proxy's do, on its
    upstream). The other servers ignore ``inline``.

    Port 0 binds a free port. Once the socket is bound, ``announce`` (default: a line on
    stderr) gets the line that names the URL. Must be called from the main thread (it installs
    signal handlers, and puts the previous ones back on return). Raises
    :class:`StartupError` when the address cannot be bound or the server is unknown.
    """
    name = choose_server(server, dev=dev)
    say = announce or _print_stderr
    # What exists now lives as long as the server: the contracts, the routes, the key sets of
    # --state / --state-file. Frozen out of the cyclic garbage collector, it is not walked
    # again by each full collection (with 100,000 key sets stored, ~125 ms each, every few
    # thousand requests: the p99 of issue 6's 100,000-key-set figures).
    gc.collect()
    gc.freeze()
    if name == "granian":
        try:
            return _run_granian(
                app, config.host, config.port, threads, config.max_body_bytes, inline, say
            )
        except _GranianUnusable as exc:
            if server == "granian" or "waitress" not in available_servers():
                raise StartupError(f"granian cannot run here: {exc}") from None
            log.warning("granian cannot run here (%s); serving with waitress instead", exc)
            name = "waitress"
    if name == "waitress":
        return _run_waitress(app, config.host, config.port, threads, say)
    return _run_werkzeug(app, config.host, config.port, say)


def _print_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _banner(host: str, port: int, server: str, threads: int | None) -> str:
    pool = f"1 process, {threads} threads" if threads else "development server, do not deploy"
    return f"mockgraph serving {base_url(host, port)} with {server} ({pool}); Ctrl+C to stop"


def _address(host: str, port: int) -> tuple[socket.AddressFamily, tuple[Any, ...]]:
    try:
        info = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise StartupError(f"cannot resolve {host}: {exc.strerror}") from None
    family, _, _, _, sockaddr = info[0]
    return family, sockaddr


@contextmanager
def _on_stop_signals(handler: Callable[[], None]) -> Iterator[None]:
    """Call ``handler`` on SIGINT/SIGTERM/SIGBREAK while inside; restore the old handlers."""

    def _handle(signum: int, frame: FrameType | None) -> None:
        handler()

    previous = {sig: signal.signal(sig, _handle) for sig in _STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _bindable(host: str, port: int) -> tuple[str, int]:
    """The numeric address of ``host`` and ``port`` (a free one for port 0), checked to be
    bindable: a clean :class:`StartupError` where granian would panic, werkzeug exit, and
    waitress leak its half-made server."""
    family, sockaddr = _address(host, port)
    probe = socket.socket(family, socket.SOCK_STREAM)
    try:
        if sys.platform != "win32":
            # As the server's listener does: a port in TIME_WAIT is free to bind.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(sockaddr)
        bound: int = probe.getsockname()[1]
    except OSError as exc:
        raise StartupError(f"cannot bind {host}:{port}: {exc.strerror}") from None
    finally:
        probe.close()
    return str(sockaddr[0]), bound


# -- granian ---------------------------------------------------------------------------------


class _GranianUnusable(Exception):
    """This granian build lacks what :func:`_run_granian` relies on."""


def _run_granian(
    app: Flask,
    host: str,
    port: int,
    threads: int,
    limit: int,
    inline: InlineRule | None,
    say: Callable[[str], None],
) -> int:
    """granian's embedded server (in this process's event loop) in front of the WSGI app.

    granian's WSGI mode hands a request to a Python thread as soon as its headers are in, and
    that thread then waits for the body: a few clients stalling mid-body take every thread
    (issue 6, tests/test_fuzz_inputs.py). Here each body is received on the event loop, where
    waiting costs nothing; then the complete request is answered on the loop where ``inline``
    says so, else on one of ``threads`` threads.
    """
    try:
        from granian.constants import HTTPModes, Interfaces
        from granian.http import HTTP1Settings
        from granian.log import LogLevels
        from granian.server.embed import Server
    except ImportError as exc:
        raise _GranianUnusable(str(exc)) from None
    address, bound = _bindable(host, port)
    native = _native_threads()
    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="mockgraph")
    handlers = {
        name: {"formatter": fmt, "class": "logging.StreamHandler", "stream": "ext://sys.stderr"}
        for name, fmt in (("console", "generic"), ("access", "access"))
    }
    try:
        server = Server(
            _asgi(app, limit, pool, inline),
            address=address,
            port=bound,
            interface=Interfaces.ASGINL,
            http=HTTPModes.http1,
            http1_settings=HTTP1Settings(keep_alive=True),
            websockets=False,
            log_level=LogLevels.warning,
            log_dictconfig={"handlers": handlers},
        )
    except TypeError as exc:  # an API this module was not written against
        raise _GranianUnusable(str(exc)) from None
    logging.getLogger("_granian").addFilter(_drop_embedded_notice)
    banner = _banner(host, bound, "granian", threads)
    # The hook runs before granian listens: announce once a connection gets through, so the
    # URL printed is ready for use.
    server.on_startup(
        lambda: threading.Thread(
            target=_announce_when_listening, args=(address, bound, banner, say), daemon=True
        ).start()
    )

    async def serve() -> None:
        loop = asyncio.get_running_loop()

        def stop() -> None:
            loop.call_soon_threadsafe(server.stop)

        with _on_stop_signals(stop):
            # On stop, granian stops accepting and finishes the requests in flight.
            await server.serve()

    try:
        asyncio.run(serve())
    finally:
        pool.shutdown(wait=True)
        _await_native_threads(native)
    return 1 if server.interrupt_children else 0


def _native_threads() -> int | None:
    """How many threads of this process Python did not start, where the system says (Linux:
    ``/proc``); ``None`` elsewhere."""
    try:
        return len(os.listdir("/proc/self/task")) - threading.active_count()
    except OSError:
        return None


def _await_native_threads(baseline: int | None, timeout: float = 2.0) -> None:
    """Return once the native threads started since ``baseline`` was counted (granian's
    runtime) have exited, or after ``timeout``.

    granian's runtime threads outlive ``serve()`` by a few milliseconds; one that touches
    Python while the interpreter finalizes aborts the process with a Rust panic (exit status
    134 instead of 0). Seen in about 1 stop of 3 after clients had hung up mid-body, with
    granian 2.8.9; its issue #881 is the same race.
    """
    if baseline is None:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = _native_threads()
        if now is None or now <= baseline:
            return
        time.sleep(0.005)


def _drop_embedded_notice(record: logging.LogRecord) -> bool:
    # granian calls its embedded server experimental; that is the API this module uses on
    # purpose (one process; see _run_granian), so the notice only misleads.
    return "experimental" not in record.getMessage()


def _announce_when_listening(
    address: str, port: int, banner: str, say: Callable[[str], None]
) -> None:
    unspecified = ipaddress.ip_address(address).is_unspecified
    target = ("::1" if ":" in address else "127.0.0.1") if unspecified else address
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection((target, port), timeout=1).close()
        except OSError:
            time.sleep(0.01)
            continue
        say(banner)
        return


Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

#: How many distinct request header names :func:`_asgi` remembers the environ key of (the
#: ones clients send again and again; a client inventing names cannot grow it further).
_HEADER_KEYS_KEPT = 256


def _asgi(
    app: WSGIApplication, limit: int, pool: ThreadPoolExecutor, inline: InlineRule | None
) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """``app`` as an ASGI app: the body received whole on the event loop, then the WSGI call
    on the loop itself where ``inline`` says so, else on ``pool``. A body over ``limit`` is not
    received: the app sees its Content-Length (or, chunked, the bytes counted so far) and
    answers 413 itself, through its one error renderer.
    """
    base: WSGIEnvironment = {
        "SCRIPT_NAME": "",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    header_keys: dict[bytes, str] = {}

    def environ_of(scope: Scope) -> WSGIEnvironment:
        """The WSGI environ of an HTTP scope (PEP 3333 strings: latin-1 for bytes)."""
        environ = base.copy()
        path: str = scope["path"]
        server = scope.get("server") or ("127.0.0.1", 0)
        client = scope.get("client") or ("", 0)
        environ["REQUEST_METHOD"] = scope["method"]
        environ["PATH_INFO"] = path if path.isascii() else path.encode().decode("latin-1")
        environ["QUERY_STRING"] = scope.get("query_string", b"").decode("latin-1")
        environ["SERVER_NAME"] = str(server[0])
        environ["SERVER_PORT"] = str(server[1])
        environ["REMOTE_ADDR"] = str(client[0])
        environ["REMOTE_PORT"] = str(client[1])
        if (root := scope.get("root_path")) is not None and root != "":
            environ["SCRIPT_NAME"] = root.encode().decode("latin-1")
        if (version := scope.get("http_version", "1.1")) != "1.1":
            environ["SERVER_PROTOCOL"] = "HTTP/" + version
        if (scheme := scope.get("scheme", "http")) != "http":
            environ["wsgi.url_scheme"] = scheme
        for raw_name, raw_value in scope["headers"]:
            key = header_keys.get(raw_name)
            if key is None:
                key = raw_name.decode("latin-1").upper().replace("-", "_")
                if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                    key = "HTTP_" + key
                if len(header_keys) < _HEADER_KEYS_KEPT:
                    header_keys[raw_name] = key
            value = raw_value.decode("latin-1")
            environ[key] = f"{environ[key]},{value}" if key in environ else value
        return environ

    async def serve(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        try:
            await answer(scope, receive, send)
        except asyncio.CancelledError:
            # granian cancels the request of a client that hung up: nobody is left to answer,
            # and it would log the cancellation as an error of the app.
            return

    async def answer(scope: Scope, receive: Receive, send: Send) -> None:
        environ = environ_of(scope)
        declared = environ.get("CONTENT_LENGTH")
        if declared is None and "HTTP_TRANSFER_ENCODING" not in environ:
            # No framing header, no body (RFC 9112, 6.3): not even one receive to await.
            body = b""
        elif declared is not None and declared.isdigit() and int(declared) > limit:
            body = b""
        else:
            received = await _receive_body(receive, limit)
            if received is None:
                return  # the client hung up
            # The body is whole (or cut past the limit): the app sees it as one of known
            # length, so werkzeug's own limit applies to a chunked one too (413, not 400).
            environ.pop("HTTP_TRANSFER_ENCODING", None)
            environ["CONTENT_LENGTH"] = str(len(received))
            body = b"" if len(received) > limit else received
        environ["wsgi.input"] = io.BytesIO(body)
        environ[DELAY_KEY] = 0.0  # an injected delay is waited out here, holding no thread
        if inline is not None and inline(environ):
            status, headers, chunks = _call_wsgi(app, environ)
        else:
            loop = asyncio.get_running_loop()
            status, headers, chunks = await loop.run_in_executor(pool, _call_wsgi, app, environ)
        if environ[DELAY_KEY]:
            await asyncio.sleep(environ[DELAY_KEY])
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": chunks})

    return serve


async def _receive_body(receive: Receive, limit: int) -> bytes | None:
    """The request body, or the first bytes past ``limit`` (the rest is not received);
    ``None`` when the client hangs up first."""
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk: bytes = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            break
        more = message.get("more_body", False)
    return b"".join(chunks)


def _call_wsgi(app: WSGIApplication, environ: WSGIEnvironment) -> tuple[int, list[Any], bytes]:
    """Run the WSGI app to completion: status, ASGI headers, the whole body."""
    answer: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        answer[:] = status, headers
        return _discard

    iterable = app(environ, start_response)
    try:
        body = b"".join(iterable)
    finally:
        close = getattr(iterable, "close", None)
        if close is not None:
            close()
    status, headers = answer
    return (
        int(status[:3]),
        [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers],
        body,
    )


def _discard(data: bytes) -> None:
    """The ``write`` callable of PEP 3333, which Flask never calls."""


# -- waitress --------------------------------------------------------------------------------


def _run_waitress(
    app: Flask, host: str, port: int, threads: int, say: Callable[[str], None]
) -> int:
    from waitress import wasyncore
    from waitress.server import create_server

    _bindable(host, port)
    channels: dict[int, Any] = {}
    try:
        server: Any = create_server(
            app, map=channels, host=host.strip("[]"), port=port, threads=threads, ident="mockgraph"
        )
    except OSError as exc:  # lost a race for the port since the check
        wasyncore.close_all(channels)
        raise StartupError(f"cannot bind {host}:{port}: {exc.strerror}") from None
    say(_banner(host, server.effective_port, "waitress", threads))
    stopping = threading.Event()
    with _on_stop_signals(stopping.set):
        while not stopping.is_set():
            wasyncore.loop(timeout=0.2, map=channels, count=1)
        # Stop accepting (the listener only: the server's own close() also closes the trigger
        # that worker threads pull), then serve what is in flight until answered and flushed.
        wasyncore.dispatcher.close(server)
        deadline = time.monotonic() + DRAIN_SECONDS
        while _waitress_busy(server, channels) and time.monotonic() < deadline:
            wasyncore.loop(timeout=0.05, map=channels, count=1)
        server.task_dispatcher.shutdown(timeout=0.2)  # drained: its threads are idle
        wasyncore.close_all(channels)
    return 0


def _waitress_busy(server: Any, channels: dict[int, Any]) -> bool:
    dispatcher = server.task_dispatcher
    if dispatcher.queue or dispatcher.active_count > 0:
        return True
    return any(
        getattr(channel, "requests", None) or getattr(channel, "total_outbufs_len", 0)
        for channel in channels.values()
    )


# -- werkzeug (development) ------------------------------------------------------------------


def _run_werkzeug(app: Flask, host: str, port: int, say: Callable[[str], None]) -> int:
    from werkzeug.serving import make_server

    _bindable(host, port)
    try:
        server = make_server(host.strip("[]"), port, app, threaded=True)
    except OSError as exc:
        raise StartupError(f"cannot bind {host}:{port}: {exc.strerror}") from None
    except SystemExit:  # werkzeug prints why it cannot bind, then exits
        raise StartupError(f"cannot bind {host}:{port}") from None
    # Joined by server_close(), so a stop waits for the requests in flight.
    server.daemon_threads = False  # type: ignore[attr-defined]
    say(_banner(host, server.port, DEV_SERVER, None))

    def stop() -> None:
        # shutdown() waits for serve_forever(), which runs in this (the main) thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    with _on_stop_signals(stop):
        try:
            server.serve_forever()
        finally:
            server.server_close()
    return 0
