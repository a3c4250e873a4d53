"""An operation's merged facts -> its JSON Schema (draft 2020-12) contract.

A contract's ``$defs`` hold ``request`` and ``response`` and every resource definition they
reach, in two variants: ``T`` (the write side: requests, where the doc's enumerations
constrain) and ``T.read`` (responses: types only, secrets forbidden). Objects are closed but
accept ``@odata.*`` annotations; only an entity's key property is never null.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import replace
from typing import Any

from mockgraph.build.defects import Sink
from mockgraph.build.exchanges import Exchange
from mockgraph.build.resources import Prop, Row, Types, prop_of
from mockgraph.build.spec import OperationSpec
from mockgraph.build.statements import PERMISSION_ROWS, Merged, RequestSpec, ResponseSpec

Json = dict[str, Any]

_DIALECT = "https://json-schema.org/draft/2020-12/schema"
_ODATA_ANNOTATIONS: Json = {"^@odata\\.": {}}
_INT32: Json = {"type": "integer", "minimum": -2147483648, "maximum": 2147483647}
KIND_SCHEMAS: dict[str, Json] = {
    "string": {"type": "string"},
    "int32": _INT32,
    "int64": {"type": "integer", "format": "int64"},
    "boolean": {"type": "boolean"},
    "double": {"type": "number"},
    "date-time": {"type": "string", "format": "date-time"},
    "any": {},
}
_SIMILAR = re.compile(
    r"similar\s+to\s+(?:the\s+)?\**(?P<prop>\w+)\**\s+property\s+of\s+\**(?P<type>[\w.]+)\**",
    re.IGNORECASE,
)


class SchemaWriter:
    """Contracts over one build's resource types. ``case_insensitive``: names of enumerated
    properties whose documented values are accepted in any letter case."""

    def __init__(self, types: Types, case_insensitive: Collection[str], sink: Sink) -> None:
        self.types = types
        self.case_insensitive = frozenset(case_insensitive)
        self.sink = sink

    def contract(self, op: OperationSpec, facts: Merged, examples: list[Exchange]) -> Json:
        """The contract of ``op``; where no page says what it takes or answers, a default is
        assumed and warned."""
        defs: Json = {}
        first = facts.sources[-1].rsplit(":", 1)
        where = (first[0], int(first[1]))
        request = facts.request
        if request is None:
            self.sink.warn(*where, f"no page says what {op.id} takes as request body; none assumed")
            request = RequestSpec(body=False)
        if request.body:
            defs["request"] = self._request(op, request)
        response = facts.response
        if response is None:
            default = {"POST": 201, "DELETE": 204, "PATCH": 204}.get(op.method, 200)
            self.sink.warn(*where, f"no success status documented for {op.id}; {default} assumed")
            response = ResponseSpec(default, None, False)
        if response.type is not None and response.status != 204:
            defs["response"] = _response(response.type, response.collection)
        used = self._add_definitions(defs)
        sources = set(facts.sources) | {x.source for x in examples}
        sources |= {self.types.resources[fqn].source for fqn in used}
        return {
            "$schema": _DIALECT,
            "$id": f"urn:mockgraph:contract:{op.id}",
            "title": f"{op.id}: {op.method} {op.path}",
            "x-mockgraph": {
                "operation": op.id,
                "method": op.method,
                "path": op.path,
                "status": response.status,
                "responseType": response.type if response.status != 204 else None,
                "isCollection": response.collection,
                "requestBody": request.body,
                "permissions": facts.permissions or {key: [] for _, key in PERMISSION_ROWS},
                "examples": sorted(x.name for x in examples),
                "sources": sorted(sources),
            },
            "$defs": defs,
        }

    def _request(self, op: OperationSpec, request: RequestSpec) -> Json:
        if request.entity is None:
            props = [self._parameter(op, row) for row in request.params]
            return self._object(props, "write", op.required)
        schema: Json = {"$ref": f"#/$defs/{request.entity}"}
        if op.entity_id_schema is not None:
            schema["properties"] = {"id": dict(op.entity_id_schema)}
        if op.required:
            schema["required"] = list(op.required)
        return schema

    def _parameter(self, op: OperationSpec, row: Row) -> Prop:
        """An action parameter. "Similar to the **p** property of **T**" brings T.p's value
        constraints and secrecy along, and widens int to T.p's Int64 (see the NumericDate
        note of ``resources.prop_of``)."""
        types = self.types
        prop = prop_of(row, types, self.sink)
        match = _SIMILAR.search(row.description)
        fqn = types.find(match.group("type")) if match else None
        target = types.resources[fqn].props.get(match.group("prop")) if match and fqn else None
        if target is not None:
            if target.kind == prop.kind or {target.kind, prop.kind} <= {"int32", "int64"}:
                kind = "int64" if "int64" in (target.kind, prop.kind) else prop.kind
                prop = replace(
                    prop,
                    kind=kind,
                    secret=prop.secret or target.secret,
                    values=prop.values or target.values,
                    enum_type=prop.enum_type or target.enum_type,
                )
            else:
                message = f"'{row.name}' is typed unlike {fqn}.{target.name}"
                self.sink.warn(row.file, row.line, message)
        if row.name in op.secret_parameters:
            prop = replace(prop, secret=True)
        return prop

    def _add_definitions(self, defs: Json) -> list[str]:
        """Add every resource definition the schemas in ``defs`` reach; the type names used."""
        used: list[str] = []
        queue = list(_refs(defs))
        while queue:
            name = queue.pop(0)
            if name in defs:
                continue
            side = "read" if name.endswith(".read") else "write"
            fqn = name[: -len(".read")] if side == "read" else name
            defs[name] = self._object(self.types.resources[fqn].props.values(), side)
            if fqn not in used:
                used.append(fqn)
            queue.extend(_refs(defs[name]))
        return used

    def _object(self, props: Iterable[Prop], side: str, required: Sequence[str] = ()) -> Json:
        schema: Json = {
            "type": "object",
            "properties": {p.name: self._property(p, side) for p in props},
            "patternProperties": dict(_ODATA_ANNOTATIONS),
            "additionalProperties": False,
        }
        if required:
            schema["required"] = list(required)
        return schema

    def _property(self, prop: Prop, side: str) -> Json:
        """``side`` is ``write`` (requests: doc enumerations constrain) or ``read``
        (responses: types only; secrets forbidden)."""
        if prop.secret and side == "read":
            return {"writeOnly": True, "not": {}}
        if prop.kind == "ref":
            suffix = ".read" if side == "read" else ""
            item: Json = {"$ref": f"#/$defs/{prop.ref}{suffix}"}
        else:
            item = dict(KIND_SCHEMAS[prop.kind])
        if prop.values and (prop.enum_type or side == "write"):
            if prop.name in self.case_insensitive and not prop.enum_type:
                item["pattern"] = "^(" + "|".join(_any_case(v) for v in prop.values) + ")$"
                item["description"] = f"{' or '.join(prop.values)}, in any letter case"
            else:
                # Null is not among the documented values: a constrained member is set or
                # left out.
                item["enum"] = list(prop.values)
        nullable = not prop.key
        if prop.collection:
            schema: Json = {"type": ["array", "null"] if nullable else "array", "items": item}
        elif nullable and "type" in item:
            schema = {**item, "type": [item["type"], "null"]}
        elif nullable and "$ref" in item:
            schema = {"anyOf": [item, {"type": "null"}]}
        else:
            schema = item
        if prop.secret:
            schema["writeOnly"] = True
        return schema


def _response(fqn: str, collection: bool) -> Json:
    target = {"$ref": f"#/$defs/{fqn}.read"}
    if not collection:
        return {**target, "properties": {"@odata.context": {"type": "string"}}}
    return {
        "type": "object",
        "required": ["value"],
        "properties": {
            "@odata.context": {"type": "string"},
            "@odata.nextLink": {"type": "string"},
            "@odata.count": {"type": "integer"},
            "value": {"type": "array", "items": target},
        },
        "additionalProperties": False,
    }


def _any_case(value: str) -> str:
    return "".join(
        f"[{c.upper()}{c.lower()}]" if c.upper() != c.lower() else re.escape(c) for c in value
    )


def _refs(schema: Any) -> Iterator[str]:
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/$defs/"):
                yield value[len("#/$defs/") :]
            else:
                yield from _refs(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from _refs(value)
