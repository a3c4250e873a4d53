"""Operations tables -> Flask routes. A resource declares each operation once, as an
:class:`Operation`; routing, auth, faults, OpenAPI, the journal, the recorder, redaction and the
server all read that declaration.

An operation answers under every URL form Graph accepts: an item segment ``/{id}`` also as the
OData key ``('{id}')``; an action also under ``microsoft.graph.<name>``; a function also in call
form (``getActiveKey()``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

from flask import Flask, Request, Response, current_app, request
from marshmallow import Schema
from werkzeug.routing import BaseConverter

from mockgraph.config import BASE_PATH
from mockgraph.http import parsing
from mockgraph.http.rendering import service_root

if TYPE_CHECKING:
    from mockgraph.state import MockGraph


#: Items to store and a moment for the clock, from a documented answer and the example's id.
ExampleState = Callable[[Mapping[str, Any], str], tuple[tuple[Any, ...], float | None]]
#: A request body to replay, from the body, the answer and whether the example is documented.
ExampleBody = Callable[[Mapping[str, Any], Mapping[str, Any], bool], Mapping[str, Any]]


@dataclass(frozen=True)
class Operation:
    """One operation of a resource: ``id`` names its contract, ``path`` is the doc page's URL
    below ``/beta``. ``body`` types a JSON body (after the contract check); ``blocking`` work
    (key generation, key derivation) never runs on the server's event loop; ``secrets`` are
    body members to redact; ``query`` the options it takes and ``select`` what ``$select`` may
    name; ``contract`` is false for reads the docs give no example of. For the replay of
    documented examples (``build/replay.py``): ``example_state`` gives the items (and a moment
    for the clock) to store first, from the documented answer and the id standing for the
    path's placeholder; ``example_body`` makes what a page leaves out or a recording redacted
    in a request body (given the body, the answer, whether the example is documented)."""

    id: str
    methods: tuple[str, ...]
    path: str
    view: Callable[[Call], Response]
    body: Schema | None = None
    kind: Literal["entity", "action", "function"] = "entity"
    blocking: bool = False
    secrets: frozenset[str] = frozenset()
    query: frozenset[str] = frozenset()
    select: tuple[str, ...] = ()
    contract: bool = True
    example_state: ExampleState | None = None
    example_body: ExampleBody | None = None

    @cached_property
    def reads(self) -> bool:
        """Whether the operation never changes state (GET)."""
        return all(m in {"GET", "HEAD"} for m in self.methods)

    def rule(self) -> str:
        """The werkzeug URL rule that matches every form of :attr:`path`: an item segment
        ``/{id}`` is ``<item:id>``, an action's or function's name ``<verb(...):_verb>``."""
        stem, name = self.path, ""
        if self.kind != "entity":
            stem, name = self.path.rsplit("/", 1)
        rule = re.sub(r"/\{(\w+)\}", r"<item:\1>", stem)
        if name:
            rule += f"/<verb({name!r}, {self.kind == 'function'}):_verb>"
        return BASE_PATH + rule


@dataclass(frozen=True)
class Resource:
    """A resource: ``name`` is its member of state documents (``keySets``), ``new_store(lock)``
    makes an app's store, ``parse_state`` (``ValueError``) and ``dump_state`` read and write
    its items in state documents. For the contract build: ``id_schema`` is the JSON Schema of
    an ``id`` in a body, ``case_insensitive`` the enumerated properties the pages spell in any
    letter case. For the replay: ``example_item(path, id)`` gives the items a documented example
    addressing item ``id`` needs stored (the path has ``id`` in place)."""

    name: str
    operations: tuple[Operation, ...]
    new_store: Callable[[Any], Any]
    parse_state: Callable[[Any, str], list[Any]]
    dump_state: Callable[[Any], dict[str, Any]]
    id_schema: Mapping[str, Any] | None = None
    case_insensitive: frozenset[str] = frozenset()
    example_item: Callable[[str, str], tuple[Any, ...]] | None = None


@dataclass
class Call:
    """What a view gets: the app's state, the operation, the path parameters, the query
    options, the method, the service root the client addressed, and the :attr:`body`."""

    mock: MockGraph
    operation: Operation
    params: Mapping[str, str]
    args: Sequence[tuple[str, str]]
    method: str
    root: str

    @cached_property
    def body(self) -> Any:
        """The body read as JSON, checked against the contract, typed by the operation's
        schema; read when the view first asks. Raises GraphError."""
        schema, config = self.operation.body, self.mock.config
        if schema is None:
            return None
        value = parsing.read_object(request, config.max_body_bytes)
        if config.validate_requests:
            self.mock.contracts[self.operation.id].check_request(value)
        return parsing.load(schema, value)


class ItemConverter(BaseConverter):
    """An item segment in both forms: ``/B2C_1A_x`` and the OData key ``('B2C_1A_x')`` (with
    OData's doubled quotes)."""

    regex = r"/[^/()]+|\('(?:[^']|'')*'\)"
    part_isolating = False

    def to_python(self, value: str) -> str:
        return value[1:] if value.startswith("/") else value[2:-2].replace("''", "'")


class VerbConverter(BaseConverter):
    """An action's or function's name, also namespaced (``microsoft.graph.generateKey``), a
    function's also in call form (``getActiveKey()``)."""

    part_isolating = False

    def __init__(self, url_map: Any, name: str, function: bool = False) -> None:
        super().__init__(url_map)
        self.regex = (
            r"(?:microsoft\.graph\.)?" + re.escape(name) + (r"(?:\(\))?" if function else "")
        )


def register(app: Flask, operations: Sequence[Operation]) -> None:
    """Add every operation to ``app`` under its rule; the endpoint is the operation id."""
    app.url_map.converters.update(item=ItemConverter, verb=VerbConverter)
    for operation in operations:
        app.add_url_rule(
            operation.rule(), operation.id, _endpoint(operation), methods=list(operation.methods)
        )


def _endpoint(operation: Operation) -> Callable[..., Response]:
    def answer(**params: str) -> Response:
        req: Request = request._get_current_object()  # type: ignore[attr-defined]
        params.pop("_verb", None)
        call = Call(
            mock=current_app.extensions["mockgraph"],
            operation=operation,
            params=params,
            args=list(req.args.items(multi=True)),
            method=req.method,
            root=service_root(req),
        )
        return operation.view(call)

    answer.__name__ = operation.id
    return answer
