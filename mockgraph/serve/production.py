"""Serving an app on a real socket for ``mockgraph serve`` and ``mockgraph record``: granian (a
Rust HTTP/1.1 server) with one worker process, its documented API, in front of the bridge; or
Werkzeug's threaded server behind ``--dev`` (``serve.threaded``, a connection silent for
:data:`HEADER_SECONDS` closed). Both stop on SIGINT/SIGTERM with status 0
once the requests in flight are answered, or :data:`DRAIN_SECONDS` have passed.

One worker, because the store is in memory: a second one would split it. The worker rebuilds
the app from its description (``serve.worker.Build``), so the app is built here first, only to
report a start-up problem as one line before any server starts. Timeouts and limits (the
figures behind them: ``benchmarks/README.md``): a request's headers within
:data:`HEADER_SECONDS` (an idle keep-alive connection is closed after as long), its body within
``worker.BODY_TIMEOUT`` (then 408), :data:`BACKLOG` connections waiting and as many open.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from flask import Flask

from mockgraph.http.errors import StartupError
from mockgraph.serve.worker import Build, load

log = logging.getLogger("mockgraph")

#: How long a request may take to send its headers, and an idle keep-alive connection may stay.
HEADER_SECONDS = 10
#: Connections the server accepts and keeps (pending and open), far above a test suite's pool.
BACKLOG = 2048
#: How long a stop waits for the requests in flight before ending them.
DRAIN_SECONDS = 10


@dataclass(frozen=True)
class Listen:
    """Where to serve: host, port (0: a free one) and, for HTTPS, the certificate chain and
    its key (PEM files; the key in PKCS#8)."""

    host: str
    port: int
    cert: Path | None = None
    key: Path | None = None

    @property
    def scheme(self) -> str:
        return "https" if self.cert is not None else "http"

    def root(self, port: int) -> str:
        """``scheme://host:port``, an IPv6 address in brackets."""
        bare = self.host.strip("[]")
        return f"{self.scheme}://{f'[{bare}]' if ':' in bare else bare}:{port}"


def serve(
    build: Build,
    listen: Listen,
    *,
    dev: bool = False,
    announce: Callable[[str, int], None] | None = None,
) -> int:
    """Serve the app of ``build`` on ``listen`` until SIGINT/SIGTERM; returns the exit status
    (0 after a graceful stop). ``announce(root_url, port)`` runs once the server answers.
    Raises :class:`StartupError` when the app cannot be built or the address bound. Must run
    in the main thread (the servers install signal handlers)."""
    app = build.app()  # a bad state file, rule or folder: reported here, as one line
    address, port = _bindable(listen.host, listen.port)
    if announce is not None:
        threading.Thread(
            target=_announce_when_listening, args=(address, port, listen, announce), daemon=True
        ).start()
    if dev:
        return _run_werkzeug(app, listen, port)
    _close(app)  # the worker builds its own: give back the state file's lock
    return _run_granian(build, listen, address, port)


def _close(app: Flask) -> None:
    state = app.extensions.get("mockgraph")
    if state is not None:
        state.close()


def _run_granian(build: Build, listen: Listen, address: str, port: int) -> int:
    try:
        from granian.constants import HTTPModes, Interfaces, SSLProtocols
        from granian.http import HTTP1Settings
        from granian.log import LogLevels
        from granian.server import Server
    except ImportError as exc:
        raise StartupError(f"granian cannot be imported here ({exc}); try --dev") from None
    _raise_open_files_limit(BACKLOG + 256)
    handlers = {
        name: {"formatter": form, "class": "logging.StreamHandler", "stream": "ext://sys.stderr"}
        for name, form in (("console", "generic"), ("access", "access"))
    }
    server = Server(
        "mockgraph.serve.worker:load",
        address=address,
        port=port,
        interface=Interfaces.ASGI,  # lifespan: the app closed at shutdown
        workers=1,
        http=HTTPModes.http1,
        http1_settings=HTTP1Settings(keep_alive=True, header_read_timeout=HEADER_SECONDS * 1000),
        websockets=False,
        backlog=BACKLOG,
        backpressure=BACKLOG,
        log_level=LogLevels.warning,
        log_dictconfig={"handlers": handlers},
        ssl_cert=listen.cert,
        ssl_key=listen.key,
        ssl_protocol_min=SSLProtocols.tls12,
        workers_kill_timeout=DRAIN_SECONDS,
    )
    server.serve(target_loader=partial(load, build.to_json()), wrap_loader=False)
    return 0


def _run_werkzeug(app: Flask, listen: Listen, port: int) -> int:
    import signal

    from mockgraph.serve.threaded import Server, bind, tls_context

    context = tls_context(listen.cert, listen.key) if listen.cert else None
    with bind(listen.host, port) as listener:
        server = Server(listen.host.strip("[]"), listener, app, context, HEADER_SECONDS)

    def stop(*_: Any) -> None:
        # shutdown() waits for serve_forever(), which runs in this (the main) thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.serve_forever()
    finally:
        server.server_close()
        if cut := server.close_connections(DRAIN_SECONDS):
            log.warning("stopping with %d request(s) unanswered after %d s", cut, DRAIN_SECONDS)
        _close(app)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def _bindable(host: str, port: int) -> tuple[str, int]:
    """The numeric address of ``host`` and ``port`` (a free one for port 0), checked to be
    bindable: a clean :class:`StartupError` where a server would print a traceback."""
    from mockgraph.serve.threaded import bind

    with bind(host, port) as probe:
        address, bound = probe.getsockname()[:2]
    return str(address), int(bound)


def _raise_open_files_limit(wanted: int) -> None:
    """Let the process hold ``wanted`` sockets where the system allows (macOS starts at 256)."""
    try:
        import resource
    except ImportError:  # Windows: no such limit
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def _announce_when_listening(
    address: str, port: int, listen: Listen, announce: Callable[[str, int], None]
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
        announce(listen.root(port), port)
        return
