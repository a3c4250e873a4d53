"""Every URL form Graph accepts for an operation, as URL templates (``{id}``, ``{kid}``): an
item segment also as the OData key ``('{id}')``, an action also under ``microsoft.graph.<name>``,
a function also in call form ``<name>()``. What the tests check routing against."""

from __future__ import annotations

import re

from mockgraph.config import BASE_PATH
from mockgraph.http.routing import Operation


def url_forms(operation: Operation) -> tuple[str, ...]:
    stem, name = operation.path, ""
    if operation.kind != "entity":
        stem, name = operation.path.rsplit("/", 1)
    forms = [""]
    for index, piece in enumerate(re.split(r"/\{(\w+)\}", stem)):
        if index % 2:
            forms = [f + s for f in forms for s in ("/{" + piece + "}", "('{" + piece + "}')")]
        else:
            forms = [f + piece for f in forms]
    names = [f"/{name}", f"/microsoft.graph.{name}"] if name else [""]
    if operation.kind == "function":
        names = [n + call for n in names for call in ("", "()")]
    return tuple(BASE_PATH + form + n for form in forms for n in names)
