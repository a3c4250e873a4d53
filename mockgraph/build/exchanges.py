"""A page's annotated ``http`` blocks -> example exchanges: each ``request`` block with the
``response`` block right after it. Trailing commas in JSON bodies are removed, placeholders and
relative URLs kept; each such defect is warned."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from itertools import dropwhile
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from mockgraph.build.pages import Annotation, CodeBlock, Page, Sink
from mockgraph.build.spec import OperationSpec

REQUEST_LINE = re.compile(r"^(?P<method>[A-Za-z]+)\s+(?P<url>\S.*?)(?:\s+HTTP/[\d.]+)?\s*$")
_STATUS_LINE = re.compile(r"^HTTP/[\d.]+\s+(\d{3})\b")
_HEADER_LINE = re.compile(r"^([A-Za-z0-9!#$%&'*+.^_`|~-]+)\s*:\s*(.*)$")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
Lines = list[tuple[int, str]]
_SAFE_NAME = re.compile(r"[A-Za-z0-9_.-]+")
#: A JSON string (kept) or a comma right before ``}`` or ``]`` (removed).
_TRAILING_COMMA = re.compile(r'"(?:[^"\\]|\\.)*"|(,)\s*[}\]]')


@dataclass
class Exchange:
    """One documented request and the response paired with it."""

    name: str
    file: str
    line: int  # the request annotation's
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    truncated: bool
    response: dict[str, Any] | None = None
    response_type: str | None = None  # the response annotation's @odata.type
    is_collection: bool = False

    @property
    def source(self) -> str:
        return f"{self.file}:{self.line}"


def exchanges(page: Page, sink: Sink) -> list[Exchange]:
    """The page's example exchanges in page order; a request without a response has none."""
    out: list[Exchange] = []
    last: Exchange | None = None  # the request still waiting for its response
    for block in page.blocks:
        annotation = block.annotation
        if annotation is None:
            continue
        if annotation.block_type == "request":
            name = annotation.data.get("name")
            last = None
            if isinstance(name, str) and _SAFE_NAME.fullmatch(name):
                last = _request(page, block, name, annotation, sink)
            else:
                sink.warn(page.file, annotation.line, "request annotation has no usable name")
            if last is not None:
                out.append(last)
        elif annotation.block_type == "response" and last is not None:
            _response(page, block, last, annotation, sink)
            last = None
    return out


def fixture(exchange: Exchange, op: OperationSpec) -> dict[str, Any]:
    """The example file of ``exchange``, an example of ``op``."""
    return {
        "name": exchange.name,
        "operation": op.id,
        "documented": True,
        "truncated": exchange.truncated,
        "source": exchange.source,
        "placeholders": list(dict.fromkeys(_PLACEHOLDER.findall(exchange.path))),
        "request": {
            "method": exchange.method,
            "path": exchange.path,
            "query": exchange.query,
            "headers": exchange.headers,
            "body": exchange.body,
        },
        "response": exchange.response,
    }


def _request(
    page: Page, block: CodeBlock, name: str, annotation: Annotation, sink: Sink
) -> Exchange | None:
    first, headers, body = _split_http(block.content)
    match = REQUEST_LINE.match(first[1]) if first else None
    if first is None or match is None:
        sink.warn(page.file, block.line, f"request '{name}' does not start with 'METHOD URL'")
        return None
    url = match.group("url")
    parts = urlsplit(url)
    path = parts.path
    if not (parts.scheme and parts.netloc):
        if not re.match(r"/?(beta|v1\.0)(/|$)", path, re.IGNORECASE):
            path = "/beta/" + path.lstrip("/")
        sink.warn(page.file, first[0], f"relative request URL '{url}' read as '{path}'")
    if placeholders := list(dict.fromkeys(_PLACEHOLDER.findall(path))):
        names = ", ".join("{" + p + "}" for p in placeholders)
        sink.warn(page.file, first[0], f"request URL has placeholder(s) {names}; kept as written")
    return Exchange(
        name=name,
        file=page.file,
        line=annotation.line,
        method=match.group("method").upper(),
        path=path,
        query=dict(parse_qsl(parts.query, keep_blank_values=True)),
        headers=headers,
        body=_json(page, body, f"request body of '{name}'", sink),
        truncated=annotation.data.get("truncated") is True,
    )


def _response(
    page: Page, block: CodeBlock, exchange: Exchange, annotation: Annotation, sink: Sink
) -> None:
    first, headers, body = _split_http(block.content)
    match = _STATUS_LINE.match(first[1]) if first else None
    if match is None:
        sink.warn(page.file, block.line, f"response of '{exchange.name}' has no HTTP status line")
        return
    exchange.response = {
        "status": int(match.group(1)),
        "headers": headers,
        "body": _json(page, body, f"response body of '{exchange.name}'", sink),
    }
    odata_type = annotation.data.get("@odata.type")
    exchange.response_type = odata_type.lstrip("#") if isinstance(odata_type, str) else None
    exchange.is_collection = annotation.data.get("isCollection") is True
    exchange.truncated = exchange.truncated or annotation.data.get("truncated") is True


def _split_http(content: Lines) -> tuple[tuple[int, str] | None, dict[str, str], Lines]:
    """First line, headers (canonical names) and body lines of an ``http`` code block."""
    filled = [k for k, (_, text) in enumerate(content) if text.strip()]
    if not filled:
        return None, {}, []
    lines = content[filled[0] : filled[-1] + 1]
    headers: dict[str, str] = {}
    k = 1
    while k < len(lines) and (match := _HEADER_LINE.match(lines[k][1].strip())):
        headers["-".join(p.capitalize() for p in match[1].split("-"))] = match[2].strip()
        k += 1
    body = list(dropwhile(lambda line: not line[1].strip(), lines[k:]))
    return (lines[0][0], lines[0][1].strip()), headers, body


def _json(page: Page, lines: Lines, what: str, sink: Sink) -> Any:
    """A JSON body without its trailing commas (each one warned); ``None`` when there is none
    or it is not JSON (warned)."""
    if not lines:
        return None
    text = "\n".join(t for _, t in lines)
    try:
        value = json.loads(_TRAILING_COMMA.sub(lambda m: m[0][1:] if m[1] else m[0], text))
    except json.JSONDecodeError as exc:
        where = lines[min(max(exc.lineno - 1, 0), len(lines) - 1)][0]
        sink.warn(page.file, where, f"{what} is not valid JSON ({exc.msg}); left out")
        return None
    for comma in _TRAILING_COMMA.finditer(text):
        if comma[1]:
            where = lines[text.count("\n", 0, comma.start())][0]
            sink.warn(page.file, where, f"trailing comma in {what} removed")
    return value
