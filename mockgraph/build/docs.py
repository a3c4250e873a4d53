"""Graph doc pages (Markdown) -> example fixtures and JSON Schema contracts: the build step.

:func:`build` reads Microsoft Graph reference pages written in the docs' Markdown format
(annotated ``http`` code blocks, property, parameter and permission tables) and returns the text
of ``schemas/<operationId>.json`` (one draft 2020-12 contract per keySets operation) and
``fixtures/examples/<name>.json`` (one documented request/response exchange per example).
:func:`write` puts them on disk and removes the ones a build no longer produces; :func:`check`
says which files on disk differ.

The pages are input data: nothing of their prose is copied into the outputs, only names,
types, values, paths and the example exchanges. A defective page never raises: every defect
(invalid annotation JSON, trailing commas, ``{id}`` placeholders, unpaired blocks, links that
resolve nowhere, pages without an operation) becomes a :class:`DocWarning` naming file and line.

Precedence: later ``docs`` entries win (and, inside a folder, later files in sorted order), for
example definitions, resource types and every per-operation fact a page states (permissions,
status, request body). A ``source`` is ``relpath:line`` with ``relpath`` relative to the
``docs`` entry it came from (its file name for a file entry), with ``/`` separators.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from mockgraph.resources.keysets.models import KEYSET_ID_PATTERN

__all__ = [
    "OPERATIONS",
    "BuildResult",
    "DocWarning",
    "Operation",
    "build",
    "check",
    "match_operation",
    "write",
]

Json = dict[str, Any]

SCHEMA_DIR = "schemas"
EXAMPLE_DIR = "fixtures/examples"
_DIALECT = "https://json-schema.org/draft/2020-12/schema"
_ODATA_ANNOTATIONS: Json = {"^@odata\\.": {}}


# --------------------------------------------------------------------------------------------
# Public types


@dataclass(frozen=True)
class DocWarning:
    """A defect of a doc page that the build survived. ``file`` is a ``source`` path."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


@dataclass(frozen=True)
class BuildResult:
    """Output file texts by relative path (``schemas/...``, ``fixtures/examples/...``)."""

    files: dict[str, str]
    warnings: list[DocWarning]


@dataclass(frozen=True)
class Operation:
    """One mocked operation: its fixed id, HTTP method and path template (below ``/beta``)."""

    id: str
    method: str
    path: str


OPERATIONS: tuple[Operation, ...] = (
    Operation("createKeySet", "POST", "/trustFramework/keySets"),
    Operation("listKeySets", "GET", "/trustFramework/keySets"),
    Operation("getKeySet", "GET", "/trustFramework/keySets/{id}"),
    Operation("updateKeySet", "PUT", "/trustFramework/keySets/{id}"),
    Operation("deleteKeySet", "DELETE", "/trustFramework/keySets/{id}"),
    Operation("generateKey", "POST", "/trustFramework/keySets/{id}/generateKey"),
    Operation("uploadSecret", "POST", "/trustFramework/keySets/{id}/uploadSecret"),
    Operation("uploadCertificate", "POST", "/trustFramework/keySets/{id}/uploadCertificate"),
    Operation("uploadPkcs12", "POST", "/trustFramework/keySets/{id}/uploadPkcs12"),
    Operation("getActiveKey", "GET", "/trustFramework/keySets/{id}/getActiveKey"),
    Operation("updateKeyV2", "PATCH", "/trustFramework/keySets/{id}/keys_v2/{kid}"),
)


# --------------------------------------------------------------------------------------------
# Decisions the pages leave open (each one is listed in the README)

#: Required members of request bodies. The pages never say which parameters are required, so
#: this is the smallest set without which the operation cannot do its job: generateKey needs
#: to know what to generate, uploadSecret needs the secret and its use, the uploads need the
#: content. createKeySet's ``id``: the 2021 create page says the ID "is expected in the create
#: request" while the 2019 page's example omitted it; the newer documented behaviour wins.
#: updateKeySet (PUT replaces ``keys``; an ``id`` is optional) and updateKeyV2 require nothing.
_REQUIRED: dict[str, tuple[str, ...]] = {
    "createKeySet": ("id",),
    "generateKey": ("use", "kty"),
    "uploadSecret": ("use", "k"),
    "uploadCertificate": ("key",),
    "uploadPkcs12": ("key",),
}

#: The key set id of a create or update body: the pattern the parser enforces (see
#: ``models.KEYSET_ID_PATTERN``), so the contract accepts exactly what the mock accepts.
_ENTITY_ID: Json = {
    "description": "letters, digits, '_', '.' and '-', 1 to 256 of them",
    "pattern": KEYSET_ID_PATTERN,
    "type": "string",
}

#: Action parameters that carry secret material, marked ``writeOnly``. ``k`` is "similar to"
#: the key's ``k``, which cannot be read back; a PKCS#12 file bundles a private key and its
#: password unlocks it. The uploadPkcs12 page does not say so; the certificate of
#: uploadCertificate is public and is not listed.
_SECRET_PARAMETERS: dict[str, frozenset[str]] = {
    "uploadSecret": frozenset({"k"}),
    "uploadPkcs12": frozenset({"key", "password"}),
}

#: Enumerated properties compared without regard to letter case: the pages mix ``RSA``/``rsa``
#: and ``oct``/``OCT`` (key page vs. the generateKey request and the upload responses).
_CASE_INSENSITIVE: frozenset[str] = frozenset({"kty"})

_INT32: Json = {"type": "integer", "minimum": -2147483648, "maximum": 2147483647}
_KIND_SCHEMAS: dict[str, Json] = {
    "string": {"type": "string"},
    "int32": _INT32,
    "int64": {"type": "integer", "format": "int64"},
    "boolean": {"type": "boolean"},
    "double": {"type": "number"},
    "date-time": {"type": "string", "format": "date-time"},
    "any": {},
}
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

_PERMISSION_ROWS = (
    ("work or school", "delegatedWork"),
    ("personal", "delegatedPersonal"),
    ("application", "application"),
)

_HEADER_SPELLING = {
    "etag": "ETag",
    "odata-version": "OData-Version",
    "odata-maxversion": "OData-MaxVersion",
    "www-authenticate": "WWW-Authenticate",
    "request-id": "request-id",
    "client-request-id": "client-request-id",
}

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*([^`]*?)\s*$")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_TABLE_RULE = re.compile(r"^\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?$")
_LINK = re.compile(r"(?<!!)\[(?P<text>[^\]]*)\]\((?P<href>[^)\s]+)(?:\s+\"[^\"]*\")?\)")
_REQUEST_LINE = re.compile(r"^(?P<method>[A-Za-z]+)\s+(?P<url>\S.*?)(?:\s+HTTP/[\d.]+)?\s*$")
_STATUS_LINE = re.compile(r"^HTTP/[\d.]+\s+(?P<status>\d{3})\b")
_HEADER_LINE = re.compile(r"^(?P<name>[A-Za-z0-9!#$%&'*+.^_`|~-]+)\s*:\s*(?P<value>.*)$")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_VALUES = re.compile(
    r"(?:valid|possible|allowed|supported)\s+values\s+are\s*:?\s*"
    r"(?P<list>`[^`]+`(?:\s*\([^)]*\))?(?:\s*(?:,|\band\b|\bor\b)+\s*`[^`]+`(?:\s*\([^)]*\))?)*)",
    re.IGNORECASE,
)
_SIMILAR = re.compile(
    r"similar\s+to\s+(?:the\s+)?\**(?P<prop>\w+)\**\s+property\s+of\s+\**(?P<type>[\w.]+)\**",
    re.IGNORECASE,
)
_PROSE_STATUS = re.compile(r"\b([1-5]\d\d),?\s+(?:OK|Created|Accepted|No Content)\b")
_SAFE_NAME = re.compile(r"[A-Za-z0-9_.-]+")


# --------------------------------------------------------------------------------------------
# Page scanning: lines -> headings, tables, prose, annotated code blocks


class _Sink:
    """Collects warnings in the order the build meets them."""

    def __init__(self) -> None:
        self.items: list[DocWarning] = []

    def warn(self, file: str, line: int, message: str) -> None:
        self.items.append(DocWarning(file, line, message))


@dataclass
class _Annotation:
    data: Json
    line: int
    valid: bool

    @property
    def block_type(self) -> str:
        value = self.data.get("blockType")
        return value.lower() if isinstance(value, str) else ""


@dataclass
class _Block:
    line: int
    content: list[tuple[int, str]]
    section: str
    annotation: _Annotation | None


@dataclass
class _Table:
    section: str
    line: int
    header: list[str]
    rows: list[tuple[int, list[str]]]


@dataclass
class _Page:
    file: str  # source path: relative to its docs entry, "/" separators
    root_files: frozenset[str]  # every file below the docs entry, same spelling as ``file``
    blocks: list[_Block] = field(default_factory=list)
    tables: list[_Table] = field(default_factory=list)
    prose: list[tuple[int, str, str]] = field(default_factory=list)  # line, section, text

    def section_prose(self, section: str) -> list[tuple[int, str]]:
        return [(n, t) for n, s, t in self.prose if s == section]

    def section_tables(self, section: str) -> list[_Table]:
        return [t for t in self.tables if t.section == section]


_EXPECTS_BLOCK = frozenset({"request", "response", "ignored", "resource"})


def _split_cells(line: str) -> list[str]:
    text = line.strip().replace("\\|", "\x00")
    if text.startswith("|"):
        text = text[1:]
    if text.endswith("|"):
        text = text[:-1]
    return [cell.replace("\x00", "|").strip() for cell in text.split("|")]


def _scan(page: _Page, text: str, sink: _Sink) -> None:
    """Fill ``page`` from the page text; defects go to ``sink``."""
    lines = text.splitlines()
    n = len(lines)
    i = 0
    if lines and lines[0].strip() == "---":  # YAML front matter
        end = next((k for k in range(1, n) if lines[k].strip() == "---"), None)
        if end is not None:
            i = end + 1
    section = ""
    pending: _Annotation | None = None
    table: _Table | None = None

    def drop_pending() -> None:
        nonlocal pending
        if pending is not None:
            # "permissions" and "#page.annotation" annotations stand alone.
            if pending.valid and pending.block_type in _EXPECTS_BLOCK:
                sink.warn(page.file, pending.line, "annotation is not followed by a code block")
            pending = None

    while i < n:
        raw = lines[i]
        stripped = raw.strip()
        lineno = i + 1
        if table is not None and not stripped.startswith("|"):
            table = None
        fence = _FENCE.match(raw)
        if fence:
            marker = fence.group(1)
            closing = re.compile(rf"^ {{0,3}}{re.escape(marker[0])}{{{len(marker)},}}\s*$")
            content: list[tuple[int, str]] = []
            j = i + 1
            while j < n and not closing.match(lines[j]):
                content.append((j + 1, lines[j]))
                j += 1
            if j >= n:
                sink.warn(page.file, lineno, "code block is never closed; read to the page end")
            page.blocks.append(_Block(lineno, content, section, pending))
            pending = None
            i = j + 1
            continue
        if stripped.startswith("<!--"):
            drop_pending()
            body = stripped[4:]
            j = i
            while "-->" not in body and j + 1 < n:
                j += 1
                body += "\n" + lines[j]
            if "-->" in body:
                body = body[: body.index("-->")]
            else:
                sink.warn(page.file, lineno, "HTML comment is never closed")
            if body.strip().startswith(("{", "[")):
                pending = _parse_annotation(page, lineno, body, sink)
            i = j + 1
            continue
        if not stripped:
            i += 1
            continue
        drop_pending()
        heading = _HEADING.match(stripped)
        if heading and len(heading.group(1)) == 2:
            section = heading.group(2).strip().lower()
        if stripped.startswith("|"):
            if _TABLE_RULE.match(stripped):
                pass
            elif table is None:
                table = _Table(section, lineno, _split_cells(stripped), [])
                page.tables.append(table)
            else:
                table.rows.append((lineno, _split_cells(stripped)))
        page.prose.append((lineno, section, stripped))
        i += 1
    drop_pending()


def _parse_annotation(page: _Page, line: int, body: str, sink: _Sink) -> _Annotation:
    try:
        # strict=False: the docs' own tooling accepts line breaks inside annotation strings
        # (concepts/errors.md has one in its "suppressions").
        data = json.loads(body, strict=False)
    except json.JSONDecodeError as exc:
        sink.warn(page.file, line + exc.lineno - 1, f"annotation is not valid JSON ({exc.msg})")
        return _Annotation({}, line, valid=False)
    if not isinstance(data, dict):
        sink.warn(page.file, line, "annotation is not a JSON object")
        return _Annotation({}, line, valid=False)
    return _Annotation(data, line, valid=True)


# --------------------------------------------------------------------------------------------
# JSON bodies and HTTP blocks


def _strip_trailing_commas(text: str) -> tuple[str, list[int]]:
    """``text`` without commas that directly precede ``}`` or ``]`` (outside strings), and the
    offsets of the removed commas."""
    out: list[str] = []
    removed: list[int] = []
    in_string = escaped = False
    for i, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char == ",":
            j = i + 1
            while j < len(text) and text[j] in " \t\r\n":
                j += 1
            if text[j : j + 1] in ("}", "]"):
                removed.append(i)
                continue
        out.append(char)
    return "".join(out), removed


def _load_json(page: _Page, lines: list[tuple[int, str]], what: str, sink: _Sink) -> Any:
    """Parse a JSON body, repairing trailing commas (each one warned). ``None`` when the body
    is not JSON even after the repair (warned too)."""
    text = "\n".join(t for _, t in lines)
    fixed, removed = _strip_trailing_commas(text)
    try:
        value = json.loads(fixed)
    except json.JSONDecodeError as exc:
        where = lines[min(max(exc.lineno - 1, 0), len(lines) - 1)][0]
        sink.warn(page.file, where, f"{what} is not valid JSON ({exc.msg}); left out")
        return None
    for offset in removed:
        where = lines[text.count("\n", 0, offset)][0]
        sink.warn(page.file, where, f"trailing comma in {what} removed")
    return value


def _canonical_header(name: str) -> str:
    low = name.lower()
    return _HEADER_SPELLING.get(low) or "-".join(p[:1].upper() + p[1:] for p in low.split("-"))


def _split_http(
    content: list[tuple[int, str]],
) -> tuple[tuple[int, str] | None, dict[str, str], list[tuple[int, str]]]:
    """First line, headers (canonical names) and body lines of an ``http`` code block."""
    lines = list(content)
    while lines and not lines[0][1].strip():
        lines.pop(0)
    if not lines:
        return None, {}, []
    first, rest = lines[0], lines[1:]
    headers: dict[str, str] = {}
    k = 0
    while k < len(rest) and rest[k][1].strip():
        match = _HEADER_LINE.match(rest[k][1].strip())
        if not match:
            break  # a body that starts without the blank line
        headers[_canonical_header(match.group("name"))] = match.group("value").strip()
        k += 1
    body = rest[k:]
    while body and not body[0][1].strip():
        body.pop(0)
    while body and not body[-1][1].strip():
        body.pop()
    return (first[0], first[1].strip()), headers, body


def _body(
    page: _Page, headers: dict[str, str], lines: list[tuple[int, str]], what: str, sink: _Sink
) -> Any:
    if not lines:
        return None
    kind = headers.get("Content-Type", "application/json").lower()
    if "json" not in kind:
        return "\n".join(t for _, t in lines)
    return _load_json(page, lines, what, sink)


@dataclass
class _Exchange:
    """One documented request and the response paired with it."""

    name: str
    page: _Page
    line: int  # the request annotation
    method: str
    path: str
    query: dict[str, str]
    placeholders: list[str]
    headers: dict[str, str]
    body: Any
    truncated: bool
    response: Json | None = None
    response_type: str | None = None  # the response annotation's @odata.type
    is_collection: bool = False

    @property
    def source(self) -> str:
        return f"{self.page.file}:{self.line}"


def _parse_request(page: _Page, block: _Block, name: str, sink: _Sink) -> _Exchange | None:
    first, headers, body_lines = _split_http(block.content)
    match = _REQUEST_LINE.match(first[1]) if first else None
    if first is None or match is None:
        sink.warn(page.file, block.line, f"request '{name}' does not start with 'METHOD URL'")
        return None
    url_line, url = first[0], match.group("url")
    parts = urlsplit(url)
    path = parts.path
    if not (parts.scheme and parts.netloc):
        segments = [s for s in path.split("/") if s]
        if not segments or segments[0].lower() not in ("beta", "v1.0"):
            path = "/beta" + (path if path.startswith("/") else "/" + path)
        sink.warn(page.file, url_line, f"relative request URL '{url}' read as '{path}'")
    placeholders = list(dict.fromkeys(_PLACEHOLDER.findall(path)))
    if placeholders:
        names = ", ".join("{" + p + "}" for p in placeholders)
        sink.warn(page.file, url_line, f"request URL has placeholder(s) {names}; kept as written")
    annotation = block.annotation.data if block.annotation else {}
    return _Exchange(
        name=name,
        page=page,
        line=block.annotation.line if block.annotation else block.line,
        method=match.group("method").upper(),
        path=path,
        query=dict(parse_qsl(parts.query, keep_blank_values=True)),
        placeholders=placeholders,
        headers=headers,
        body=_body(page, headers, body_lines, f"request body of '{name}'", sink),
        truncated=annotation.get("truncated") is True,
    )


def _parse_response(page: _Page, block: _Block, exchange: _Exchange, sink: _Sink) -> None:
    first, headers, body_lines = _split_http(block.content)
    match = _STATUS_LINE.match(first[1]) if first else None
    if first is None or match is None:
        sink.warn(page.file, block.line, f"response of '{exchange.name}' has no HTTP status line")
        return
    annotation = block.annotation.data if block.annotation else {}
    what = f"response body of '{exchange.name}'"
    exchange.response = {
        "status": int(match.group("status")),
        "headers": headers,
        "body": _body(page, headers, body_lines, what, sink),
    }
    odata_type = annotation.get("@odata.type")
    exchange.response_type = odata_type.lstrip("#") if isinstance(odata_type, str) else None
    exchange.is_collection = annotation.get("isCollection") is True
    exchange.truncated = exchange.truncated or annotation.get("truncated") is True


# --------------------------------------------------------------------------------------------
# Operations


def _segments(path: str) -> list[str]:
    path = re.sub(r"\(\s*'([^']*)'\s*\)", r"/\1", path)  # keySets('x') -> keySets/x
    segments = [s for s in path.split("/") if s]
    if segments and segments[0].lower() in ("beta", "v1.0"):
        segments = segments[1:]
    # The OpenAPI description qualifies actions (microsoft.graph.generateKey); Graph accepts both.
    return [s[16:] if s.lower().startswith("microsoft.graph.") else s for s in segments]


def match_operation(method: str, path: str) -> Operation | None:
    """The operation whose method and template match; ``{anything}`` matches one segment."""
    segments = _segments(urlsplit(path).path)
    for op in OPERATIONS:
        template = _segments(op.path)
        if op.method != method.upper() or len(template) != len(segments):
            continue
        if all(
            (t.startswith("{") and t.endswith("}") and s) or t.lower() == s.lower()
            for t, s in zip(template, segments, strict=True)
        ):
            return op
    return None


# --------------------------------------------------------------------------------------------
# Types: property tables -> properties -> JSON Schema


@dataclass(frozen=True)
class _Row:
    name: str
    type: str
    description: str
    file: str
    line: int


@dataclass(frozen=True)
class _Prop:
    name: str
    kind: str  # a key of _KIND_SCHEMAS, or "ref"
    ref: str | None = None
    collection: bool = False
    secret: bool = False
    values: tuple[str, ...] = ()
    enum_type: bool = False  # the values are the type's own (an enum type), not a hint
    key: bool = False


@dataclass
class _Resource:
    fqn: str
    key: str | None
    rows: list[_Row]
    relationships: list[_Row]
    file: str
    line: int
    props: dict[str, _Prop] = field(default_factory=dict)

    @property
    def source(self) -> str:
        return f"{self.file}:{self.line}"


def _rows(table: _Table, file: str) -> list[_Row]:
    rows = []
    for line, cells in table.rows:
        cells = [*cells, "", "", ""]
        name = cells[0].strip("*` ")
        if name:
            rows.append(_Row(name, cells[1], cells[2], file, line))
    return rows


def _enum_values(description: str) -> tuple[str, ...]:
    match = _VALUES.search(description)
    if not match:
        return ()
    return tuple(dict.fromkeys(re.findall(r"`([^`]+)`", match.group("list"))))


class _Types:
    """Resource types by fully qualified name, resolvable by short name, any letter case."""

    def __init__(self, resources: dict[str, _Resource]) -> None:
        self.resources = resources
        self._by_name = {fqn.lower(): fqn for fqn in resources}
        self._by_name.update({fqn.rsplit(".", 1)[-1].lower(): fqn for fqn in resources})

    def find(self, name: str) -> str | None:
        return self._by_name.get(name.lstrip("#").lower())


def _prop(row: _Row, types: _Types, sink: _Sink) -> _Prop:
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
        return _Prop(row.name, kind, collection=collection, secret=secret, values=values)
    fqn = types.find(name)
    if fqn is not None:
        return _Prop(row.name, "ref", ref=fqn, collection=collection, secret=secret)
    if values and not link:
        # An enum type named in the table (trustFrameworkKeyStatus): a string of those values.
        return _Prop(row.name, "string", collection=collection, values=values, enum_type=True)
    sink.warn(row.file, row.line, f"type '{name}' of '{row.name}' is unknown; left unconstrained")
    return _Prop(row.name, "any", collection=collection, secret=secret)


def _resolve_resources(resources: dict[str, _Resource], sink: _Sink) -> _Types:
    types = _Types(resources)
    for resource in resources.values():
        props = {}
        for row in resource.rows:
            prop = _prop(row, types, sink)
            props[prop.name] = replace(prop, key=prop.name == resource.key)
        resource.props = props
        for row in resource.relationships:
            # Navigation properties are not part of an entity's default representation
            # (only with $expand, which the mock does not implement).
            sink.warn(
                row.file,
                row.line,
                f"relationship '{row.name}' ({_type_name(row.type)}) is a navigation property;"
                " left out of the contracts",
            )
    return types


def _schema_of(prop: _Prop, side: str) -> Json:
    """``side`` is ``write`` (requests: doc enumerations constrain) or ``read`` (responses:
    types only; secrets forbidden)."""
    if prop.secret and side == "read":
        return {"writeOnly": True, "not": {}}
    if prop.kind == "ref":
        suffix = ".read" if side == "read" else ""
        item: Json = {"$ref": f"#/$defs/{prop.ref}{suffix}"}
    else:
        item = dict(_KIND_SCHEMAS[prop.kind])
    if prop.values and (prop.enum_type or side == "write"):
        if prop.name in _CASE_INSENSITIVE and not prop.enum_type:
            item["pattern"] = "^(" + "|".join(_any_case(v) for v in prop.values) + ")$"
            item["description"] = f"{' or '.join(prop.values)}, in any letter case"
        else:
            # Null is not among the documented values: a constrained member is set or left out.
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


def _any_case(value: str) -> str:
    return "".join(
        f"[{c.upper()}{c.lower()}]" if c.upper() != c.lower() else re.escape(c) for c in value
    )


def _object(props: Iterable[_Prop], side: str, required: Sequence[str] = ()) -> Json:
    schema: Json = {
        "type": "object",
        "properties": {p.name: _schema_of(p, side) for p in props},
        "patternProperties": dict(_ODATA_ANNOTATIONS),
        "additionalProperties": False,
    }
    if required:
        schema["required"] = list(required)
    return schema


# --------------------------------------------------------------------------------------------
# What one page says about its operation


@dataclass(frozen=True)
class _RequestSpec:
    body: bool
    entity: str | None = None  # the body is this resource type (write side)
    params: tuple[_Row, ...] = ()  # the body is an object of these parameters

    def key(self) -> tuple[bool, str | None, tuple[tuple[str, str], ...]]:
        return self.body, self.entity, tuple(_row_types(list(self.params)))


@dataclass(frozen=True)
class _ResponseSpec:
    status: int
    type: str | None
    collection: bool


@dataclass
class _Statement:
    """Facts one page states about one operation; ``None`` where the page is silent."""

    op: Operation
    file: str
    line: int
    permissions: dict[str, list[str]] | None = None
    request: _RequestSpec | None = None
    response: _ResponseSpec | None = None

    @property
    def source(self) -> str:
        return f"{self.file}:{self.line}"


def _permissions(page: _Page, line: int, sink: _Sink) -> dict[str, list[str]] | None:
    for table in page.section_tables("permissions"):
        if table.header and table.header[0].lower().startswith("permission type"):
            found: dict[str, list[str]] = {key: [] for _, key in _PERMISSION_ROWS}
            for _, cells in table.rows:
                kind = cells[0].lower()
                key = next((k for word, k in _PERMISSION_ROWS if word in kind), None)
                value = cells[1] if len(cells) > 1 else ""
                if key is None or "not supported" in value.lower():
                    continue
                found[key] = [v.strip().rstrip(".") for v in value.split(",") if v.strip()]
            return found
    prose = page.section_prose("permissions")
    include = next((n for n, t in prose if "[!INCLUDE" in t), None)
    if include is not None:
        sink.warn(page.file, include, "permissions table is an INCLUDE not among the docs")
    elif prose:
        sink.warn(page.file, prose[0][0], "permissions section has no permission table")
    else:
        sink.warn(page.file, line, "page has no permissions section")
    return None


def _request_spec(
    page: _Page, subject: str | None, types: _Types, sink: _Sink
) -> _RequestSpec | None:
    prose = page.section_prose("request body")
    tables = page.section_tables("request body")
    if not prose:
        return None
    if any("do not supply a request body" in t.lower() for _, t in prose):
        return _RequestSpec(body=False)
    for table in tables:
        head = table.header[0].lower() if table.header else ""
        rows = tuple(_rows(table, page.file))
        if head in ("parameter", "name"):
            return _RequestSpec(body=True, params=rows)
        if head == "property":
            entity = subject or _linked_type(prose, types)
            if entity is None:
                return _RequestSpec(body=True, params=rows)
            known = types.resources[entity].props
            for row in rows:
                if row.name not in known:
                    sink.warn(page.file, row.line, f"'{row.name}' is no property of {entity}")
            return _RequestSpec(body=True, entity=entity)
    entity = _linked_type(prose, types)
    if entity is not None:
        return _RequestSpec(body=True, entity=entity)
    sink.warn(page.file, prose[0][0], "request body section names no type and no parameters")
    return None


def _linked_type(prose: list[tuple[int, str]], types: _Types) -> str | None:
    for _, text in prose:
        for link in _LINK.finditer(text):
            fqn = types.find(link.group("text").strip("*` "))
            if fqn is not None:
                return fqn
    return None


def _prose_response(page: _Page, types: _Types) -> _ResponseSpec | None:
    for _, text in page.section_prose("response"):
        match = _PROSE_STATUS.search(text)
        if match:
            status = int(match.group(1))
            fqn = None if status == 204 else _linked_type([(0, text)], types)
            return _ResponseSpec(status, fqn, "collection of" in text.lower())
    return None


def _check_links(page: _Page, page_names: frozenset[str], sink: _Sink) -> None:
    """Warn once per relative link that resolves to no file below the page's docs entry and
    names no page of the build (the copies in shared/graph-docs are partial, so a link into
    the other repository's copy counts as resolved)."""
    seen: set[str] = set()
    base = posixpath.dirname(page.file)
    for line, _, text in page.prose:
        if "[!INCLUDE" in text or "[!VIDEO" in text:
            continue
        for link in _LINK.finditer(text):
            href = link.group("href")
            if re.match(r"^([a-z][a-z0-9+.-]*:|/|#)", href, re.IGNORECASE) or href in seen:
                continue
            target = href.split("#", 1)[0].split("?", 1)[0]
            if not target:
                continue
            resolved = posixpath.normpath(posixpath.join(base, target))
            if resolved in page.root_files or posixpath.basename(target) in page_names:
                continue
            seen.add(href)
            sink.warn(page.file, line, f"relative link '{href}' resolves to no page among the docs")


# --------------------------------------------------------------------------------------------
# Reading the docs entries


def _pages(docs: Sequence[Path], sink: _Sink) -> list[tuple[_Page, str]]:
    """Every page with its text, in precedence order (later wins)."""
    out: list[tuple[_Page, str]] = []
    for entry in docs:
        entry = Path(entry)
        if entry.is_dir():
            files = sorted(
                (p for p in entry.rglob("*") if p.is_file()),
                # By path components, so "microsoft-graph-docs/..." sorts before
                # "microsoft-graph-docs-contrib/...": the newer contrib pages win.
                key=lambda p: p.relative_to(entry).parts,
            )
            root_files = frozenset(p.relative_to(entry).as_posix() for p in files)
            chosen = [p for p in files if p.suffix.lower() in (".md", ".txt")]
            sources = [(p, p.relative_to(entry).as_posix()) for p in chosen]
        elif entry.is_file():
            root_files = frozenset({entry.name})
            sources = [(entry, entry.name)]
        else:
            sink.warn(entry.as_posix(), 0, "no such file or folder")
            continue
        for path, rel in sources:
            try:
                raw = path.read_bytes()
            except OSError as exc:
                sink.warn(rel, 0, f"cannot be read ({exc.strerror})")
                continue
            try:
                text = raw.decode("utf-8-sig")
            except UnicodeDecodeError as exc:
                sink.warn(rel, raw.count(b"\n", 0, exc.start) + 1, "not UTF-8; bad bytes replaced")
                text = raw.decode("utf-8-sig", errors="replace")
            out.append((_Page(rel, root_files), text))
    return out


# --------------------------------------------------------------------------------------------
# The build


@dataclass
class _Build:
    sink: _Sink = field(default_factory=_Sink)
    examples: dict[str, tuple[_Exchange, Operation]] = field(default_factory=dict)
    statements: list[_Statement] = field(default_factory=list)


def build(docs: Sequence[Path]) -> BuildResult:
    """Read the pages of ``docs`` (files, or folders whose ``*.md``/``*.txt`` are read in sorted
    order) and return the contract and fixture texts. Pure: writes nothing. Never raises on a
    page defect: each one is a :class:`DocWarning`."""
    state = _Build()
    sink = state.sink
    pages = _pages(docs, sink)
    for page, text in pages:
        _scan(page, text, sink)
    resources, resource_pages = _collect_resources([p for p, _ in pages], sink)
    types = _resolve_resources(resources, sink)
    names = frozenset(posixpath.basename(p.file) for p, _ in pages)
    for page, _ in pages:
        _read_page(page, types, names, page.file in resource_pages, state)
    files: dict[str, str] = {}
    by_op: dict[str, list[_Exchange]] = {}
    for name, (exchange, op) in sorted(state.examples.items()):
        files[f"{EXAMPLE_DIR}/{name}.json"] = _dump(_fixture(exchange, op))
        by_op.setdefault(op.id, []).append(exchange)
    merged = _merge(state.statements, sink)
    for op in OPERATIONS:
        if op.id in merged:
            contract = _contract(op, merged[op.id], by_op.get(op.id, []), types, sink)
            files[f"{SCHEMA_DIR}/{op.id}.json"] = _dump(contract)
        elif op.id in by_op:
            first = by_op[op.id][0]
            sink.warn(first.page.file, first.line, f"no page defines {op.id}; no contract written")
    return BuildResult(dict(sorted(files.items())), sink.items)


def _collect_resources(
    pages: list[_Page], sink: _Sink
) -> tuple[dict[str, _Resource], frozenset[str]]:
    """Resource types (a later page wins) and the files of every resource page."""
    resources: dict[str, _Resource] = {}
    resource_pages: set[str] = set()
    for page in pages:
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
            continue
        odata_type = annotation.data.get("@odata.type")
        if not isinstance(odata_type, str) or not odata_type.strip("#"):
            sink.warn(page.file, annotation.line, "resource annotation has no @odata.type")
            continue
        fqn = odata_type.lstrip("#")
        key = annotation.data.get("keyProperty")
        relationships = [
            row
            for t in page.section_tables("relationships")
            if t.header and t.header[0].lower() == "relationship"
            for row in _rows(t, page.file)
        ]
        resource = _Resource(
            fqn,
            key if isinstance(key, str) else None,
            _rows(table, page.file),
            relationships,
            page.file,
            table.line,
        )
        earlier = resources.get(fqn)
        if earlier is not None and _row_types(earlier.rows) != _row_types(resource.rows):
            sink.warn(page.file, table.line, f"{fqn} differs from {earlier.source}; this one wins")
        resources[fqn] = resource
        resource_pages.add(page.file)
    return resources, frozenset(resource_pages)


def _type_name(cell: str) -> str:
    """A type cell without its link target: ``[T](x.md) collection`` -> ``t collection``."""
    return re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", cell).strip().lower()


def _row_types(rows: list[_Row]) -> list[tuple[str, str]]:
    return [(r.name, _type_name(r.type)) for r in rows]


def _read_page(
    page: _Page, types: _Types, page_names: frozenset[str], is_resource: bool, state: _Build
) -> None:
    """Operation definition, statements and examples of one page."""
    sink = state.sink
    defined: Operation | None = None
    define_line = 0
    unmatched: list[tuple[int, str]] = []
    for block in page.blocks:
        annotation = block.annotation
        if (
            block.section == "http request"
            and annotation is not None
            and annotation.block_type == "ignored"
        ):
            for line, text in block.content:
                match = _REQUEST_LINE.match(text.strip())
                if match is None:
                    continue
                op = match_operation(match.group("method"), match.group("url"))
                if op is None:
                    unmatched.append((line, text.strip()))
                elif defined is None:
                    defined, define_line = op, annotation.line
    exchanges = _exchanges(page, sink)
    matched = [(x, match_operation(x.method, x.path)) for x in exchanges]
    if defined is None and not is_resource and not any(op for _, op in matched):
        if unmatched:
            line, text = unmatched[0]
            sink.warn(page.file, line, f"'{text}' matches no keySets operation; page skipped")
        else:
            sink.warn(page.file, 1, "no recognisable operation or resource; page skipped")
        return
    _check_links(page, page_names, sink)
    for block in page.blocks:
        if block.annotation is None:
            sink.warn(page.file, block.line, "code block without annotation; ignored")
    for exchange, op in matched:
        if op is None:
            if defined is None:
                where = f"{exchange.method} {exchange.path}"
                sink.warn(page.file, exchange.line, f"'{where}' matches no keySets operation")
                continue
            sink.warn(page.file, exchange.line, f"request line does not match {defined.id}")
            op = defined
        elif defined is not None and op != defined:
            sink.warn(page.file, exchange.line, f"example is {op.id} on a {defined.id} page")
        if exchange.response is None:
            sink.warn(page.file, exchange.line, f"request '{exchange.name}' has no response")
        earlier = state.examples.get(exchange.name)
        if earlier is not None:
            sink.warn(
                page.file,
                exchange.line,
                f"example '{exchange.name}' is defined again; {exchange.source} wins over"
                f" {earlier[0].source}",
            )
        state.examples[exchange.name] = (exchange, op)
    if defined is None:
        return
    statement = _Statement(defined, page.file, define_line)
    statement.permissions = _permissions(page, define_line, sink)
    response = _documented_response(page, defined, matched, types, sink)
    statement.response = response
    subject = response.type if response is not None else None
    statement.request = _request_spec(page, subject, types, sink)
    if statement.request is not None and not statement.request.body:
        for exchange, op in matched:
            if op == defined and exchange.body is not None:
                sink.warn(page.file, exchange.line, "example sends a body the page rules out")
    state.statements.append(statement)


def _exchanges(page: _Page, sink: _Sink) -> list[_Exchange]:
    out: list[_Exchange] = []
    pending: _Exchange | None = None
    for block in page.blocks:
        annotation = block.annotation
        if annotation is None or not annotation.valid:
            continue
        if annotation.block_type == "request":
            if pending is not None:
                out.append(pending)
            name = annotation.data.get("name")
            pending = None
            if not isinstance(name, str) or not name.strip():
                sink.warn(page.file, annotation.line, "request annotation has no name; skipped")
                continue
            if not _SAFE_NAME.fullmatch(name):
                safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
                sink.warn(page.file, annotation.line, f"example name '{name}' used as '{safe}'")
                name = safe
            pending = _parse_request(page, block, name, sink)
        elif annotation.block_type == "response":
            if pending is None:
                sink.warn(page.file, annotation.line, "response without a request before it")
                continue
            _parse_response(page, block, pending, sink)
            out.append(pending)
            pending = None
    if pending is not None:
        out.append(pending)
    return out


def _documented_response(
    page: _Page,
    op: Operation,
    matched: list[tuple[_Exchange, Operation | None]],
    types: _Types,
    sink: _Sink,
) -> _ResponseSpec | None:
    """The success response: from the first 2xx example response, else from the prose."""
    for exchange, example_op in matched:
        response = exchange.response
        if example_op not in (op, None) or response is None or response["status"] // 100 != 2:
            continue
        status = response["status"]
        if status == 204 or response["body"] is None:
            return _ResponseSpec(status, None, False)
        fqn = types.find(exchange.response_type) if exchange.response_type else None
        if fqn is None:
            prose = _prose_response(page, types)
            fqn = prose.type if prose else None
        if fqn is None:
            what = exchange.response_type or "of unknown type"
            sink.warn(page.file, exchange.line, f"response {what} has no resource page; no schema")
        return _ResponseSpec(status, fqn, exchange.is_collection)
    prose = _prose_response(page, types)
    if prose is None:
        sink.warn(page.file, 1, f"no documented success response for {op.id}")
    return prose


@dataclass
class _Merged:
    sources: list[str]
    permissions: dict[str, list[str]] | None = None
    request: _RequestSpec | None = None
    response: _ResponseSpec | None = None


def _merge(statements: list[_Statement], sink: _Sink) -> dict[str, _Merged]:
    """Per operation and per fact, the last page that states it wins; disagreements warn."""
    merged: dict[str, _Merged] = {}
    last: dict[tuple[str, str], _Statement] = {}
    for st in statements:
        into = merged.setdefault(st.op.id, _Merged([]))
        into.sources.append(st.source)
        facts: list[tuple[str, Any, Any, Callable[[Any], Any]]] = [
            ("permissions", st.permissions, into.permissions, lambda v: v),
            ("request body", st.request, into.request, lambda v: v.key()),
            ("response", st.response, into.response, lambda v: v),
        ]
        for fact, new, old, key in facts:
            if new is None:
                continue
            if old is not None and key(old) != key(new):
                before = last[(st.op.id, fact)].source
                sink.warn(st.file, st.line, f"{fact} of {st.op.id} differ from {before}; this wins")
            last[(st.op.id, fact)] = st
        into.permissions = st.permissions if st.permissions is not None else into.permissions
        into.request = st.request if st.request is not None else into.request
        into.response = st.response if st.response is not None else into.response
    return merged


def _contract(
    op: Operation, facts: _Merged, examples: list[_Exchange], types: _Types, sink: _Sink
) -> Json:
    defs: Json = {}
    request = facts.request
    first = facts.sources[-1].rsplit(":", 1)
    where = (first[0], int(first[1]))
    if request is None:
        sink.warn(*where, f"no page says what {op.id} takes as request body; none assumed")
        request = _RequestSpec(body=False)
    if request.body:
        required = _REQUIRED.get(op.id, ())
        if request.entity is not None:
            schema: Json = {"$ref": f"#/$defs/{request.entity}"}
            schema["properties"] = {"id": _ENTITY_ID}
            if required:
                schema["required"] = list(required)
            defs["request"] = schema
        else:
            props = [_parameter(op, row, types, sink) for row in request.params]
            defs["request"] = _object(props, "write", required)
    response = facts.response
    if response is None:
        default = {"POST": 201, "DELETE": 204, "PATCH": 204}.get(op.method, 200)
        sink.warn(*where, f"no success status documented for {op.id}; {default} assumed")
        response = _ResponseSpec(default, None, False)
    if response.type is not None and response.status != 204:
        target = {"$ref": f"#/$defs/{response.type}.read"}
        if response.collection:
            defs["response"] = {
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
        else:
            defs["response"] = {**target, "properties": {"@odata.context": {"type": "string"}}}
    used = _add_definitions(defs, types)
    sources = set(facts.sources) | {x.source for x in examples}
    sources |= {types.resources[fqn].source for fqn in used}
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
            "permissions": facts.permissions or {key: [] for _, key in _PERMISSION_ROWS},
            "examples": sorted(x.name for x in examples),
            "sources": sorted(sources),
        },
        "$defs": defs,
    }


def _parameter(op: Operation, row: _Row, types: _Types, sink: _Sink) -> _Prop:
    """An action parameter. "Similar to the **p** property of **T**" brings T.p's value
    constraints and secrecy along, and widens int to T.p's Int64 (see the NumericDate note)."""
    prop = _prop(row, types, sink)
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
            sink.warn(row.file, row.line, f"'{row.name}' is typed unlike {fqn}.{target.name}")
    if row.name in _SECRET_PARAMETERS.get(op.id, frozenset()):
        prop = replace(prop, secret=True)
    return prop


def _add_definitions(defs: Json, types: _Types) -> list[str]:
    """Add every resource definition the schemas in ``defs`` reach; the type names used."""
    used: list[str] = []
    queue = list(_refs(defs))
    while queue:
        name = queue.pop(0)
        if name in defs:
            continue
        side = "read" if name.endswith(".read") else "write"
        fqn = name[: -len(".read")] if side == "read" else name
        resource = types.resources[fqn]
        defs[name] = _object(resource.props.values(), side)
        if fqn not in used:
            used.append(fqn)
        queue.extend(_refs(defs[name]))
    return used


def _refs(schema: Any) -> Iterable[str]:
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/$defs/"):
                yield value[len("#/$defs/") :]
            else:
                yield from _refs(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from _refs(value)


def _fixture(exchange: _Exchange, op: Operation) -> Json:
    return {
        "name": exchange.name,
        "operation": op.id,
        "documented": True,
        "truncated": exchange.truncated,
        "source": exchange.source,
        "placeholders": exchange.placeholders,
        "request": {
            "method": exchange.method,
            "path": exchange.path,
            "query": exchange.query,
            "headers": exchange.headers,
            "body": exchange.body,
        },
        "response": exchange.response,
    }


def _dump(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------------------------
# Files on disk


def _on_disk(path: Path) -> str | None:
    try:
        return path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _stale(result: BuildResult, out: Path) -> list[str]:
    stale = []
    for folder in (SCHEMA_DIR, EXAMPLE_DIR):
        directory = out / folder
        if directory.is_dir():
            for path in sorted(directory.glob("*.json")):
                rel = f"{folder}/{path.name}"
                if rel not in result.files:
                    stale.append(rel)
    return stale


def check(result: BuildResult, out: Path) -> list[str]:
    """Relative paths under ``out`` that differ from ``result``, are missing, or are stale
    (``*.json`` in the output folders that the build no longer produces). Empty: up to date."""
    differ = [rel for rel, text in result.files.items() if _on_disk(out / rel) != text]
    return sorted(differ + _stale(result, out))


def write(result: BuildResult, out: Path) -> list[str]:
    """Write ``result`` under ``out`` (only files whose text changes, each replaced atomically)
    and delete stale ``*.json`` of ``out/schemas`` and ``out/fixtures/examples``. Returns the
    relative paths written or deleted. ``OSError`` propagates."""
    changed = []
    for rel, text in result.files.items():
        target = out / rel
        if _on_disk(target) == text:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        # Not tempfile.mkstemp: its files are 0600 and os.replace keeps that mode.
        temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0)
        try:
            with os.fdopen(os.open(temporary, flags, 0o666), "wb") as stream:
                stream.write(text.encode("utf-8"))
            os.replace(temporary, target)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        changed.append(rel)
    for rel in _stale(result, out):
        (out / rel).unlink()
        changed.append(rel)
    return sorted(changed)
