"""Annotated ``http`` request and response blocks of a page -> example exchanges (fixtures).

A block annotated ``"blockType": "request"`` (with a ``name``) is one request; the next block
annotated ``"response"`` is its answer. JSON bodies are repaired where the docs have trailing
commas; ``{placeholders}`` in URLs and relative URLs are kept, and every such defect is warned.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from mockgraph.build.defects import Sink
from mockgraph.build.pages import CodeBlock, Page
from mockgraph.build.spec import OperationSpec

Json = dict[str, Any]
Lines = list[tuple[int, str]]

_HEADER_SPELLING = {
    "etag": "ETag",
    "odata-version": "OData-Version",
    "odata-maxversion": "OData-MaxVersion",
    "www-authenticate": "WWW-Authenticate",
    "request-id": "request-id",
    "client-request-id": "client-request-id",
}

REQUEST_LINE = re.compile(r"^(?P<method>[A-Za-z]+)\s+(?P<url>\S.*?)(?:\s+HTTP/[\d.]+)?\s*$")
_STATUS_LINE = re.compile(r"^HTTP/[\d.]+\s+(?P<status>\d{3})\b")
_HEADER_LINE = re.compile(r"^(?P<name>[A-Za-z0-9!#$%&'*+.^_`|~-]+)\s*:\s*(?P<value>.*)$")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_SAFE_NAME = re.compile(r"[A-Za-z0-9_.-]+")


@dataclass
class Exchange:
    """One documented request and the response paired with it."""

    name: str
    file: str
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
        return f"{self.file}:{self.line}"


def exchanges(page: Page, sink: Sink) -> list[Exchange]:
    """The page's example exchanges in page order; a request without a response has none."""
    out: list[Exchange] = []
    pending: Exchange | None = None
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
            pending = _request(page, block, name, sink)
        elif annotation.block_type == "response":
            if pending is None:
                sink.warn(page.file, annotation.line, "response without a request before it")
                continue
            _response(page, block, pending, sink)
            out.append(pending)
            pending = None
    if pending is not None:
        out.append(pending)
    return out


def fixture(exchange: Exchange, op: OperationSpec) -> Json:
    """The example file of ``exchange``, an example of ``op``."""
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


def _request(page: Page, block: CodeBlock, name: str, sink: Sink) -> Exchange | None:
    first, headers, body_lines = _split_http(block.content)
    match = REQUEST_LINE.match(first[1]) if first else None
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
    return Exchange(
        name=name,
        file=page.file,
        line=block.annotation.line if block.annotation else block.line,
        method=match.group("method").upper(),
        path=path,
        query=dict(parse_qsl(parts.query, keep_blank_values=True)),
        placeholders=placeholders,
        headers=headers,
        body=_body(page, headers, body_lines, f"request body of '{name}'", sink),
        truncated=annotation.get("truncated") is True,
    )


def _response(page: Page, block: CodeBlock, exchange: Exchange, sink: Sink) -> None:
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


def _canonical_header(name: str) -> str:
    low = name.lower()
    return _HEADER_SPELLING.get(low) or "-".join(p[:1].upper() + p[1:] for p in low.split("-"))


def _split_http(content: Lines) -> tuple[tuple[int, str] | None, dict[str, str], Lines]:
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


def _body(page: Page, headers: dict[str, str], lines: Lines, what: str, sink: Sink) -> Any:
    if not lines:
        return None
    kind = headers.get("Content-Type", "application/json").lower()
    if "json" not in kind:
        return "\n".join(t for _, t in lines)
    return _load_json(page, lines, what, sink)


def _load_json(page: Page, lines: Lines, what: str, sink: Sink) -> Any:
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
