"""Resource pages -> resource types: their property tables read as typed properties.

A resource page has a ``"blockType": "resource"`` annotation (its ``@odata.type`` and
``keyProperty``) and a "Properties" table. Types come from the tables only, never from examples;
a later page of the same type wins.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from mockgraph.build.defects import Sink
from mockgraph.build.pages import Page, Table

#: Property kinds: a key of ``schemas.KIND_SCHEMAS``, or "ref" for a resource type.
_PRIMITIVES: dict[str, str] = {
    "string": "string",
    "int": "int32",
    "int32": "int32",
    "integer": "int32",
    "int64": "int64",
    "boolean": "boolean",
    "bool": "boolean",
    "double": "double",
    "datetimeoffset": "date-time",
}

_VALUES = re.compile(
    r"(?:valid|possible|allowed|supported)\s+values\s+are\s*:?\s*"
    r"(?P<list>`[^`]+`(?:\s*\([^)]*\))?(?:\s*(?:,|\band\b|\bor\b)+\s*`[^`]+`(?:\s*\([^)]*\))?)*)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Row:
    """A row of a property, parameter or relationship table."""

    name: str
    type: str
    description: str
    file: str
    line: int


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
    fqn: str
    key: str | None
    rows: list[Row]
    relationships: list[Row]
    file: str
    line: int
    props: dict[str, Prop] = field(default_factory=dict)

    @property
    def source(self) -> str:
        return f"{self.file}:{self.line}"


class Types:
    """Resource types by fully qualified name, resolvable by short name, any letter case."""

    def __init__(self, resources: dict[str, Resource]) -> None:
        self.resources = resources
        self._by_name = {fqn.lower(): fqn for fqn in resources}
        self._by_name.update({fqn.rsplit(".", 1)[-1].lower(): fqn for fqn in resources})

    def find(self, name: str) -> str | None:
        return self._by_name.get(name.lstrip("#").lower())


def rows_of(table: Table, file: str) -> list[Row]:
    """The named rows of ``table`` (name, type, description)."""
    rows = []
    for line, cells in table.rows:
        cells = [*cells, "", "", ""]
        name = cells[0].strip("*` ")
        if name:
            rows.append(Row(name, cells[1], cells[2], file, line))
    return rows


def type_name(cell: str) -> str:
    """A type cell without its link target: ``[T](x.md) collection`` -> ``t collection``."""
    return re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", cell).strip().lower()


def row_types(rows: list[Row]) -> list[tuple[str, str]]:
    return [(r.name, type_name(r.type)) for r in rows]


def collect_resources(pages: list[Page], sink: Sink) -> tuple[Types, frozenset[str]]:
    """The resource types (properties resolved) and the files of every resource page."""
    resources: dict[str, Resource] = {}
    resource_pages: set[str] = set()
    for page in pages:
        resource = _resource(page, sink)
        if resource is None:
            continue
        earlier = resources.get(resource.fqn)
        if earlier is not None and row_types(earlier.rows) != row_types(resource.rows):
            message = f"{resource.fqn} differs from {earlier.source}; this one wins"
            sink.warn(page.file, resource.line, message)
        resources[resource.fqn] = resource
        resource_pages.add(page.file)
    return _resolve(resources, sink), frozenset(resource_pages)


def _resource(page: Page, sink: Sink) -> Resource | None:
    annotation = next(
        (
            b.annotation
            for b in page.blocks
            if b.annotation and b.annotation.block_type == "resource"
        ),
        None,
    )
    table = next(
        (
            t
            for t in page.section_tables("properties")
            if t.header and t.header[0].lower() == "property"
        ),
        None,
    )
    if annotation is None or table is None:
        return None
    odata_type = annotation.data.get("@odata.type")
    if not isinstance(odata_type, str) or not odata_type.strip("#"):
        sink.warn(page.file, annotation.line, "resource annotation has no @odata.type")
        return None
    key = annotation.data.get("keyProperty")
    relationships = [
        row
        for t in page.section_tables("relationships")
        if t.header and t.header[0].lower() == "relationship"
        for row in rows_of(t, page.file)
    ]
    return Resource(
        odata_type.lstrip("#"),
        key if isinstance(key, str) else None,
        rows_of(table, page.file),
        relationships,
        page.file,
        table.line,
    )


def _resolve(resources: dict[str, Resource], sink: Sink) -> Types:
    types = Types(resources)
    for resource in resources.values():
        props = {}
        for row in resource.rows:
            prop = prop_of(row, types, sink)
            props[prop.name] = replace(prop, key=prop.name == resource.key)
        resource.props = props
        for row in resource.relationships:
            # Navigation properties are not part of an entity's default representation
            # (only with $expand, which the mock does not implement).
            sink.warn(
                row.file,
                row.line,
                f"relationship '{row.name}' ({type_name(row.type)}) is a navigation property;"
                " left out of the contracts",
            )
    return types


def _enum_values(description: str) -> tuple[str, ...]:
    match = _VALUES.search(description)
    if not match:
        return ()
    return tuple(dict.fromkeys(re.findall(r"`([^`]+)`", match.group("list"))))


def prop_of(row: Row, types: Types, sink: Sink) -> Prop:
    """One table row as a property. Types come from the table only, never from examples."""
    cell = row.type.strip()
    collection = False
    match = re.fullmatch(r"(.*?)\s+collection", cell, re.IGNORECASE)
    if match:
        collection, cell = True, match.group(1).strip()
    link = re.fullmatch(r"\[([^\]]+)\]\(([^)]*)\)", cell)
    name = (link.group(1) if link else cell).strip("*` ")
    description = row.description
    values = _enum_values(description)
    secret = "cannot be read back" in description.lower()
    kind = _PRIMITIVES.get(name.lower()) if not link else None
    if kind is not None:
        if kind == "int32" and "numericdate" in description.lower():
            # nbf/exp: the key page's table says int, but the CSDL (Edm.Int64) and the
            # uploadSecret parameter table (Int64) say Int64, and an RFC 7519 NumericDate
            # (seconds since 1970) leaves the int32 range in 2038. The service's schema wins.
            sink.warn(row.file, row.line, f"'{row.name}' is a NumericDate typed int; read as Int64")
            kind = "int64"
        return Prop(row.name, kind, collection=collection, secret=secret, values=values)
    fqn = types.find(name)
    if fqn is not None:
        return Prop(row.name, "ref", ref=fqn, collection=collection, secret=secret)
    if values and not link:
        # An enum type named in the table (trustFrameworkKeyStatus): a string of those values.
        return Prop(row.name, "string", collection=collection, values=values, enum_type=True)
    sink.warn(row.file, row.line, f"type '{name}' of '{row.name}' is unknown; left unconstrained")
    return Prop(row.name, "any", collection=collection, secret=secret)
