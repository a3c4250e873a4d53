"""A live mockgraph server in a background thread of this process (:class:`MockGraphServer`),
on Werkzeug's threaded server (:mod:`mockgraph.serve.threaded`)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from flask import Flask

from mockgraph.app import create_app
from mockgraph.config import Config
from mockgraph.features.journal import Entry
from mockgraph.features.statefile import load_file, parse_document
from mockgraph.http.errors import StartupError
from mockgraph.http.intake import is_loopback
from mockgraph.resources.keysets.models import KeySet
from mockgraph.resources.store import Store
from mockgraph.serve import tls
from mockgraph.serve.threaded import Server, bind, tls_context
from mockgraph.state import MockGraph, mockgraph

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment
    from azure.identity import ClientSecretCredential
    from requests import Session

#: How often the serve loop looks for a stop request: the most ``stop()`` waits for it.
POLL_INTERVAL = 0.02
#: How long ``start()`` waits for the serve loop, and ``stop()`` for the threads to end.
TIMEOUT = 10.0
#: Seconds a connection may stay silent (idle between requests, or stalled in a request or in
#: its TLS handshake) before its thread closes it.
IDLE_TIMEOUT = 60.0
#: The tenant :meth:`MockGraphServer.credential` signs in to (the authority takes any).
TENANT = "mockgraph"
#: The app :meth:`MockGraphServer.credential` signs in as when ``Config.apps`` registers none
#: (the authority then lets any client id and secret in).
CLIENT_ID, CLIENT_SECRET = "mockgraph-client", "mockgraph-secret"

#: What :meth:`MockGraphServer.seed` and the pytest marker accept: a state file path, a state
#: document (``{"keySets": [...]}``) or key sets.
SeedSource = str | os.PathLike[str] | Mapping[str, Any] | Iterable[KeySet]


class MockGraphServer:
    """A mockgraph app served on ``host:port`` (default ``127.0.0.1``, a free port) from a
    background thread.

    ``config`` builds a new app (``Config()`` when both are omitted); ``app`` serves an app made
    with :func:`mockgraph.create_app`; passing both is a ``ValueError``. A ``host`` that is not
    a loopback address is a ``ValueError`` unless ``allow_remote`` (the mock accepts any token);
    an app built here then answers any ``Host`` (``Config.allow_remote``). ``tls`` serves HTTPS
    with mockgraph's own CA-signed ``localhost`` certificate (made in ``MOCKGRAPH_HOME`` when
    missing). A connection silent for ``idle_timeout`` seconds is closed. ``Config.host``,
    ``Config.port``, ``Config.tls``, ``Config.cert`` and ``Config.key`` are those of
    ``mockgraph serve`` and are not used here.
    """

    def __init__(
        self,
        config: Config | None = None,
        *,
        app: Flask | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        allow_remote: bool = False,
        tls: bool = False,
        idle_timeout: float = IDLE_TIMEOUT,
    ) -> None:
        if app is not None and config is not None:
            raise ValueError("pass a config or an app, not both")
        if not is_loopback(host) and not allow_remote:
            raise ValueError(
                f"{host} is not a loopback address; pass allow_remote=True to serve it"
            )
        if app is None and allow_remote:
            config = (config or Config()).replace(allow_remote=True)
        self._app: Flask = app if app is not None else create_app(config)
        mockgraph(self._app)  # a TypeError/KeyError now rather than on the first request
        self._host = host
        self._requested_port = port
        self._tls = tls
        self._idle_timeout = idle_timeout
        self._ca_path: Path | None = None
        self._server: Server | None = None
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
        """The app's state: config, contracts, clock, stores, journal."""
        return mockgraph(self._app)

    @property
    def config(self) -> Config:
        return self.state.config

    @property
    def store(self) -> Store[KeySet]:
        """The key sets being served: read them, or seed them (see :meth:`seed`)."""
        return self.state.stores["keySets"]

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

    # -- where it listens, and clients for it --------------------------------------------------
    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def host(self) -> str:
        return self._host

    @property
    def tls(self) -> bool:
        """Whether it serves HTTPS."""
        return self._tls

    @property
    def port(self) -> int:
        """The port bound (the free one picked for port 0); only once started."""
        return self._bound().port

    @property
    def root_url(self) -> str:
        """``http(s)://127.0.0.1:<port>``: where ``/_mockgraph/...`` and the sign-in
        authority live."""
        bare = self.host.strip("[]")
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{f'[{bare}]' if ':' in bare else bare}:{self.port}"

    @property
    def url(self) -> str:
        """The Graph base URL, ``http(s)://127.0.0.1:<port>/beta``: append
        ``/trustFramework/keySets``."""
        return self.root_url + "/beta"

    #: The sign-in authority's host: token endpoint ``{authority}/{tenant}/oauth2/v2.0/token``.
    authority = root_url

    @property
    def ca_path(self) -> Path | None:
        """The CA certificate a client trusts to call this server (PEM); ``None`` for HTTP.
        ``MOCKGRAPH_HOME`` is read by ``start()``: before it, a ``RuntimeError`` for HTTPS."""
        if self.tls and self._ca_path is None:
            self._bound()
        return self._ca_path

    def session(self) -> Session:
        """A new ``requests.Session`` for this server: it trusts :attr:`ca_path` and sends no
        token by itself. It reads no environment (no proxy, no CA bundle variable, no
        ``~/.netrc`` credentials), so nothing around the test changes what it sends. Raises
        ``ImportError`` when requests is not installed."""
        try:
            import requests
        except ImportError:
            raise ImportError(
                "MockGraphServer.session() needs requests: pip install requests"
            ) from None
        session = requests.Session()
        session.trust_env = False
        if self.ca_path is not None:
            session.verify = str(self.ca_path)
        return session

    def credential(
        self,
        client_id: str | None = None,
        secret: str | None = None,
        tenant: str = TENANT,
        **options: Any,
    ) -> ClientSecretCredential:
        """An ``azure.identity.ClientSecretCredential`` that gets its tokens from this
        server's authority, trusting :attr:`ca_path`; ``options`` go to it. The app is the
        first of ``Config.apps``, else any (the authority lets any in when none is
        registered). Raises ``RuntimeError`` for a server without TLS (azure-identity signs in
        over HTTPS only) and ``ImportError`` when azure-identity is not installed."""
        if self.ca_path is None:
            raise RuntimeError("azure-identity signs in over HTTPS only: serve with tls=True")
        try:
            from azure.identity import ClientSecretCredential
        except ImportError:
            raise ImportError(
                "MockGraphServer.credential() needs azure-identity: pip install azure-identity"
            ) from None
        registered = next(iter(self.state.authority.apps.values()), None)
        if client_id is None:
            client_id = registered.client_id if registered else CLIENT_ID
        if secret is None:
            secret = registered.secret if registered else CLIENT_SECRET
        options.setdefault("connection_verify", str(self.ca_path))
        return ClientSecretCredential(
            tenant,
            client_id,
            secret,
            authority=self.authority,
            disable_instance_discovery=True,
            **options,
        )

    # -- the socket and the threads ------------------------------------------------------------
    def _bound(self) -> Server:
        if self._server is None:
            raise RuntimeError("the mockgraph server is not started: call start() first")
        return self._server

    def start(self) -> Self:
        """Bind the socket and serve from a daemon thread; returns once requests are answered.

        Raises :class:`~mockgraph.http.errors.StartupError` (from the ``OSError``) when the address
        cannot be bound or the certificate not made, ``RuntimeError`` when already started.
        """
        if self._server is not None:
            raise RuntimeError("the mockgraph server is already started")
        context = None
        if self.tls:
            context, self._ca_path = tls_context(), tls.Files.of(tls.home()).ca
        # Bound here, not by Werkzeug, which answers a bind failure with sys.exit(1).
        with bind(self.host, self._requested_port) as listener:  # the server serves a dup
            server = Server(
                self.host.strip("[]"), listener, self._wsgi, context, self._idle_timeout
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
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        """Stop serving, close the socket and every connection, and join the threads (a
        request in flight gets up to :data:`TIMEOUT` seconds to finish); then raise the
        exception that ended the serve loop, if one did. Stopping a stopped server does
        nothing."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        if thread is not None and thread.is_alive():
            server.shutdown()
        server.close_connections(TIMEOUT)
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
        try:
            self.stop()
        except Exception:
            if exc is None:  # else the body's exception is the one to see
                raise

    def __repr__(self) -> str:
        where = self.url if self._server is not None else "not started"
        return f"<MockGraphServer {where}>"


def seed_state(state: MockGraph, source: SeedSource) -> list[Any]:
    """Add the items of ``source`` to ``state``'s stores, replacing those with the same id (ids
    compare case-insensitively); returns them."""
    if isinstance(source, str | os.PathLike):
        items = load_file(source, state.resources)
    elif isinstance(source, Mapping):
        items = parse_document(source, state.resources, "the seed document")
    else:
        items = {"keySets": list(source)}
        for item in items["keySets"]:
            if not isinstance(item, KeySet):
                raise TypeError(f"seed with KeySet objects, not {type(item).__name__}")
    added = [item for found in items.values() for item in found]
    if added:
        state.load({name: [*store, *items.get(name, ())] for name, store in state.stores.items()})
    return added
