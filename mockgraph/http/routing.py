"""Operations tables -> Flask routes. A resource declares each of its operations once, as an
:class:`Operation` (id, methods, URL, view, body schema, whether it may block, its secrets);
routing, auth, faults, the OpenAPI document, the journal, the recorder, redaction and the
server all read that one declaration.

Each operation answers under every URL form Graph accepts for it: an item segment ``/{id}``
also in the OData key form ``('{id}')``; an action also under its namespaced name
(``microsoft.graph.generateKey``); a function also in call form (``getActiveKey()``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

from flask import Flask, Response, current_app, request
from marshmallow import Schema
from werkzeug.routing import BaseConverter

from mockgraph.config import BASE_PATH
from mockgraph.http import parsing
from mockgraph.http.facts import facts
from mockgraph.http.rendering import service_root

if TYPE_CHECKING:
    from mockgraph.state import MockGraph

#: A view: the call's facts -> the answer. Views raise GraphError for every refusal.
View = Callable[["Call"], Response]
_PARAMETER = re.compile(r"/\{(\w+)\}")


@dataclass(frozen=True)
class Operation:
    """One operation of a resource, declared once.

    ``path`` is the doc page's URL below ``/beta`` (``/trustFramework/keySets/{id}``) and
    ``id`` its contract's name. ``body`` types a JSON body (checked against the contract
    first). ``kind`` ``action`` or ``function`` adds the namespaced and call forms. ``blocking``
    marks work that may wait (key generation, key derivation): the server never runs it on
    its event loop. ``secrets`` names body members to redact beyond the key secrets.
    ``contract`` is false for reads the docs give no example of (no ``schemas/`` file)."""

    id: str
    methods: tuple[str, ...]
    path: str
    view: View
    body: Schema | None = None
    kind: Literal["entity", "action", "function"] = "entity"
    blocking: bool = False
    secrets: frozenset[str] = frozenset()
    query: frozenset[str] = frozenset()
    select: tuple[str, ...] = ()
    contract: bool = True

    @property
    def reads(self) -> bool:
        """Whether the operation never changes state (GET)."""
        return all(m in {"GET", "HEAD"} for m in self.methods)

    def rules(self) -> list[str]:
        """The werkzeug URL rules of every form of :attr:`path`, below ``/beta``."""
        forms = [""]
        for index, piece in enumerate(re.split(r"(/\{\w+\})", self.path)):
            if not piece:
                continue
            if index % 2 == 0:
                forms = [f + piece for f in forms]
            else:
                name = piece[2:-1]
                forms = [f + s for f in forms for s in (f"/<{name}>", f"(<odatakey:{name}>)")]
        name = self.path.rsplit("/", 1)[-1]
        if self.kind == "action":
            forms += [f.removesuffix(name) + f"microsoft.graph.{name}" for f in forms]
        elif self.kind == "function":
            forms = [g for f in forms for g in (f, f + "()")]
            forms += [
                f.removesuffix(name) + f"microsoft.graph.{name}" for f in forms if f.endswith(name)
            ]
            forms += [f + "()" for f in forms if f.endswith(f"microsoft.graph.{name}")]
        return [BASE_PATH + f for f in dict.fromkeys(forms)]


@dataclass(frozen=True)
class Resource:
    """A resource the mock serves: its operations table and how its items are stored.
    ``name`` is the member of state documents (``keySets``); the store of each app is made by
    ``new_store(lock)``; ``parse_state`` and ``dump_state`` read and write the items of a
    state document (secrets included). For the contract build: ``id_schema`` is the JSON
    Schema of an ``id`` a request body gives (what the parser accepts), ``case_insensitive``
    the enumerated properties the doc pages spell in any letter case."""

    name: str
    operations: tuple[Operation, ...]
    new_store: Callable[[Any], Any]
    parse_state: Callable[[Any, str], list[Any]]
    dump_state: Callable[[Any], dict[str, Any]]
    id_schema: Mapping[str, Any] | None = None
    case_insensitive: frozenset[str] = frozenset()


@dataclass
class Call:
    """What a view gets: the app's state, the operation, the path parameters, the query
    options, the method and the service root as the client addressed it; and :attr:`body`,
    read when the view first asks for it (so a view decides what it checks first)."""

    mock: MockGraph
    operation: Operation
    params: Mapping[str, str]
    args: Sequence[tuple[str, str]]
    method: str
    root: str

    @cached_property
    def body(self) -> Any:
        """The typed body: read as JSON, checked against the contract, loaded by the
        operation's schema. Raises GraphError."""
        schema, config = self.operation.body, self.mock.config
        if schema is None:
            return None
        value = parsing.read_object(request, config.max_body_bytes)
        if config.validate_requests:
            self.mock.contracts[self.operation.id].check_request(value)
        return parsing.load(schema, value)


class ODataKeyConverter(BaseConverter):
    """``'B2C_1A_x'`` (with OData's doubled quotes) in ``keySets('B2C_1A_x')``."""

    regex = r"'(?:[^']|'')*'"
    part_isolating = False

    def to_python(self, value: str) -> str:
        return value[1:-1].replace("''", "'")

    def to_url(self, value: Any) -> str:
        return "'" + str(value).replace("'", "''") + "'"


def register(app: Flask, operations: Sequence[Operation]) -> None:
    """Add every URL form of every operation to ``app``; the endpoint is the operation id."""
    app.url_map.converters["odatakey"] = ODataKeyConverter
    for operation in operations:
        endpoint = _endpoint(operation)
        for rule in operation.rules():
            app.add_url_rule(rule, operation.id, endpoint, methods=list(operation.methods))


def _endpoint(operation: Operation) -> Callable[..., Response]:
    def answer(**params: str) -> Response:
        call = Call(
            mock=current_app.extensions["mockgraph"],
            operation=operation,
            params=params,
            args=list(request.args.items(multi=True)),
            method=request.method,
            root=service_root(request),
        )
        return operation.view(call)

    answer.__name__ = operation.id
    return answer


def operation_of(mock: MockGraph) -> Operation | None:
    """The operation of the request being answered (``None``: not a resource's route)."""
    known = facts()
    if known.operation is None and request.endpoint is not None:
        known.operation = mock.operations.get(request.endpoint)
    return known.operation
