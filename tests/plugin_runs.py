"""Running the pytest plugin in pytester's in-process runs (for the plugin's test modules)."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest

from mockgraph.http.contracts import Contracts

#: The start of a test file that calls the mock.
HEADER = """
import pathlib
import requests
AUTH = {"Authorization": "Bearer t"}
KEYSETS = "/trustFramework/keySets"
"""


def plugin_args() -> list[str]:
    """``-p mockgraph.pytest_plugin`` unless the installed package's ``pytest11`` entry point
    loads the plugin already (loading it twice is an error)."""
    installed = any(ep.value == "mockgraph.pytest_plugin" for ep in entry_points(group="pytest11"))
    return [] if installed else ["-p", "mockgraph.pytest_plugin"]


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest(*plugin_args(), "-p", "no:cacheprovider", *args)


def share_contracts(pytester: pytest.Pytester, contracts: Contracts) -> pytest.Pytester:
    """``pytester`` whose in-process runs reuse this session's compiled ``contracts`` (the
    plugin's ``mockgraph_contracts`` calls ``Contracts.load()``; compiling is the slow part)."""
    pytester._monkeypatch.setattr(  # the Pytester's own monkeypatch, undone after the test
        Contracts, "load", classmethod(lambda cls, directory=None: contracts)
    )
    return pytester
