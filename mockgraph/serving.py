"""Running an app on a real socket for ``mockgraph serve``: the production server, the Werkzeug
development server behind ``--dev``, and a graceful stop on SIGINT/SIGTERM.

The production server is granian (a Rust HTTP server) running the WSGI app in ONE process on a
pool of Python threads, with keep-alive: the store is in memory, so a second process would split
it (``PERFORMANCE.md``). Where granian cannot be imported or started, waitress (pure Python)
serves instead. Figures behind the choice: ``benchmarks/run.py``.

Every server stops the same way on SIGINT or SIGTERM (and SIGBREAK on Windows): it stops
accepting, lets the requests in flight finish, and :func:`run` returns 0.
"""

from __future__ import annotations

import io
import ipaddress
import logging
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING, Any

from flask import Flask

from .config import Config
from .errors import StartupError

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

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


def _granian_server(address: str, port: int, threads: int) -> Any:
    """granian's threaded server (``granian.server.mt``) with one worker thread.

    granian only runs that server on free-threaded Python builds, and otherwise spawns worker
    *processes* that must re-import the app by name; a mockgraph app is built from a Config at
    run time and its store must stay in this process, so the GIL check is skipped: the worker
    thread runs the app on ``threads`` Python threads, as a worker process would.
    """
    try:
        from granian.constants import HTTPModes, Interfaces
        from granian.http import HTTP1Settings
        from granian.log import LogLevels
        from granian.server.mt import MTServer
    except ImportError as exc:
        raise _GranianUnusable(str(exc)) from None
    if not hasattr(MTServer, "_check_gil"):
        raise _GranianUnusable("granian.server.mt.MTServer has no GIL check to skip")

    class OneProcess(MTServer):
        def _check_gil(self) -> None:
            """Run on a GIL build too (see :func:`_granian_server`)."""

    handlers = {
        name: {"formatter": fmt, "class": "logging.StreamHandler", "stream": "ext://sys.stderr"}
        for name, fmt in (("console", "generic"), ("access", "access"))
    }
    try:
        server = OneProcess(
            "mockgraph",
            address=address,
            port=port,
            interface=Interfaces.WSGI,
            workers=1,
            blocking_threads=threads,
            http=HTTPModes.http1,
            http1_settings=HTTP1Settings(keep_alive=True),
            websockets=False,
            log_level=LogLevels.warning,
            log_dictconfig={"handlers": handlers},
        )
    except TypeError as exc:  # an API this module was not written against
        raise _GranianUnusable(str(exc)) from None
    logging.getLogger("_granian").addFilter(_drop_free_threaded_notice)
    return server


def _buffered_input(app: WSGIApplication, limit: int) -> WSGIApplication:
    """``app`` reading its request body from memory, taken from granian in one call.

    granian marks every ``wsgi.input`` as terminated, so Werkzeug reads each input to EOF
    through granian's Rust reader: a GET's empty input too, and a body in two calls (its bytes,
    then EOF). Each call releases the GIL and must win it back from the busy threads: over half
    of a served GET's samples and a third of a create's (``benchmarks/profile.py``). So: no
    body without Content-Length or chunked Transfer-Encoding (RFC 9112, 6.3); a declared body
    up to ``limit`` bytes read here at once; a larger or chunked one left to the app, which
    refuses it with 413 unread.
    """

    def serve(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        declared = environ.get("CONTENT_LENGTH")
        if "chunked" not in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            if not declared:
                environ["wsgi.input"] = io.BytesIO()
            elif declared.isdigit() and int(declared) <= limit:
                environ["wsgi.input"] = io.BytesIO(
                    _read_exactly(environ["wsgi.input"], int(declared))
                )
        return app(environ, start_response)

    return serve


def _read_exactly(stream: Any, size: int) -> bytes:
    """Up to ``size`` bytes (fewer if the client stops early), in as few calls as it takes."""
    data = stream.read(size)
    while len(data) < size:
        more = stream.read(size - len(data))
        if not more:
            break
        data += more
    return bytes(data)


def _drop_free_threaded_notice(record: logging.LogRecord) -> bool:
    # granian warns that its threaded server is experimental on free-threaded builds; we run
    # it on purpose on GIL builds too (see _granian_server), so the notice only misleads.
    return "free-threaded" not in record.getMessage()


def _run_granian(
    app: Flask, host: str, port: int, threads: int, limit: int, say: Callable[[str], None]
) -> int:
    address, bound = _bindable(host, port)
    server = _granian_server(address, bound, threads)
    # Announced once granian's stop handlers are in place, so a stop right after it is graceful.
    server.on_startup(lambda: say(_banner(host, bound, "granian", threads)))
    previous = {sig: signal.getsignal(sig) for sig in _STOP_SIGNALS}
    try:
        # granian installs its own SIGINT/SIGTERM handlers: on a stop signal its worker
        # stops accepting, finishes the requests in flight, and serve() returns.
        server.serve(target_loader=lambda: _buffered_input(app, limit), wrap_loader=False)
    except SystemExit as exc:  # granian exits 1 when its worker died
        return exc.code if isinstance(exc.code, int) else 1
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
    return 0


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
