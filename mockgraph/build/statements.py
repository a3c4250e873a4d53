"""What each page states about the operation its "HTTP request" block names (permissions,
request body, success response), its examples (matched by their own request lines), and those
facts merged over all pages: the later page wins each."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mockgraph.build.exchanges import REQUEST_LINE, Exchange, exchanges
from mockgraph.build.pages import Page, Sink, check_links
from mockgraph.build.resources import Row, Types, find, rows_of
from mockgraph.build.spec import OperationSpec, family_name, match_operation

#: Rows of a permission table -> the keys of a contract's ``permissions``.
PERMISSION_ROWS = (
    ("work or school", "delegatedWork"),
    ("personal", "delegatedPersonal"),
    ("application", "application"),
)
_FACTS = (("permissions", "permissions"), ("request", "request body"), ("response", "response"))


@dataclass(frozen=True)
class RequestSpec:
    body: bool
    entity: str | None = None  # the body is this resource type (write side)
    params: tuple[Row, ...] = ()  # the body is an object of these parameters


@dataclass(frozen=True)
class ResponseSpec:
    status: int
    type: str | None
    collection: bool


@dataclass
class Facts:
    """What pages state about one operation, ``None`` where they are silent, and the
    ``file:line`` of each of those pages."""

    op: OperationSpec
    sources: list[str]
    permissions: dict[str, list[str]] | None = None
    request: RequestSpec | None = None
    response: ResponseSpec | None = None


def read_statements(
    page: Page,
    operations: Sequence[OperationSpec],
    types: Types,
    page_names: frozenset[str],
    is_resource: bool,
    examples: dict[str, tuple[Exchange, OperationSpec]],
    sink: Sink,
) -> Facts | None:
    """The facts one page states about the operation it defines, if any; its examples are
    added to ``examples`` (by name: a later one wins). A page that is about none of
    ``operations`` and is no resource page is skipped with a warning."""
    defined: tuple[OperationSpec, int] | None = None
    unmatched: list[tuple[int, str]] = []
    for block in page.blocks:
        annotation = block.annotation
        if block.section != "http request" or not annotation or annotation.block_type != "ignored":
            continue
        for line, text in block.content:
            if match := REQUEST_LINE.match(text.strip()):
                op = match_operation(match["method"], match["url"], operations)
                if op is None:
                    unmatched.append((line, text.strip()))
                elif defined is None:
                    defined = op, annotation.line
    found = [(x, match_operation(x.method, x.path, operations)) for x in exchanges(page, sink)]
    family = family_name(operations)
    if defined is None and not is_resource and not any(op for _, op in found):
        if unmatched:
            line, text = unmatched[0]
            sink.warn(page.file, line, f"'{text}' matches no {family} operation; page skipped")
        else:
            sink.warn(page.file, 1, "no recognisable operation or resource; page skipped")
        return None
    check_links(page, page_names, sink)
    for block in page.blocks:
        if block.annotation is None:
            sink.warn(page.file, block.line, "code block without annotation; ignored")
    for exchange, op in found:
        if op is None:
            where = f"{exchange.method} {exchange.path}"
            sink.warn(page.file, exchange.line, f"'{where}' matches no {family} operation")
            continue
        if exchange.response is None:
            sink.warn(page.file, exchange.line, f"request '{exchange.name}' has no response")
        if (earlier := examples.get(exchange.name)) is not None:
            message = f"{exchange.source} wins over {earlier[0].source}"
            sink.warn(
                page.file, exchange.line, f"example '{exchange.name}' is defined again; {message}"
            )
        examples[exchange.name] = (exchange, op)
    if defined is None:
        return None
    op, line = defined
    response = _response([x for x, o in found if o == op], types)
    request = _request(page, response.type if response else None, types)
    return Facts(op, [f"{page.file}:{line}"], _permissions(page, line, sink), request, response)


def _permissions(page: Page, line: int, sink: Sink) -> dict[str, list[str]] | None:
    for table in page.section_tables("permissions"):
        if table.header[0].lower().startswith("permission type"):
            found: dict[str, list[str]] = {key: [] for _, key in PERMISSION_ROWS}
            for _, cells in table.rows:
                kind, value = [*cells, ""][:2]
                key = next((k for word, k in PERMISSION_ROWS if word in kind.lower()), None)
                if key is not None and "not supported" not in value.lower():
                    found[key] = [v.strip().rstrip(".") for v in value.split(",") if v.strip()]
            return found
    include = [p.line for p in page.section_prose("permissions") if "[!INCLUDE" in p.text]
    if include:
        sink.warn(page.file, include[0], "permissions table is an INCLUDE not among the docs")
    else:
        sink.warn(page.file, line, "page has no permissions table")
    return None


def _request(page: Page, subject: str | None, types: Types) -> RequestSpec | None:
    """The request body: none ("do not supply"), a parameter table, or a resource type (the
    answer's, else the one the section links to)."""
    if any(
        "do not supply a request body" in p.text.lower() for p in page.section_prose("request body")
    ):
        return RequestSpec(body=False)
    links = (find(types, k.text.strip("*` ")) for k in page.links if k.section == "request body")
    linked = next(filter(None, links), None)
    for table in page.section_tables("request body"):
        head = table.header[0].lower()
        if head == "property" and (subject or linked):
            return RequestSpec(body=True, entity=subject or linked)
        if head in ("parameter", "property"):
            return RequestSpec(body=True, params=tuple(rows_of(table, page.file)))
    return RequestSpec(body=True, entity=linked) if linked else None


def _response(examples: list[Exchange], types: Types) -> ResponseSpec | None:
    """The success response: the first 2xx example response's."""
    for exchange in examples:
        response = exchange.response
        if response is None or response["status"] // 100 != 2:
            continue
        if response["status"] == 204 or response["body"] is None:
            return ResponseSpec(response["status"], None, False)
        fqn = find(types, exchange.response_type or "")
        return ResponseSpec(response["status"], fqn, exchange.is_collection)
    return None


def merge(statements: list[Facts], sink: Sink) -> dict[str, Facts]:
    """Per operation and per fact, the last page that states it wins; disagreements warn."""
    merged: dict[str, Facts] = {}
    stated_by: dict[tuple[str, str], str] = {}
    for facts in statements:
        into = merged.setdefault(facts.op.id, Facts(facts.op, []))
        into.sources += facts.sources
        for name, label in _FACTS:
            new, old = getattr(facts, name), getattr(into, name)
            if new is None:
                continue
            if old is not None and old != new:
                file, line = facts.sources[0].rsplit(":", 1)
                before = stated_by[(facts.op.id, name)]
                sink.warn(
                    file, int(line), f"{label} of {facts.op.id} differ from {before}; this wins"
                )
            stated_by[(facts.op.id, name)] = facts.sources[0]
            setattr(into, name, new)
    return merged
