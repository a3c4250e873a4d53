"""Tests of mockgraph.build.pages: what markdown-it-py reads of one doc page, and its defects."""

from __future__ import annotations

from mockgraph.build.pages import DocWarning, Page, Sink, read_page

REQUEST = '<!-- { "blockType": "request", "name": "one" } -->'


def read(text: str) -> tuple[Page, list[DocWarning]]:
    sink = Sink()
    page = read_page("api/page.md", text, sink)
    return page, sink


def test_front_matter_is_skipped_and_lines_keep_their_numbers() -> None:
    page, _ = read("---\ntitle: x\n---\n\n## Permissions\n")
    assert [(p.line, p.section, p.text) for p in page.prose] == [(5, "permissions", "Permissions")]


def test_annotation_names_the_code_block_after_blank_lines() -> None:
    page, warnings = read(f"{REQUEST}\n\n```http\nGET /x\n\n{{}}\n```\n")
    [block] = page.blocks
    assert block.annotation is not None and block.annotation.data["name"] == "one"
    assert (block.line, block.content) == (3, [(4, "GET /x"), (5, ""), (6, "{}")])
    assert warnings == []


def test_annotated_block_inside_a_list_item_is_read_without_its_indent() -> None:
    page, _ = read(f"1. Send it:\n\n   {REQUEST}\n   ```http\n   GET /x\n   ```\n")
    [block] = page.blocks
    assert block.annotation is not None and block.annotation.line == 3
    assert block.content == [(5, "GET /x")]


def test_text_between_annotation_and_block_detaches_it_with_a_warning() -> None:
    page, warnings = read(f"{REQUEST}\nSome words.\n\n```http\nGET /x\n```\n")
    assert page.blocks[0].annotation is None
    assert warnings == [DocWarning("api/page.md", 1, "annotation is not followed by a code block")]


def test_code_block_content_is_not_read_as_headings_tables_or_comments() -> None:
    page, _ = read(
        "## Request body\n\n```text\n## Response\n| a | b |\n|---|---|\n<!-- x -->\n```\n"
    )
    assert page.tables == []
    assert {p.section for p in page.prose} == {"request body"}
    assert len(page.blocks[0].content) == 4


def test_setext_heading_starts_a_section() -> None:
    page, _ = read("Permissions\n-----------\n\n| Permission type | Permissions |\n|---|---|\n")
    [table] = page.tables
    assert table.section == "permissions"


def test_table_cells_are_kept_as_written_with_their_row_lines() -> None:
    text = (
        "## Properties\n\n"
        "Property | Type | Description\n"
        "--- | --- | ---\n"
        "kid | [Key](key.md) collection | One \\| two, `code` |\n"
        "**use** | String\n"
    )
    page, _ = read(text)
    [table] = page.tables
    assert (table.section, table.line, table.header) == (
        "properties",
        3,
        ["Property", "Type", "Description"],
    )
    assert table.rows == [
        (5, ["kid", "[Key](key.md) collection", "One | two, `code`"]),
        (6, ["**use**", "String", ""]),
    ]
    assert [(k.line, k.href, k.text) for k in page.links] == [(5, "key.md", "Key")]


def test_links_carry_their_line_and_text_without_markup() -> None:
    text = (
        "## Request body\n\n"
        "First line,\n"
        "then a [**trustFrameworkKeySet**](../r/keyset.md) and\n"
        "[a ref][r].\n\n"
        "[r]: ../r/other%20page.md\n"
    )
    page, _ = read(text)
    assert [(k.line, k.section, k.href, k.text) for k in page.links] == [
        (4, "request body", "../r/keyset.md", "trustFrameworkKeySet"),
        (5, "request body", "../r/other page.md", "a ref"),
    ]


def test_docfx_include_is_prose_but_no_link() -> None:
    page, _ = read("## Permissions\n\n[!INCLUDE [table](../includes/permissions.md)]\n")
    assert page.links == []
    assert [p.text for p in page.section_prose("permissions")][-1].startswith("[!INCLUDE")


def test_unclosed_code_block_is_read_to_the_page_end_with_a_warning() -> None:
    page, warnings = read(f"{REQUEST}\n```http\nPOST /x")
    assert page.blocks[0].content == [(3, "POST /x")]
    assert warnings == [
        DocWarning("api/page.md", 2, "code block is never closed; read to the page end")
    ]


def test_unclosed_comment_and_invalid_annotation_are_warned_at_their_lines() -> None:
    _, warnings = read('<!-- {\n  "blockType": "request",\n  oops\n} -->\n\n<!-- { "a": 1')
    assert [(w.line, w.message.split(" (")[0]) for w in warnings] == [
        (3, "annotation is not valid JSON"),
        (6, "HTML comment is never closed"),
        (6, "annotation is not valid JSON"),
    ]
