"""A live mockgraph server in a background thread of this process: port 0 -> a free port read
back, a ready event, ``stop()`` that joins, errors of the server thread raised in the caller.

Usable without pytest::

    with MockGraphServer() as server:
        requests.post(server.url + "/trustFramework/keySets", json={"id": "signing"},
                      headers={"Authorization": "Bearer x"})
        assert server.requests[-1].status == 201

The server runs Werkzeug's threaded WSGI server (a thread per connection, keep-alive). It
serves whatever app it holds at the moment: :meth:`MockGraphServer.reconfigure` swaps in a new
app (a new Config, a fresh store and journal) without a new socket, so the URL stays the same.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from flask import Flask
from werkzeug.serving import (
    BaseWSGIServer,
    WSGIRequestHandler,
    get_sockaddr,
    make_server,
    select_address_family,
)

from mockgraph.app import create_app
from mockgraph.config import Config
from mockgraph.features.journal import Entry
from mockgraph.features.statefile import Items, load_file, parse_document
from mockgraph.http.errors import StartupError
from mockgraph.http.intake import is_loopback
from mockgraph.resources.keysets.models import KeySet
from mockgraph.resources.store import Store
from mockgraph.state import MockGraph, mockgraph

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

#: How often the serve loop looks for a stop request: the most ``stop()`` waits for it.
POLL_INTERVAL = 0.02
#: How long ``start()`` waits for the serve loop, and ``stop()`` for the thread to end.
TIMEOUT = 10.0

#: What :meth:`MockGraphServer.seed` and the pytest marker accept: a state file path, a state
#: document (``{"keySets": [...]}``) or key sets.
SeedSource = str | os.PathLike[str] | Mapping[str, Any] | Iterable[KeySet]


class _QuietHandler(WSGIRequestHandler):
    """Werkzeug's handler without its access log line per request (the journal has them), and
    with a socket timeout: an idle or stalled connection gives its thread back."""

    timeout = 60

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class MockGraphServer:
    """A mockgraph app served on ``host:port`` (default ``127.0.0.1``, a free port) from a
    background thread.

    ``config`` builds a new app (``Config()`` when both are omitted); ``app`` serves an app made
    with :func:`mockgraph.create_app`; passing both is a ``ValueError``. A ``host`` that is not
    a loopback address is refused unless ``allow_remote`` (the mock accepts any token).
    ``Config.host`` and ``Config.port`` are those of ``mockgraph serve`` and are not used here.
    """

    def __init__(
        self,
        config: Config | None = None,
        *,
        app: Flask | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        allow_remote: bool = False,
    ) -> None:
        if app is not None and config is not None:
            raise ValueError("pass a config or an app, not both")
        if not is_loopback(host) and not allow_remote:
            raise ValueError(
                f"{host} is not a loopback address; pass allow_remote=True to serve it"
            )
        self._app: Flask = app if app is not None else create_app(config)
        mockgraph(self._app)  # a TypeError/KeyError now rather than on the first request
        self._host = host
        self._requested_port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    # -- the app and its state -----------------------------------------------------------------
    @property
    def app(self) -> Flask:
        """The Flask app being served."""
        return self._app

    @property
    def state(self) -> MockGraph:
        """The app's state: config, contracts, stores, journal."""
        return mockgraph(self._app)

    @property
    def config(self) -> Config:
        return self.state.config

    @property
    def store(self) -> Store[KeySet]:
        """The key sets being served: read them, or seed them (see :meth:`seed`)."""
        store: Store[KeySet] = self.state.stores["keySets"]
        return store

    @property
    def requests(self) -> list[Entry]:
        """The journal, oldest first: every exchange answered since the last reset (at most
        ``Config.journal_size``, and fewer once they pass ``Config.journal_bytes``), secrets
        redacted."""
        return self.state.journal.entries()

    def reset(self) -> None:
        """Stores back to how the app started, journal cleared, clock and fault counters back
        to the Config: what ``POST /_mockgraph/reset`` does."""
        self.state.reset()

    def seed(self, source: SeedSource) -> list[Any]:
        """Add items (replacing any with the same id) from a state file path, a state document
        or :class:`~mockgraph.KeySet` objects; returns the items added. A bad file or document
        raises :class:`~mockgraph.features.statefile.InvalidState` and adds nothing."""
        return seed_state(self.state, source)

    def reconfigure(self, config: Config | None = None, *, app: Flask | None = None) -> None:
        """Serve a new app from now on: built from ``config`` with the current app's compiled
        contracts (cheap), or ``app``. Its stores and journal start empty; the URL stays.
        Requests in flight finish on the old app."""
        if app is not None and config is not None:
            raise ValueError("pass a config or an app, not both")
        if app is None:
            app = create_app(config, contracts=self.state.contracts)
        mockgraph(app)
        self._app = app

    # -- the socket and the thread -------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        """The port bound (the free one picked for port 0); only once started."""
        return self._bound().port

    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:<port>``: where ``/_mockgraph/...`` lives."""
        bare = self._host.strip("[]")
        return f"http://{f'[{bare}]' if ':' in bare else bare}:{self.port}"

    @property
    def url(self) -> str:
        """The Graph base URL, ``http://127.0.0.1:<port>/beta``: append
        ``/trustFramework/keySets``."""
        return self.root_url + "/beta"

    def _bound(self) -> BaseWSGIServer:
        if self._server is None:
            raise RuntimeError("the mockgraph server is not started: call start() first")
        return self._server

    def start(self) -> Self:
        """Bind the socket and serve from a daemon thread; returns once requests are answered.

        Raises :class:`~mockgraph.http.errors.StartupError` (from the ``OSError``) when the address
        cannot be bound, ``RuntimeError`` when already started.
        """
        if self._server is not None:
            raise RuntimeError("the mockgraph server is already started")
        # Bound here, not by make_server: Werkzeug answers a bind failure with a message on
        # stderr and sys.exit(1), which a library must not do.
        try:
            family = select_address_family(self._host, self._requested_port)
            address = get_sockaddr(self._host, self._requested_port, family)
            listener = socket.create_server(address, family=family)
        except OSError as exc:
            raise StartupError(
                f"cannot bind {self._host}:{self._requested_port}: {exc.strerror or exc}"
            ) from exc
        with listener:  # make_server serves a duplicate of it
            server = make_server(
                self._host,
                self._requested_port,
                self._wsgi,
                threaded=True,
                request_handler=_QuietHandler,
                fd=listener.fileno(),
            )
        self._server = server
        self._error = None
        self._ready.clear()
        self._thread = threading.Thread(
            target=self._serve, name=f"mockgraph-server-{server.port}", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(TIMEOUT):  # pragma: no cover - a thread that never ran
            self.stop()
            raise StartupError("the mockgraph server thread did not start")
        if self._error is not None:
            self.stop()  # closes the socket, then raises the error
        return self

    def _serve(self) -> None:
        server = self._bound()
        self._ready.set()
        try:
            server.serve_forever(poll_interval=POLL_INTERVAL)
        except BaseException as exc:  # re-raised in the caller by check() / stop()
            self._error = exc

    def _wsgi(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        # Looked up per request, so reconfigure() takes effect at once.
        return self._app(environ, start_response)

    def check(self) -> None:
        """Raise the exception that ended the serve loop, if one did."""
        error = self._error
        if error is not None:
            raise error

    def stop(self) -> None:
        """Stop serving, close the socket and join the thread; then raise the exception that
        ended the serve loop, if one did. Stopping a stopped server does nothing."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        if thread is not None and thread.is_alive():
            server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(TIMEOUT)
        error, self._error = self._error, None
        if error is not None:
            raise error

    def __enter__(self) -> Self:
        if self._server is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc is None:
            self.stop()
            return
        try:
            self.stop()
        except Exception:  # the body's exception is the one to see
            pass

    def __repr__(self) -> str:
        where = self.url if self._server is not None else "not started"
        return f"<MockGraphServer {where}>"


def items_from(state: MockGraph, source: SeedSource) -> Items:
    """The items of a seed source (see :data:`SeedSource`); raises
    :class:`~mockgraph.features.statefile.InvalidState` for a bad file or document."""
    if isinstance(source, str | os.PathLike):
        return load_file(source, state.resources)
    if isinstance(source, Mapping):
        return parse_document(source, state.resources, "the seed document")
    keysets = list(source)
    for item in keysets:
        if not isinstance(item, KeySet):
            raise TypeError(f"seed with KeySet objects, not {type(item).__name__}")
    return {"keySets": keysets}


def seed_state(state: MockGraph, source: SeedSource) -> list[Any]:
    """Add the items of ``source`` to ``state``'s stores, replacing those with the same id (ids
    compare case-insensitively); returns them."""
    items = items_from(state, source)
    added = [item for found in items.values() for item in found]
    if added:
        state.load({name: [*store, *items.get(name, ())] for name, store in state.stores.items()})
    return added
