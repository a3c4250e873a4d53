"""One doc page read with markdown-it-py: sections, tables, prose, links and annotated code blocks.

Graph doc pages are CommonMark with GFM tables, plus three conventions of the docs' tooling
read here: YAML front matter (skipped), an HTML comment holding a JSON object right before a
fenced code block (its annotation: ``blockType``, ``name``, ``@odata.type``...), and DocFX
directives such as ``[!INCLUDE [name](path)]`` (not links). A page's ``section`` is the text of
the level-2 heading above, in lower case ("permissions", "request body"...). Lines are 1-based
numbers of the page as a text editor counts them. Defects become warnings, never exceptions.
"""

from __future__ import annotations

import functools
import json
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from markdown_it import MarkdownIt
from markdown_it.token import Token

from mockgraph.build.defects import Sink

Json = dict[str, Any]

#: Annotations that describe the code block after them; others ("permissions", page
#: annotations) stand alone.
_EXPECTS_BLOCK = frozenset({"request", "response", "ignored", "resource"})
_DIRECTIVE = re.compile(r"\[!(?:INCLUDE|VIDEO)\s*$")
_NEWLINE = re.compile(r"\r\n?|\n")  # what markdown-it counts as a line break
_ABSOLUTE = re.compile(r"^([a-z][a-z0-9+.-]*:|/|#)", re.IGNORECASE)


@dataclass(frozen=True)
class Annotation:
    """The JSON object of an HTML comment; ``valid`` is false when it did not parse (warned)."""

    data: Json
    line: int
    valid: bool

    @property
    def block_type(self) -> str:
        value = self.data.get("blockType")
        return value.lower() if isinstance(value, str) else ""


@dataclass(frozen=True)
class CodeBlock:
    """A fenced code block: the line of its opening fence and its content lines."""

    line: int
    content: list[tuple[int, str]]
    section: str
    annotation: Annotation | None


@dataclass(frozen=True)
class Table:
    """A GFM table: its header cells and its body rows (line, cells), cells as written."""

    section: str
    line: int
    header: list[str]
    rows: list[tuple[int, list[str]]]


@dataclass(frozen=True)
class Prose:
    """A heading's text or one line of a paragraph, as written (inline markup kept)."""

    line: int
    section: str
    text: str


@dataclass(frozen=True)
class Link:
    """A link of a heading, paragraph or table cell (reference links resolved): its target,
    percent-escapes decoded, and its text without markup."""

    line: int
    section: str
    href: str
    text: str


@dataclass
class Page:
    """What one page holds, in page order."""

    file: str  # source path: relative to its docs entry, "/" separators
    root_files: frozenset[str]  # every file below the docs entry, same spelling as ``file``
    blocks: list[CodeBlock] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    prose: list[Prose] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)

    def section_prose(self, section: str) -> list[Prose]:
        return [p for p in self.prose if p.section == section]

    def section_tables(self, section: str) -> list[Table]:
        return [t for t in self.tables if t.section == section]

    def section_links(self, section: str) -> list[Link]:
        return [k for k in self.links if k.section == section]


@functools.cache
def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark").enable("table")


def read_page(file: str, root_files: frozenset[str], text: str, sink: Sink) -> Page:
    """The page ``file`` whose text is ``text``; its defects go to ``sink``."""
    tokens = iter(_parser().parse(_without_front_matter(text)))
    reader = _Reader(Page(file, root_files), sink, tokens)
    for token in tokens:
        reader.take(token)
    reader.drop_pending()
    return reader.page


def _without_front_matter(text: str) -> str:
    """``text`` with its YAML front matter blanked (CommonMark would read its closing ``---``
    as a heading underline); the lines keep their numbers."""
    lines = _NEWLINE.split(text)
    if lines[0].strip() != "---":
        return text
    end = next((k for k in range(1, len(lines)) if lines[k].strip() == "---"), None)
    if end is None:
        return text
    return "\n" * (end + 1) + "\n".join(lines[end + 1 :])


class _Reader:
    """Walks a page's block tokens in order, pairing each annotation with the code block
    right after it (only blank lines between)."""

    def __init__(self, page: Page, sink: Sink, tokens: Iterator[Token]) -> None:
        self.page = page
        self.sink = sink
        self.tokens = tokens  # shared with the caller's loop: a block reads its own tokens
        self.section = ""
        self.pending: Annotation | None = None

    def take(self, token: Token) -> None:
        """Read one block token: an opening or a leaf; a block reads the tokens inside it."""
        if token.map is None:
            return  # a closing token
        line, end = token.map[0] + 1, token.map[1]
        if token.type == "fence":
            self._fence(token, line, end)
        elif token.type == "html_block" and token.content.lstrip().startswith("<!--"):
            self.drop_pending()
            self._comment(token.content, line)
        else:
            self.drop_pending()
            if token.type in ("heading_open", "paragraph_open"):
                self._text(token, line)
            elif token.type == "table_open":
                self._table(token, line)

    def drop_pending(self) -> None:
        pending, self.pending = self.pending, None
        if pending is not None and pending.valid and pending.block_type in _EXPECTS_BLOCK:
            self.sink.warn(
                self.page.file, pending.line, "annotation is not followed by a code block"
            )

    def _fence(self, token: Token, line: int, end: int) -> None:
        content_lines = token.content.split("\n")
        if content_lines[-1] == "":  # the break ending the last line (absent at the page end)
            content_lines.pop()
        # A closed fence spans its opening line, its content and its closing line.
        if end - (line - 1) - len(content_lines) < 2:
            self.sink.warn(self.page.file, line, "code block is never closed; read to the page end")
        content = [(line + 1 + k, text) for k, text in enumerate(content_lines)]
        self.page.blocks.append(CodeBlock(line, content, self.section, self.pending))
        self.pending = None

    def _comment(self, content: str, line: int) -> None:
        body = content[content.index("<!--") + 4 :]
        if "-->" in body:
            body = body[: body.index("-->")]
        else:
            self.sink.warn(self.page.file, line, "HTML comment is never closed")
        if body.strip().startswith(("{", "[")):
            self.pending = self._annotation(body, line)

    def _annotation(self, body: str, line: int) -> Annotation:
        try:
            # strict=False: the docs' own tooling accepts line breaks inside annotation strings
            # (concepts/errors.md has one in its "suppressions").
            data = json.loads(body, strict=False)
        except json.JSONDecodeError as exc:
            message = f"annotation is not valid JSON ({exc.msg})"
            self.sink.warn(self.page.file, line + exc.lineno - 1, message)
            return Annotation({}, line, valid=False)
        if not isinstance(data, dict):
            self.sink.warn(self.page.file, line, "annotation is not a JSON object")
            return Annotation({}, line, valid=False)
        return Annotation(data, line, valid=True)

    def _text(self, opening: Token, line: int) -> None:
        inline = next(self.tokens)
        if opening.type == "heading_open" and opening.tag == "h2":
            self.section = inline.content.strip().lower()
        for k, text in enumerate(inline.content.split("\n")):
            self.page.prose.append(Prose(line + k, self.section, text.strip()))
        self.page.links.extend(_links(inline, line, self.section))

    def _table(self, opening: Token, line: int) -> None:
        header: list[str] = []
        rows: list[tuple[int, list[str]]] = []
        cells: list[str] = []
        row_line = line
        for token in self._until(opening):
            if token.type == "tr_open" and token.map is not None:
                row_line, cells = token.map[0] + 1, []
            elif token.type == "inline":
                cells.append(token.content)
                self.page.links.extend(_links(token, row_line, self.section))
            elif token.type == "tr_close":
                if row_line == line:  # the header row is the table's first line
                    header = cells
                else:
                    rows.append((row_line, cells))
        self.page.tables.append(Table(self.section, line, header, rows))

    def _until(self, opening: Token) -> Iterator[Token]:
        closing = opening.type.replace("_open", "_close")
        for token in self.tokens:
            if token.type == closing and token.level == opening.level:
                return
            yield token


def _links(inline: Token, line: int, section: str) -> Iterator[Link]:
    """The links of ``inline``, whose first line is ``line``; a DocFX directive's is no link."""
    children = inline.children or []
    for k, child in enumerate(children):
        if child.type in ("softbreak", "hardbreak"):
            line += 1
        elif child.type in ("text", "html_inline"):
            line += child.content.count("\n")
        elif child.type == "link_open":
            before = children[k - 1] if k else None
            if before is not None and before.type == "text" and _DIRECTIVE.search(before.content):
                continue
            href = unquote(str(child.attrGet("href") or ""))
            yield Link(line, section, href, _link_text(children[k + 1 :]))


def _link_text(tokens: list[Token]) -> str:
    parts: list[str] = []
    for token in tokens:
        if token.type == "link_close":
            break
        if token.type in ("text", "code_inline"):
            parts.append(token.content)
    return "".join(parts)


def check_links(page: Page, page_names: frozenset[str], sink: Sink) -> None:
    """Warn once per relative link that resolves to no file below the page's docs entry and
    names no page of the build (the copies in docs/graph/pages are partial, so a link into
    the other repository's copy counts as resolved)."""
    seen: set[str] = set()
    base = posixpath.dirname(page.file)
    for link in page.links:
        href = link.href
        if _ABSOLUTE.match(href) or href in seen:
            continue
        target = href.split("#", 1)[0].split("?", 1)[0]
        if not target:
            continue
        resolved = posixpath.normpath(posixpath.join(base, target))
        if resolved in page.root_files or posixpath.basename(target) in page_names:
            continue
        seen.add(href)
        sink.warn(
            page.file, link.line, f"relative link '{href}' resolves to no page among the docs"
        )
