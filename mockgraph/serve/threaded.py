"""Werkzeug's threaded WSGI server as the live server (:mod:`mockgraph.serve.live`) and
``mockgraph serve --dev`` run it: on a socket bound by the caller, a thread per connection
with a socket timeout, its open connections closed and their threads joined on a stop, the
TLS handshake made in the connection's thread, and no access log."""

from __future__ import annotations

import ipaddress
import os
import socket
import ssl
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

from mockgraph.http.errors import StartupError
from mockgraph.serve import tls

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication


class QuietHandler(WSGIRequestHandler):
    """Werkzeug's handler without its access log line per request (the journal has them), and
    with the server's socket timeout: an idle or stalled connection gives its thread back."""

    def setup(self) -> None:
        super().setup()
        if isinstance(self.server, Server):
            self.connection.settimeout(self.server.idle_timeout)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

    def log_error(self, format: str, *args: Any) -> None:
        # A connection closed for its silence is the timeout doing its job, not an error.
        if not format.startswith("Request timed out"):
            super().log_error(format, *args)


class Server(ThreadedWSGIServer):
    """Werkzeug's threaded WSGI server on an already bound socket, keeping its open connections
    so that a stop can close them and join their threads. With a TLS context each connection
    makes its handshake in its own thread, under its timeout: made while accepting (Werkzeug's
    way), a client that never sends one would stall the serve loop, and a stop with it."""

    def __init__(
        self,
        host: str,
        listener: socket.socket,
        app: WSGIApplication,
        context: ssl.SSLContext | None,
        idle_timeout: float | None,
    ) -> None:
        super().__init__(host, 0, app, QuietHandler, fd=listener.fileno())
        self.idle_timeout = idle_timeout
        self._lock = threading.Lock()
        self._open: dict[socket.socket, threading.Thread] = {}
        if context is not None:
            self.socket = context.wrap_socket(
                self.socket, server_side=True, do_handshake_on_connect=False
            )
            self.ssl_context = context

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name=f"mockgraph-connection-{self.port}",
            daemon=True,
        )
        with self._lock:
            self._open[request] = thread
        thread.start()

    def shutdown_request(self, request: Any) -> None:
        with self._lock:
            self._open.pop(request, None)
        super().shutdown_request(request)

    def close_connections(self, timeout: float) -> int:
        """Stop reading from every open connection (an idle one closes; one in the middle of
        a request still sends its answer), wait up to ``timeout`` for their threads, then cut
        those still open; returns how many were cut."""
        with self._lock:
            connections = dict(self._open)
        deadline, cut = time.monotonic() + timeout, 0
        for how in (socket.SHUT_RD, socket.SHUT_RDWR):
            for connection, thread in connections.items():
                if thread.is_alive():
                    try:
                        # The plain socket's shutdown: a TLS socket's own drops its TLS state,
                        # while an answer may still be written through it.
                        socket.socket.shutdown(connection, how)
                    except OSError:  # closed meanwhile
                        pass
            for thread in connections.values():
                thread.join(max(0.0, deadline - time.monotonic()))
            if how == socket.SHUT_RD:  # still answering at the deadline: cut
                cut = sum(thread.is_alive() for thread in connections.values())
        return cut


def bind(host: str, port: int) -> socket.socket:
    """A socket listening on ``host`` (``[::1]`` as URLs write it binds ``::1``) and ``port``
    (0: a free one); a :class:`StartupError` when it cannot be resolved or bound. A name binds
    its IPv4 address where it has one (``localhost``: 127.0.0.1), as Werkzeug's servers do;
    ``::`` answers IPv4 too where the system can, as granian does."""
    bare = host.strip("[]")
    try:
        found = socket.getaddrinfo(bare, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise StartupError(f"cannot resolve {host}: {exc.strerror}") from None
    family, _, _, _, address = next((a for a in found if a[0] == socket.AF_INET), found[0])
    both = family == socket.AF_INET6 and ipaddress.ip_address(address[0]).is_unspecified
    try:
        return socket.create_server(
            address, family=family, dualstack_ipv6=both and socket.has_dualstack_ipv6()
        )
    except OSError as exc:  # create_server's own message names the address again
        raise StartupError(f"cannot bind {host}:{port}: {os.strerror(exc.errno or 0)}") from exc


def tls_context(cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    """A server context holding ``cert`` and ``key``, by default mockgraph's CA-signed
    ``localhost`` chain (made when missing). Raises :class:`StartupError` when they cannot be
    made or read."""
    try:
        if cert is None or key is None:
            files = tls.ensure()
            cert, key = files.server, files.server_key
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(cert, key)
    except OSError as exc:
        raise StartupError(f"cannot load the TLS certificate and key: {exc}") from exc
    return context
