"""What one app instance holds: its config, compiled contracts and store, hung off the Flask
app as ``app.extensions["mockgraph"]`` (never a module global, so apps never share state)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app

from .config import Config
from .contracts import Contracts
from .store import Store

EXTENSION = "mockgraph"


@dataclass
class MockGraph:
    """The per-app bundle. ``store`` is the only thing in it that changes after start-up;
    ``services`` holds the optional parts (journal, faults, recorder) by name."""

    config: Config
    contracts: Contracts
    store: Store
    services: dict[str, Any] = field(default_factory=dict)


def mockgraph(app: Flask | None = None) -> MockGraph:
    """The bundle of ``app`` (default: the app handling the current request)."""
    target = app if app is not None else current_app
    bundle: MockGraph = target.extensions[EXTENSION]
    return bundle
