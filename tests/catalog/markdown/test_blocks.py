"""Recovering a document's structure: headings, bullets, tables, paragraphs."""

from __future__ import annotations

from mitigate.catalog.markdown.blocks import (
    Bullet,
    Heading,
    Paragraph,
    Table,
    parse_blocks,
    split_cells,
)


def kinds(text: str) -> list[tuple[str, int, str]]:
    return [(type(b).__name__, b.line, str(b)) for b in parse_blocks(text)]


def test_numbered_lines_are_headings_only_when_they_continue_the_numbering() -> None:
    doc = (
        "1. Intro\n1.1 Queue full\n- Detection: depth > 10\n409 Conflict is returned.\n2. Retries\n"
    )
    assert kinds(doc) == [
        ("Heading", 1, "1 Intro"),
        ("Heading", 2, "1.1 Queue full"),
        ("Bullet", 3, "Detection: depth > 10 409 Conflict is returned."),
        ("Heading", 5, "2 Retries"),
    ]


def test_a_lost_heading_leaves_a_gap_that_is_still_accepted() -> None:
    blocks = parse_blocks("1.1 A\n1.2 B\n1.4 D\n7.1 not a heading\n")
    headings = [b.number for b in blocks if isinstance(b, Heading)]
    assert headings == ["1.1", "1.2", "1.4"]


def test_ordered_lists_next_to_markdown_headings_stay_lists() -> None:
    blocks = parse_blocks("## Principles\n1. Fail closed\n2. Degrade reads\n2.1 Sub heading\n")
    assert [type(b).__name__ for b in blocks] == ["Heading", "Bullet", "Bullet", "Heading"]
    assert all(b.ordered for b in blocks if isinstance(b, Bullet))


def test_continuation_lines_join_their_bullet_and_blank_lines_end_it() -> None:
    blocks = parse_blocks("- Runbook:\nrunbooks/a.md\n\nA paragraph.\n")
    assert isinstance(blocks[0], Bullet) and blocks[0].text == "Runbook: runbooks/a.md"
    assert blocks[0].lines == (1, 2)
    assert isinstance(blocks[1], Paragraph) and blocks[1].line == 4


def test_indentation_is_kept_for_sub_bullets() -> None:
    blocks = parse_blocks("- Contain:\n  - step one\n  - step two\n")
    assert [b.indent for b in blocks if isinstance(b, Bullet)] == [0, 2, 2]


def test_short_or_aligned_separator_rows_are_dropped() -> None:
    for separator in ("|---|", "| :--- | ---: |", "|-|-|-|-|-|", "|---"):
        table = parse_blocks(f"| A | B |\n{separator}\n| 1 | 2 |\n")[0]
        assert isinstance(table, Table)
        assert table.header == ("A", "B") and [r.cells for r in table.rows] == [("1", "2")]


def test_a_table_without_separator_still_has_a_header() -> None:
    table = parse_blocks("| Op | Max |\n| write | 3 |\n")[0]
    assert isinstance(table, Table) and table.rows[0].line == 2


def test_cells_keep_escaped_pipes_for_the_reader() -> None:
    assert split_cells("| a \\| b | c\\\\ |") == ("a \\| b", "c\\\\")
    assert split_cells("no | outer | pipes") == ("no", "outer", "pipes")


def test_setext_headings_fences_and_comments() -> None:
    doc = "Title\n=====\n<!-- hidden -->\n```\n- not a bullet\n```\n---\n- item\n"
    blocks = parse_blocks(doc)
    assert isinstance(blocks[0], Heading) and blocks[0].title == "Title" and blocks[0].level == 1
    assert isinstance(blocks[1], Paragraph) and blocks[1].text == "- not a bullet"
    assert isinstance(blocks[-1], Bullet) and blocks[-1].text == "item"
    assert len(blocks) == 3  # the thematic break and the comment are dropped


def test_bullet_that_looks_like_a_separator_is_still_a_bullet() -> None:
    blocks = parse_blocks("- Verify:\n  - :\n  - -\n")
    assert [b.text for b in blocks if isinstance(b, Bullet)] == ["Verify:", ":", "-"]
