"""What each page says about its operation (permissions, request body, success response) and
which examples it holds, merged over all pages: the later page wins each fact.

An operation page defines its operation by the request line of its "HTTP request" block (the
one annotated ``"blockType": "ignored"``); its examples are matched to operations by their own
request lines.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mockgraph.build.defects import Sink
from mockgraph.build.exchanges import REQUEST_LINE, Exchange, exchanges
from mockgraph.build.pages import Link, Page, check_links
from mockgraph.build.resources import Row, Types, row_types, rows_of
from mockgraph.build.spec import OperationSpec, family_name, match_operation

#: Rows of a permission table -> the keys of a contract's ``permissions``.
PERMISSION_ROWS = (
    ("work or school", "delegatedWork"),
    ("personal", "delegatedPersonal"),
    ("application", "application"),
)

_PROSE_STATUS = re.compile(r"\b([1-5]\d\d),?\s+(?:OK|Created|Accepted|No Content)\b")


@dataclass(frozen=True)
class RequestSpec:
    body: bool
    entity: str | None = None  # the body is this resource type (write side)
    params: tuple[Row, ...] = ()  # the body is an object of these parameters

    def key(self) -> tuple[bool, str | None, tuple[tuple[str, str], ...]]:
        return self.body, self.entity, tuple(row_types(list(self.params)))


@dataclass(frozen=True)
class ResponseSpec:
    status: int
    type: str | None
    collection: bool


@dataclass
class Statement:
    """Facts one page states about one operation; ``None`` where the page is silent."""

    op: OperationSpec
    file: str
    line: int
    permissions: dict[str, list[str]] | None = None
    request: RequestSpec | None = None
    response: ResponseSpec | None = None

    @property
    def source(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass
class Collected:
    """What the pages read so far hold: examples by name (a later one wins), statements."""

    operations: Sequence[OperationSpec]
    examples: dict[str, tuple[Exchange, OperationSpec]] = field(default_factory=dict)
    statements: list[Statement] = field(default_factory=list)


def read_statements(
    page: Page,
    types: Types,
    page_names: frozenset[str],
    is_resource: bool,
    into: Collected,
    sink: Sink,
) -> None:
    """The operation definition, statements and examples of one page, added to ``into``."""
    operations = into.operations
    defined: OperationSpec | None = None
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
                match = REQUEST_LINE.match(text.strip())
                if match is None:
                    continue
                op = match_operation(match.group("method"), match.group("url"), operations)
                if op is None:
                    unmatched.append((line, text.strip()))
                elif defined is None:
                    defined, define_line = op, annotation.line
    examples = exchanges(page, sink)
    matched = [(x, match_operation(x.method, x.path, operations)) for x in examples]
    family = family_name(operations)
    if defined is None and not is_resource and not any(op for _, op in matched):
        if unmatched:
            line, text = unmatched[0]
            sink.warn(page.file, line, f"'{text}' matches no {family} operation; page skipped")
        else:
            sink.warn(page.file, 1, "no recognisable operation or resource; page skipped")
        return
    check_links(page, page_names, sink)
    for block in page.blocks:
        if block.annotation is None:
            sink.warn(page.file, block.line, "code block without annotation; ignored")
    for exchange, op in matched:
        if op is None:
            if defined is None:
                where = f"{exchange.method} {exchange.path}"
                sink.warn(page.file, exchange.line, f"'{where}' matches no {family} operation")
                continue
            sink.warn(page.file, exchange.line, f"request line does not match {defined.id}")
            op = defined
        elif defined is not None and op != defined:
            sink.warn(page.file, exchange.line, f"example is {op.id} on a {defined.id} page")
        if exchange.response is None:
            sink.warn(page.file, exchange.line, f"request '{exchange.name}' has no response")
        earlier = into.examples.get(exchange.name)
        if earlier is not None:
            sink.warn(
                page.file,
                exchange.line,
                f"example '{exchange.name}' is defined again; {exchange.source} wins over"
                f" {earlier[0].source}",
            )
        into.examples[exchange.name] = (exchange, op)
    if defined is None:
        return
    statement = Statement(defined, page.file, define_line)
    statement.permissions = _permissions(page, define_line, sink)
    response = _documented_response(page, defined, matched, types, sink)
    statement.response = response
    subject = response.type if response is not None else None
    statement.request = _request_spec(page, subject, types, sink)
    if statement.request is not None and not statement.request.body:
        for exchange, op in matched:
            if op == defined and exchange.body is not None:
                sink.warn(page.file, exchange.line, "example sends a body the page rules out")
    into.statements.append(statement)


def _permissions(page: Page, line: int, sink: Sink) -> dict[str, list[str]] | None:
    for table in page.section_tables("permissions"):
        if table.header and table.header[0].lower().startswith("permission type"):
            found: dict[str, list[str]] = {key: [] for _, key in PERMISSION_ROWS}
            for _, cells in table.rows:
                kind = cells[0].lower()
                key = next((k for word, k in PERMISSION_ROWS if word in kind), None)
                value = cells[1] if len(cells) > 1 else ""
                if key is None or "not supported" in value.lower():
                    continue
                found[key] = [v.strip().rstrip(".") for v in value.split(",") if v.strip()]
            return found
    prose = page.section_prose("permissions")
    include = next((p.line for p in prose if "[!INCLUDE" in p.text), None)
    if include is not None:
        sink.warn(page.file, include, "permissions table is an INCLUDE not among the docs")
    elif prose:
        sink.warn(page.file, prose[0].line, "permissions section has no permission table")
    else:
        sink.warn(page.file, line, "page has no permissions section")
    return None


def _request_spec(page: Page, subject: str | None, types: Types, sink: Sink) -> RequestSpec | None:
    prose = page.section_prose("request body")
    links = page.section_links("request body")
    if not prose:
        return None
    if any("do not supply a request body" in p.text.lower() for p in prose):
        return RequestSpec(body=False)
    for table in page.section_tables("request body"):
        head = table.header[0].lower() if table.header else ""
        rows = tuple(rows_of(table, page.file))
        if head in ("parameter", "name"):
            return RequestSpec(body=True, params=rows)
        if head == "property":
            entity = subject or _linked_type(links, types)
            if entity is None:
                return RequestSpec(body=True, params=rows)
            known = types.resources[entity].props
            for row in rows:
                if row.name not in known:
                    sink.warn(page.file, row.line, f"'{row.name}' is no property of {entity}")
            return RequestSpec(body=True, entity=entity)
    entity = _linked_type(links, types)
    if entity is not None:
        return RequestSpec(body=True, entity=entity)
    sink.warn(page.file, prose[0].line, "request body section names no type and no parameters")
    return None


def _linked_type(links: list[Link], types: Types) -> str | None:
    """The first resource type one of ``links`` names."""
    for link in links:
        fqn = types.find(link.text.strip("*` "))
        if fqn is not None:
            return fqn
    return None


def _prose_response(page: Page, types: Types) -> ResponseSpec | None:
    links = page.section_links("response")
    for prose in page.section_prose("response"):
        match = _PROSE_STATUS.search(prose.text)
        if match:
            status = int(match.group(1))
            on_line = [link for link in links if link.line == prose.line]
            fqn = None if status == 204 else _linked_type(on_line, types)
            return ResponseSpec(status, fqn, "collection of" in prose.text.lower())
    return None


def _documented_response(
    page: Page,
    op: OperationSpec,
    matched: list[tuple[Exchange, OperationSpec | None]],
    types: Types,
    sink: Sink,
) -> ResponseSpec | None:
    """The success response: from the first 2xx example response, else from the prose."""
    for exchange, example_op in matched:
        response = exchange.response
        if example_op not in (op, None) or response is None or response["status"] // 100 != 2:
            continue
        status = response["status"]
        if status == 204 or response["body"] is None:
            return ResponseSpec(status, None, False)
        fqn = types.find(exchange.response_type) if exchange.response_type else None
        if fqn is None:
            prose = _prose_response(page, types)
            fqn = prose.type if prose else None
        if fqn is None:
            what = exchange.response_type or "of unknown type"
            sink.warn(page.file, exchange.line, f"response {what} has no resource page; no schema")
        return ResponseSpec(status, fqn, exchange.is_collection)
    prose = _prose_response(page, types)
    if prose is None:
        sink.warn(page.file, 1, f"no documented success response for {op.id}")
    return prose


@dataclass
class Merged:
    """An operation's facts over all pages, and the pages that stated them."""

    sources: list[str]
    permissions: dict[str, list[str]] | None = None
    request: RequestSpec | None = None
    response: ResponseSpec | None = None


def merge(statements: list[Statement], sink: Sink) -> dict[str, Merged]:
    """Per operation and per fact, the last page that states it wins; disagreements warn."""
    merged: dict[str, Merged] = {}
    last: dict[tuple[str, str], Statement] = {}
    for st in statements:
        into = merged.setdefault(st.op.id, Merged([]))
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
