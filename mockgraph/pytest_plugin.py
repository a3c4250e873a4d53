"""pytest fixtures for mockgraph (entry point ``pytest11``), all named ``mockgraph_*``, none
autouse; the README's pytest section describes them. mockgraph itself is imported only when a
fixture is first used, so installing it does not slow down test runs that never use it."""

from __future__ import annotations

import json
from collections.abc import Callable, Generator, Iterator, Mapping
from contextlib import suppress
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from azure.identity import ClientSecretCredential
    from flask import Flask
    from flask.testing import FlaskClient
    from requests import Session

    from mockgraph.config import Config
    from mockgraph.features.journal import Entry
    from mockgraph.http.contracts import Contracts
    from mockgraph.serve.live import MockGraphServer
    from mockgraph.state import MockGraph

#: The marker that preloads key sets.
MARKER = "mockgraph_state"
#: The ini option that turns the report section of a failed test's exchanges off.
REPORT_OPTION = "mockgraph_report"
#: How much of a body the report section shows.
REPORT_BODY_CHARS = 400
#: The mocks a test used (labelled, and read when its report is made: a live server may have
#: swapped its app meanwhile).
_USED: pytest.StashKey[list[tuple[str, Callable[[], MockGraph]]]] = pytest.StashKey()
#: The bearer token ``mockgraph_client`` sends (any opaque token is accepted by default).
TOKEN = "mockgraph-test-token"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        REPORT_OPTION,
        "show the mockgraph exchanges of a failed test in its report (default: true)",
        type="bool",
        default=True,
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(*sources): preload key sets from state files (paths relative to the test "
        "file's folder) or state documents into mockgraph_app and mockgraph_server.",
    )


@pytest.fixture
def mockgraph_config() -> Config:
    """The config of ``mockgraph_app`` and ``mockgraph_server``: override this fixture (any
    scope) to change it."""
    from mockgraph.config import Config

    return Config()


@pytest.fixture(scope="session")
def mockgraph_contracts() -> Contracts:
    """The contracts shipped with mockgraph, compiled once per session."""
    from mockgraph.http.contracts import Contracts

    return Contracts.load()


class AppCache:
    """Apps built from a config, one per (use, config), kept for reuse; the least recently
    used is dropped beyond ``size``. Configs are compared with ``==``."""

    def __init__(self, contracts: Contracts, size: int = 8) -> None:
        self.contracts = contracts
        self.size = size
        self._apps: list[tuple[str, Config, Flask]] = []

    def get(self, config: Config, use: str) -> Flask:
        """The app for ``config`` and ``use`` (``"app"`` or ``"server"``), built if needed;
        as the last test left it (callers reset it)."""
        from mockgraph.app import create_app

        for index, (kind, known, app) in enumerate(self._apps):
            if kind == use and known == config:
                self._apps.append(self._apps.pop(index))
                return app
        app = create_app(config, contracts=self.contracts)
        self._apps.append((use, config, app))
        del self._apps[: -self.size]
        return app


@pytest.fixture(scope="session")
def mockgraph_app_cache(mockgraph_contracts: Contracts) -> AppCache:
    """The apps of this session, built once per distinct config and use, reset by the fixtures
    before every test (do not change ``mockgraph_app.config`` in a test)."""
    return AppCache(mockgraph_contracts)


@pytest.fixture
def mockgraph_app(
    mockgraph_config: Config, mockgraph_app_cache: AppCache, request: pytest.FixtureRequest
) -> Flask:
    """The app of ``mockgraph_config``, reset: an empty store (plus any ``mockgraph_state``
    key sets), an empty journal, the configured clock."""
    from mockgraph.state import mockgraph

    app = mockgraph_app_cache.get(mockgraph_config, "app")
    state = mockgraph(app)
    state.reset()
    _seed_and_note(request, "mockgraph_app", lambda: state)
    return app


@pytest.fixture
def mockgraph_client(mockgraph_app: Flask) -> Iterator[FlaskClient]:
    """The test client of ``mockgraph_app``; sends ``Authorization: Bearer`` :data:`TOKEN`."""
    with mockgraph_app.test_client() as client:
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {TOKEN}"
        yield client


@pytest.fixture(scope="session")
def mockgraph_session_server(mockgraph_app_cache: AppCache) -> Iterator[MockGraphServer]:
    """The HTTP live server of this session (of this xdist worker), never reset by itself:
    most tests want ``mockgraph_server``."""
    yield from _session_server(mockgraph_app_cache, tls=False)


@pytest.fixture(scope="session")
def mockgraph_session_tls_server(mockgraph_app_cache: AppCache) -> Iterator[MockGraphServer]:
    """The HTTPS live server of this session (of this xdist worker), never reset by itself:
    most tests want ``mockgraph_server`` with ``tls=True`` in ``mockgraph_config``."""
    yield from _session_server(mockgraph_app_cache, tls=True)


def _session_server(cache: AppCache, tls: bool) -> Iterator[MockGraphServer]:
    from mockgraph.config import Config
    from mockgraph.serve.live import MockGraphServer

    server = MockGraphServer(app=cache.get(Config(tls=tls), "server"), tls=tls)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def mockgraph_server(
    mockgraph_config: Config, mockgraph_app_cache: AppCache, request: pytest.FixtureRequest
) -> Iterator[MockGraphServer]:
    """The session's live server (HTTPS when ``mockgraph_config.tls``) serving the app of
    ``mockgraph_config`` (swapped in when the previous test's config differed; same URL),
    reset and seeded from any ``mockgraph_state`` mark. An error that ended the server's
    thread fails the test during which it happened, and the server is restarted (on a new
    port) for the tests after it."""
    name = "mockgraph_session_tls_server" if mockgraph_config.tls else "mockgraph_session_server"
    server: MockGraphServer = request.getfixturevalue(name)
    _check_or_restart(server)
    app = mockgraph_app_cache.get(mockgraph_config, "server")
    if server.app is not app:
        server.reconfigure(app=app)
    server.reset()
    _seed_and_note(request, f"mockgraph_server {server.root_url}", lambda: server.state)
    yield server
    _check_or_restart(server)


@pytest.fixture
def mockgraph_requests(mockgraph_server: MockGraphServer) -> Iterator[Session]:
    """A ``requests.Session`` for ``mockgraph_server``: it trusts the server's CA, sends no
    token by itself and reads no environment (proxies, CA variables, ``~/.netrc``)."""
    with mockgraph_server.session() as session:
        yield session


@pytest.fixture
def mockgraph_credential(mockgraph_server: MockGraphServer) -> Iterator[ClientSecretCredential]:
    """An azure-identity ``ClientSecretCredential`` signing in at ``mockgraph_server``'s
    authority as the first app of ``Config.apps`` (else any), trusting the server's CA. Fails
    the test when ``mockgraph_config`` has no ``tls=True``."""
    if not mockgraph_server.tls:
        pytest.fail(
            "mockgraph_credential needs HTTPS: return a Config with tls=True from mockgraph_config",
            pytrace=False,
        )
    with mockgraph_server.credential() as credential:
        yield credential


def _check_or_restart(server: MockGraphServer) -> None:
    """Raise the error that ended the server's thread, once: the server is started again
    before it is raised, so one broken test does not fail every later one."""
    try:
        server.check()
    except BaseException:
        with suppress(BaseException):  # the same error, raised below
            server.stop()
        server.start()
        raise


def _seed_and_note(
    request: pytest.FixtureRequest, label: str, state: Callable[[], MockGraph]
) -> None:
    """Load the sources of every ``mockgraph_state`` mark into the mock ``state()`` returns,
    farthest first (so the nearest wins; a bad one fails the test with the state file's
    message), then remember that the test used that mock, for the report of a failure."""
    from mockgraph.http.errors import StartupError
    from mockgraph.serve.live import seed_state

    for mark in reversed(list(request.node.iter_markers(MARKER))):
        if not mark.args:
            pytest.fail(f"@pytest.mark.{MARKER} needs a state file path or document", pytrace=False)
        for source in mark.args:
            if not isinstance(source, Mapping):  # an absolute path stays itself
                source = request.path.parent / source
            problem = None
            try:
                seed_state(state(), source)
            except StartupError as exc:
                problem = str(exc)
            if problem is not None:  # failed outside the handler: no chained traceback
                pytest.fail(f"@pytest.mark.{MARKER}: {problem}", pytrace=False)
    request.node.stash.setdefault(_USED, []).append((label, state))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed test that used a mockgraph fixture shows the exchanges it had with the mock,
    as pytest shows captured output (opt out with the ``mockgraph_report`` ini option)."""
    report = yield
    used = item.stash.get(_USED, [])
    if report.failed and report.when == "call" and used and item.config.getini(REPORT_OPTION):
        lines = []
        for label, state in used:
            if len(used) > 1:
                lines.append(f"{label}:")
            entries = state().journal.entries()
            lines.extend(_exchange(entry) for entry in entries)
            if not entries:
                lines.append("(none)")
        report.sections.append(("mockgraph exchanges", "\n".join(lines)))
    return report


def _exchange(entry: Entry) -> str:
    """One exchange of the report: request line, status, operation, error code and the
    contract's verdict, then the bodies (already redacted), trimmed."""
    query = "&".join(f"{k}={v}" for k, values in entry.query.items() for v in values)
    head = f"{entry.method} {entry.path}{'?' + query if query else ''} -> {entry.status}"
    head += f" {entry.operation or '-'}"
    if entry.error_code:
        head += f" {entry.error_code}"
    head += " contract: " + ("; ".join(entry.violations) if entry.violations else "ok")
    lines = [head]
    for label, body in (("request", entry.body), ("answer", entry.response_body)):
        if body is not None:
            text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
            cut = text if len(text) <= REPORT_BODY_CHARS else text[:REPORT_BODY_CHARS] + "..."
            lines.append(f"    {label}: {cut}")
    return "\n".join(lines)
