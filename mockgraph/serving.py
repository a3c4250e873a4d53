"""Running an app on a real socket for ``mockgraph serve``: the production server, the Werkzeug
development server behind ``--dev``, and a graceful stop on SIGINT/SIGTERM.

The production server is granian (a Rust HTTP/1.1 server with keep-alive), embedded in ONE
process: it receives each request on an event loop and the WSGI app answers it on a pool of
Python threads. One process because the store is in memory: a second one would split it
(``PERFORMANCE.md``). Where granian cannot be imported or started, waitress (pure Python)
serves instead. Figures behind the choice: ``benchmarks/run.py``.

Every server stops the same way on SIGINT or SIGTERM (and SIGBREAK on Windows): it stops
accepting, lets the requests in flight finish, and :func:`run` returns 0.
"""

from __future__ import annotations

import asyncio
import io
import ipaddress
import logging
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

from .config import Config
from .errors import StartupError

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

_STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGBREAK") if hasattr(signal, name)
)


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


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


def run(
    app: Flask,
    config: Config,
    *,
    dev: bool = False,
    threads: int = 8,
    server: str = "auto",
    announce: Callable[[str], None] | None = None,
) -> int:
    """Serve ``app`` on ``config.host``/``config.port`` until SIGINT/SIGTERM; returns the exit
    status (0 after a graceful stop).

    ``threads`` Python threads run the app (the development server starts one per request).
    Port 0 binds a free port. Once the socket is bound, ``announce`` (default: a line on
    stderr) gets the line that names the URL. Must be called from the main thread (it installs
    signal handlers, and puts the previous ones back on return). Raises
    :class:`StartupError` when the address cannot be bound or the server is unknown.
    """
    name = choose_server(server, dev=dev)
    say = announce or _print_stderr
    if name == "granian":
        try:
            return _run_granian(app, config.host, config.port, threads, config.max_body_bytes, say)
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
    app: Flask, host: str, port: int, threads: int, limit: int, say: Callable[[str], None]
) -> int:
    """granian's embedded server (in this process's event loop) in front of the WSGI app.

    granian's WSGI mode hands a request to a Python thread as soon as its headers are in, and
    that thread then waits for the body: a few clients stalling mid-body take every thread
    (issue 6, tests/test_fuzz_inputs.py). Here each body is received on the event loop, where
    waiting costs nothing, and only a complete request goes to one of ``threads`` threads.
    """
    try:
        from granian.constants import HTTPModes, Interfaces
        from granian.http import HTTP1Settings
        from granian.log import LogLevels
        from granian.server.embed import Server
    except ImportError as exc:
        raise _GranianUnusable(str(exc)) from None
    address, bound = _bindable(host, port)
    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="mockgraph")
    handlers = {
        name: {"formatter": fmt, "class": "logging.StreamHandler", "stream": "ext://sys.stderr"}
        for name, fmt in (("console", "generic"), ("access", "access"))
    }
    try:
        server = Server(
            _asgi(app, limit, pool),
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
    return 1 if server.interrupt_children else 0


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


def _asgi(
    app: WSGIApplication, limit: int, pool: ThreadPoolExecutor
) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """``app`` as an ASGI app: the body received whole on the event loop, then the WSGI call
    on ``pool``. A body over ``limit`` is not received: the app sees its Content-Length (or,
    chunked, the bytes counted so far) and answers 413 itself, through its one error renderer.
    """

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
        environ = _environ(scope)
        declared = environ.get("CONTENT_LENGTH", "")
        body = bytearray()
        if not (declared.isdigit() and int(declared) > limit):
            more = True
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                body += message.get("body", b"")
                more = message.get("more_body", False)
                if len(body) > limit:
                    environ["CONTENT_LENGTH"] = str(len(body))
                    body.clear()
                    break
        environ["wsgi.input"] = io.BytesIO(bytes(body))
        loop = asyncio.get_running_loop()
        status, headers, chunks = await loop.run_in_executor(pool, _call_wsgi, app, environ)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": chunks})

    return serve


def _environ(scope: Scope) -> WSGIEnvironment:
    """The WSGI environ of an ASGI HTTP scope (PEP 3333 strings: latin-1 for bytes)."""
    server = scope.get("server") or ("127.0.0.1", 0)
    client = scope.get("client") or ("", 0)
    environ: WSGIEnvironment = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": scope.get("root_path", "").encode("utf-8").decode("latin-1"),
        "PATH_INFO": scope["path"].encode("utf-8").decode("latin-1"),
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1]),
        "REMOTE_ADDR": str(client[0]),
        "REMOTE_PORT": str(client[1]),
        "SERVER_PROTOCOL": "HTTP/" + scope.get("http_version", "1.1"),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1").upper().replace("-", "_")
        value = raw_value.decode("latin-1")
        key = name if name in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + name
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


def _call_wsgi(app: WSGIApplication, environ: WSGIEnvironment) -> tuple[int, list[Any], bytes]:
    """Run the WSGI app to completion: status, ASGI headers, the whole body."""
    answer: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        answer["status"] = int(status.split(" ", 1)[0])
        answer["headers"] = [
            (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers
        ]
        return lambda data: None

    iterable = app(environ, start_response)
    try:
        body = b"".join(iterable)
    finally:
        close = getattr(iterable, "close", None)
        if close is not None:
            close()
    return answer["status"], answer["headers"], body


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
