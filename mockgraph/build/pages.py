"""One doc page read with markdown-it-py (sections, tables, prose, links, annotated code blocks)
and the warnings a build gives instead of raising. Graph's conventions: YAML front matter, an
HTML comment holding a JSON object that annotates the code block right after it, and DocFX
directives (``[!INCLUDE [x](y)]``, no link). A section is the level-2 heading above, lower-cased.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from markdown_it import MarkdownIt
from markdown_it.token import Token

#: Annotations that describe the code block after them (others stand alone).
_EXPECTS_BLOCK = frozenset({"request", "response", "ignored", "resource"})
#: From a first line "---" to the next line "---" (spaces around allowed: [^\S\n]).
_FRONT_MATTER = re.compile(r"\A[^\S\n]*---[^\S\n]*\n.*?^[^\S\n]*---[^\S\n]*$", re.DOTALL | re.M)
_DIRECTIVE = re.compile(r"\[!(?:INCLUDE|VIDEO)\s*$")
_ABSOLUTE = re.compile(r"^([a-z][a-z0-9+.-]*:|/|#)", re.IGNORECASE)
_MARKDOWN = MarkdownIt("commonmark").enable("table")


@dataclass(frozen=True)
class DocWarning:
    """A page defect the build survived: ``file`` relative to its docs entry, ``line`` 1-based
    (0 when no line applies)."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class Sink(list[DocWarning]):
    """The warnings of one build, in the order it meets them."""

    def warn(self, file: str, line: int, message: str) -> None:
        self.append(DocWarning(file, line, message))


@dataclass(frozen=True)
class Annotation:
    """The JSON object of an HTML comment (empty when it is not valid JSON, which is warned)."""

    data: dict[str, Any]
    line: int

    @property
    def block_type(self) -> str:
        return str(self.data.get("blockType", "")).lower()


@dataclass(frozen=True)
class CodeBlock:
    """A fenced code block: the line of its opening fence and its (line, text) content."""

    line: int
    content: list[tuple[int, str]]
    section: str
    annotation: Annotation | None


@dataclass(frozen=True)
class Table:
    """A GFM table: its header cells and its body rows (line, cells), cells as written."""

    section: str
    line: int
    header: list[str] = field(default_factory=list)
    rows: list[tuple[int, list[str]]] = field(default_factory=list)


@dataclass(frozen=True)
class Prose:
    """A heading or one line of a paragraph, inline markup kept."""

    line: int
    section: str
    text: str


@dataclass(frozen=True)
class Link:
    """A link (reference links resolved): its decoded target and its text without markup."""

    line: int
    section: str
    href: str
    text: str


@dataclass
class Page:
    """What one page holds, in page order; ``file`` is relative to its docs entry."""

    file: str
    blocks: list[CodeBlock] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    prose: list[Prose] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)

    def section_prose(self, section: str) -> list[Prose]:
        return [p for p in self.prose if p.section == section]

    def section_tables(self, section: str) -> list[Table]:
        return [t for t in self.tables if t.section == section]


def read_page(file: str, text: str, sink: Sink) -> Page:
    """The page ``file`` whose text is ``text``; its defects go to ``sink``, never raised."""
    page = Page(file)
    section = ""
    pending: Annotation | None = None
    # Front matter blanked, keeping the line numbers: its closing "---" would underline a heading.
    text = _FRONT_MATTER.sub(lambda m: "\n" * m[0].count("\n"), text)
    tokens = _MARKDOWN.parse(text)
    for k, token in enumerate(tokens):
        if token.map is None:
            continue  # a closing token, or a table cell's opening
        line = token.map[0] + 1
        if token.type == "fence":
            lines = token.content.split("\n")
            if lines[-1] == "":
                lines.pop()  # the break ending the last line (absent at the page end)
            content = [(line + 1 + n, words) for n, words in enumerate(lines)]
            if token.map[1] - token.map[0] < len(lines) + 2:  # no closing fence line
                sink.warn(file, line, "code block is never closed; read to the page end")
            page.blocks.append(CodeBlock(line, content, section, pending))
            pending = None
        elif token.type == "html_block" and token.content.lstrip().startswith("<!--"):
            body = token.content.split("<!--", 1)[1]
            if "-->" not in body:
                sink.warn(file, line, "HTML comment is never closed")
            body = body.split("-->", 1)[0]
            if body.strip().startswith("{"):
                annotation = _annotation(file, body, line, sink)
                after = next((t for t in tokens[k + 1 :] if t.map is not None), None)
                if after is not None and after.type == "fence":
                    pending = annotation
                elif annotation.block_type in _EXPECTS_BLOCK:
                    sink.warn(file, line, "annotation is not followed by a code block")
        elif token.type == "table_open":
            page.tables.append(Table(section, line))
        elif token.type == "tr_open" and tokens[k - 1].type != "thead_open":
            page.tables[-1].rows.append((line, []))
        elif token.type == "inline" and tokens[k - 1].type in ("th_open", "td_open"):
            table = page.tables[-1]
            (table.rows[-1][1] if table.rows else table.header).append(token.content)
            page.links.extend(_links(token, line, section))
        elif token.type == "inline":
            if tokens[k - 1].tag == "h2":
                section = token.content.strip().lower()
            for n, words in enumerate(token.content.split("\n")):
                page.prose.append(Prose(line + n, section, words.strip()))
            page.links.extend(_links(token, line, section))
    return page


def _annotation(file: str, body: str, line: int, sink: Sink) -> Annotation:
    try:
        # strict=False: the docs' tooling accepts line breaks inside annotation strings.
        return Annotation(json.loads(body, strict=False), line)
    except json.JSONDecodeError as exc:
        sink.warn(file, line + exc.lineno - 1, f"annotation is not valid JSON ({exc.msg})")
        return Annotation({}, line)


def _links(inline: Token, line: int, section: str) -> Iterator[Link]:
    """The links of ``inline``, whose first line is ``line``; a DocFX directive's is no link."""
    children = inline.children or []
    for k, child in enumerate(children):
        if child.type in ("softbreak", "hardbreak"):
            line += 1
        line += child.content.count("\n")  # an inline HTML tag may span lines
        before = children[k - 1] if k else None
        if child.type != "link_open" or (
            before is not None and before.type == "text" and _DIRECTIVE.search(before.content)
        ):
            continue
        text = []
        for part in children[k + 1 :]:
            if part.type == "link_close":
                break
            if part.type in ("text", "code_inline"):
                text.append(part.content)
        yield Link(line, section, unquote(str(child.attrGet("href") or "")), "".join(text))


def check_links(page: Page, page_names: frozenset[str], sink: Sink) -> None:
    """Warn once per relative link whose target names no page of the build (by file name: the
    copies in docs/graph/pages are partial, and link into each other)."""
    seen: set[str] = set()
    for link in page.links:
        target = link.href.split("#", 1)[0].split("?", 1)[0]
        if _ABSOLUTE.match(link.href) or not target or link.href in seen:
            continue
        if posixpath.basename(target) not in page_names:
            seen.add(link.href)
            message = f"relative link '{link.href}' resolves to no page among the docs"
            sink.warn(page.file, link.line, message)
