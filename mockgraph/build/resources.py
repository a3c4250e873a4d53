"""Resource pages (a ``"blockType": "resource"`` annotation and a "Properties" table) ->
resource types with typed properties. Types come from the tables, never from examples; a later
page of the same type wins."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from mockgraph.build.pages import Page, Sink, Table

#: Type names of the tables -> property kinds (keys of ``schemas.KIND_SCHEMAS``).
_PRIMITIVES = {
    "string": "string",
    "int": "int32",
    "int32": "int32",
    "int64": "int64",
    "boolean": "boolean",
}
#: "The possible values are: `sig` (signature), `enc`": the values in backquotes.
_VALUES = re.compile(r"(valid|possible) values are:?(?P<list>(\s*`[^`]+`(\s*\([^)]*\))?,?)+)", re.I)


@dataclass(frozen=True)
class Row:
    """A named row of a property or parameter table; equal rows have equal name and type."""

    name: str
    type: str
    description: str = field(compare=False)
    file: str = field(compare=False)
    line: int = field(compare=False)


@dataclass(frozen=True)
class Prop:
    """A property or parameter as the contracts need it."""

    name: str
    kind: str  # a key of schemas.KIND_SCHEMAS, or "ref"
    ref: str | None = None
    collection: bool = False
    secret: bool = False
    values: tuple[str, ...] = ()
    enum_type: bool = False  # the values are the type's own (an enum type), not a hint
    key: bool = False


@dataclass
class Resource:
    """A resource type: the table it comes from and its properties by name."""

    source: str
    rows: list[Row]
    key: str | None
    props: dict[str, Prop] = field(default_factory=dict)


Types = dict[str, Resource]  # by fully qualified name


def find(types: Types, name: str) -> str | None:
    """The type ``name`` (fully qualified or short, any letter case) names, if any."""
    name = name.lstrip("#").lower()
    return next((t for t in types if name in (t.lower(), t.rsplit(".", 1)[-1].lower())), None)


def rows_of(table: Table, file: str) -> list[Row]:
    """The named rows of ``table`` (name, type, description)."""
    rows = []
    for line, cells in table.rows:
        name, type_name, description = [*cells, "", ""][:3]
        if name.strip("*` "):
            rows.append(Row(name.strip("*` "), type_name, description, file, line))
    return rows


def collect_resources(pages: list[Page], sink: Sink) -> tuple[Types, frozenset[str]]:
    """The resource types (properties resolved) and the files of the resource pages."""
    resources: dict[str, Resource] = {}
    files: set[str] = set()
    for page in pages:
        annotations = [b.annotation for b in page.blocks if b.annotation]
        data = next((a.data for a in annotations if a.block_type == "resource"), {})
        tables = page.section_tables("properties")
        table = next((t for t in tables if t.header[0].lower() == "property"), None)
        if table is not None and isinstance(data.get("@odata.type"), str):
            rows = rows_of(table, page.file)
            resource = Resource(f"{page.file}:{table.line}", rows, data.get("keyProperty"))
            resources[data["@odata.type"].lstrip("#")] = resource
            files.add(page.file)
    for resource in resources.values():
        for row in resource.rows:
            prop = prop_of(row, resources, sink)
            resource.props[row.name] = replace(prop, key=row.name == resource.key)
    return resources, frozenset(files)


def prop_of(row: Row, types: Types, sink: Sink) -> Prop:
    """One table row as a property (what it is typed, its documented values, whether it
    "cannot be read back"); an unknown type is left unconstrained."""
    cell = row.type.strip()
    collection = cell.lower().endswith(" collection")
    cell = cell[: -len(" collection")].strip() if collection else cell
    link = re.fullmatch(r"\[([^\]]+)\]\(([^)]*)\)", cell)
    name = (link.group(1) if link else cell).strip("*` ")
    found = _VALUES.search(row.description)
    values = tuple(dict.fromkeys(re.findall(r"`([^`]+)`", found["list"]))) if found else ()
    secret = "cannot be read back" in row.description.lower()
    kind = _PRIMITIVES.get(name.lower()) if not link else None
    if kind == "int32" and "numericdate" in row.description.lower():
        # nbf/exp: the key page says int, the CSDL (Edm.Int64) and the uploadSecret table say
        # Int64, and a NumericDate leaves the int32 range in 2038. The service's schema wins.
        sink.warn(row.file, row.line, f"'{row.name}' is a NumericDate typed int; read as Int64")
        kind = "int64"
    if kind is not None:
        return Prop(row.name, kind, collection=collection, secret=secret, values=values)
    if (fqn := find(types, name)) is not None:
        return Prop(row.name, "ref", ref=fqn, collection=collection, secret=secret)
    if values and not link:
        # An enum type named in the table (trustFrameworkKeyStatus): a string of those values.
        return Prop(row.name, "string", collection=collection, values=values, enum_type=True)
    return Prop(row.name, "any", collection=collection, secret=secret)
