"""Shared fixtures: an app with its own store per test, and a test client that sends a bearer
token, as every Graph client must."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mockgraph import Config, create_app
from mockgraph.http.contracts import Contracts
from mockgraph.state import MockGraph, mockgraph

TOKEN = "Bearer test-token"


@pytest.fixture(scope="session")
def contracts() -> Contracts:
    return Contracts.load()


@pytest.fixture
def config() -> Config:
    return Config()


@pytest.fixture
def app(config: Config, contracts: Contracts) -> Flask:
    return create_app(config, contracts=contracts)


@pytest.fixture
def client(app: Flask) -> Iterator[FlaskClient]:
    with app.test_client() as c:
        c.environ_base["HTTP_AUTHORIZATION"] = TOKEN
        yield c


@pytest.fixture
def state(app: Flask) -> MockGraph:
    return mockgraph(app)


@pytest.fixture(scope="module")
def ca_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A ``MOCKGRAPH_HOME`` for the module's HTTPS servers, so that its CA is never the user's."""
    home = tmp_path_factory.mktemp("mockgraph-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MOCKGRAPH_HOME", str(home))
        yield home


def pytest_configure(config: pytest.Config) -> None:
    # mockgraph's pytest plugin is loaded by the installed package's pytest11 entry point. From
    # a checkout that is not installed, register it here, so its fixtures (and the README's
    # twins in tests/examples/) run all the same; never twice (pluggy refuses that).
    import mockgraph.pytest_plugin as plugin

    manager = config.pluginmanager
    if not manager.has_plugin("mockgraph") and not manager.is_registered(plugin):
        manager.register(plugin, "mockgraph")
