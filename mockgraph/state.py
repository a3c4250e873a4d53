"""What one app instance holds: its config, compiled contracts, store and request hooks, hung
off the Flask app as ``app.extensions["mockgraph"]`` (never a module global, so apps never
share state)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from flask import Flask, current_app, g, request

from mockgraph.config import Config
from mockgraph.http.contracts import Contracts
from mockgraph.resources.keysets.store import Store

if TYPE_CHECKING:
    from flask import Request, Response
    from flask.ctx import _AppCtxGlobals
    from werkzeug.local import LocalProxy

EXTENSION = "mockgraph"

#: A step run before the view of every request, given the request and ``g`` themselves (not
#: Flask's proxies, whose every attribute read is a context lookup). A response it returns is
#: the answer; an exception it raises is rendered as any other.
BeforeHook = Callable[["Request", "_AppCtxGlobals"], "Response | None"]
#: A step run after the view (or the error renderer), as Flask's ``after_request`` functions.
AfterHook = Callable[["Request", "_AppCtxGlobals", "Response"], "Response"]


@dataclass
class MockGraph:
    """The per-app bundle. ``store`` is the only thing in it that changes after start-up;
    ``services`` holds the optional parts (journal, faults, recorder) by name.

    ``before`` and ``after`` are the request hooks, filled once by ``create_app`` and the
    installers: the ``before`` steps run in the order added, the ``after`` steps in the reverse
    order (as Flask runs ``after_request`` functions), all within ONE Flask hook each."""

    config: Config
    contracts: Contracts
    store: Store
    services: dict[str, Any] = field(default_factory=dict)
    before: list[BeforeHook] = field(default_factory=list)
    after: list[AfterHook] = field(default_factory=list)


# The real objects behind Flask's proxies, for code that runs on every request: each attribute
# read through a proxy is a context lookup (~2 us; the object itself, ~0.2 us).
#: The request being handled (``flask.request`` itself, not its proxy).
current_request = cast("LocalProxy[Request]", request)._get_current_object
#: The ``g`` of the request being handled.
current_g = cast("LocalProxy[_AppCtxGlobals]", g)._get_current_object
_current_app = cast("LocalProxy[Flask]", current_app)._get_current_object


def mockgraph(app: Flask | None = None) -> MockGraph:
    """The bundle of ``app`` (default: the app handling the current request)."""
    target = app if app is not None else _current_app()
    bundle: MockGraph = target.extensions[EXTENSION]
    return bundle
