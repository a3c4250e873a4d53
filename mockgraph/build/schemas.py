"""An operation's merged facts -> its JSON Schema (draft 2020-12) contract. Its ``$defs`` hold
``request``, ``response`` and the resource definitions they reach as ``T`` (requests: the docs'
enumerations constrain) and ``T.read`` (answers: types only, secrets forbidden). Objects are
closed but for ``@odata.*`` annotations; only an entity's key is never null."""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import replace
from typing import Any

from mockgraph.build.exchanges import Exchange
from mockgraph.build.pages import Sink
from mockgraph.build.resources import Prop, Row, Types, find, prop_of
from mockgraph.build.spec import OperationSpec
from mockgraph.build.statements import PERMISSION_ROWS, Facts, RequestSpec, ResponseSpec

Json = dict[str, Any]

KIND_SCHEMAS: dict[str, Json] = {
    "string": {"type": "string"},
    "int32": {"type": "integer", "minimum": -2147483648, "maximum": 2147483647},
    "int64": {"type": "integer", "format": "int64"},
    "boolean": {"type": "boolean"},
    "any": {},
}
_SIMILAR = re.compile(
    r"similar\s+to\s+(?:the\s+)?\**(?P<prop>\w+)\**\s+property\s+of\s+\**(?P<type>[\w.]+)\**",
    re.IGNORECASE,
)
_REF = re.compile(r'"#/\$defs/([^"]+)"')


class SchemaWriter:
    """Contracts over one build's resource types. ``case_insensitive``: names of enumerated
    properties whose documented values are accepted in any letter case."""

    def __init__(self, types: Types, case_insensitive: Collection[str], sink: Sink) -> None:
        self.types = types
        self.case_insensitive = frozenset(case_insensitive)
        self.sink = sink

    def contract(self, op: OperationSpec, facts: Facts, examples: list[Exchange]) -> Json:
        """The contract of ``op``; where no page says what it takes or answers, a default is
        assumed and warned."""
        file, line = facts.sources[-1].rsplit(":", 1)
        at = file, int(line)
        request, response = facts.request, facts.response
        if request is None:
            self.sink.warn(*at, f"no page says what {op.id} takes as request body; none assumed")
            request = RequestSpec(body=False)
        if response is None:
            default = {"POST": 201, "DELETE": 204, "PATCH": 204}.get(op.method, 200)
            self.sink.warn(*at, f"no success status documented for {op.id}; {default} assumed")
            response = ResponseSpec(default, None, False)
        defs: Json = {}
        if request.body:
            defs["request"] = self._request(op, request)
        if response.type is not None:
            defs["response"] = _response(response.type, response.collection)
        sources = {*facts.sources, *(x.source for x in examples)}
        sources |= {self.types[fqn].source for fqn in self._add_definitions(defs)}
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"urn:mockgraph:contract:{op.id}",
            "title": f"{op.id}: {op.method} {op.path}",
            "x-mockgraph": {
                "operation": op.id,
                "method": op.method,
                "path": op.path,
                "status": response.status,
                "responseType": response.type,
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
            return self._object(
                [self._parameter(op, row) for row in request.params], "write", op.required
            )
        schema: Json = {"$ref": f"#/$defs/{request.entity}"}
        if op.entity_id_schema is not None:
            schema["properties"] = {"id": dict(op.entity_id_schema)}
        if op.required:
            schema["required"] = list(op.required)
        return schema

    def _parameter(self, op: OperationSpec, row: Row) -> Prop:
        """An action parameter. "Similar to the **p** property of **T**" brings T.p's value
        constraints and secrecy along, and widens int to T.p's Int64."""
        prop = prop_of(row, self.types, self.sink)
        match = _SIMILAR.search(row.description)
        fqn = find(self.types, match["type"]) if match else None
        target = self.types[fqn].props.get(match["prop"]) if match and fqn else None
        kinds = {prop.kind, target.kind} if target else set()
        if target is not None and (len(kinds) == 1 or kinds == {"int32", "int64"}):
            prop = replace(
                prop,
                kind="int64" if "int64" in kinds else prop.kind,
                secret=prop.secret or target.secret,
                values=prop.values or target.values,
                enum_type=prop.enum_type or target.enum_type,
            )
        return replace(prop, secret=True) if row.name in op.secret_parameters else prop

    def _add_definitions(self, defs: Json) -> set[str]:
        """Add every resource definition the schemas in ``defs`` reach; the types used."""
        used: set[str] = set()
        while missing := set(_REF.findall(json.dumps(defs))) - set(defs):
            for name in missing:
                fqn = name.removesuffix(".read")
                side = "read" if name != fqn else "write"
                defs[name] = self._object(self.types[fqn].props.values(), side)
                used.add(fqn)
        return used

    def _object(self, props: Iterable[Prop], side: str, required: Sequence[str] = ()) -> Json:
        schema: Json = {
            "type": "object",
            "properties": {p.name: self._property(p, side) for p in props},
            "patternProperties": {"^@odata\\.": {}},
            "additionalProperties": False,
        }
        if required:
            schema["required"] = list(required)
        return schema

    def _property(self, prop: Prop, side: str) -> Json:
        if prop.secret and side == "read":
            return {"writeOnly": True, "not": {}}
        if prop.kind == "ref":
            item: Json = {"$ref": f"#/$defs/{prop.ref}{'.read' if side == 'read' else ''}"}
        else:
            item = dict(KIND_SCHEMAS[prop.kind])
        if prop.values and (prop.enum_type or side == "write"):
            if prop.name in self.case_insensitive and not prop.enum_type:
                item["pattern"] = "^(" + "|".join(_any_case(v) for v in prop.values) + ")$"
                item["description"] = f"{' or '.join(prop.values)}, in any letter case"
            else:
                item["enum"] = list(prop.values)  # null is no documented value
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
