"""Read a markdown-ish document into neutral blocks: headings, bullets, tables, paragraphs.

Failure-mode documents are rarely clean markdown. Exports from wikis lose indentation
and blank lines, break bullets in the middle of a sentence, drop the ``#`` from numbered
headings and write table separator rows shorter than the header. This module knows
nothing about failure modes: it only recovers the document's structure, with the line
number of every piece, so later stages can map what they understand and report the rest.

>>> doc = '''1. Scenarios
... 1.1 Disk full
... - Cause: logs not rotated,
... the disk fills up.
... | Op | Max |
... |---|
... | write | 3 |'''
>>> for block in parse_blocks(doc):
...     print(type(block).__name__, block.line, block)
Heading 1 1 Scenarios
Heading 2 1.1 Disk full
Bullet 3 Cause: logs not rotated, the disk fills up.
Table 5 Op | Max (1 row)

.. versionadded:: 0.1
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = [
    "Block",
    "Bullet",
    "Heading",
    "Paragraph",
    "Row",
    "Table",
    "parse_blocks",
    "parse_number",
    "split_cells",
]


@dataclass(frozen=True, slots=True)
class Heading:
    """A section title; ``number`` is ``"2.1"`` for "2.1 Title" or "## 2.1. Title"."""

    line: int
    number: str | None
    title: str
    level: int
    markdown: bool = False

    def __str__(self) -> str:
        return f"{self.number} {self.title}" if self.number else self.title

    @property
    def depth(self) -> int:
        """How deep the section sits: its number's parts, else its ``#`` count."""
        return len(self.number.split(".")) if self.number else self.level


@dataclass(frozen=True, slots=True)
class Bullet:
    """One list item, continuation lines joined; ``indent`` counts leading spaces."""

    line: int
    text: str
    indent: int = 0
    ordered: bool = False
    lines: tuple[int, ...] = ()

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class Row:
    """A table row: its cells (stripped, ``\\|`` unescaped) and its line."""

    line: int
    cells: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Table:
    """A pipe table: the header cells and the data rows (separator rows dropped)."""

    line: int
    header: tuple[str, ...]
    rows: tuple[Row, ...] = field(default_factory=tuple)

    def __str__(self) -> str:
        return f"{' | '.join(self.header)} ({len(self.rows)} row{'s' * (len(self.rows) != 1)})"


@dataclass(frozen=True, slots=True)
class Paragraph:
    """Text that is neither a heading, a bullet nor a table."""

    line: int
    text: str
    lines: tuple[int, ...] = ()

    def __str__(self) -> str:
        return self.text


Block = Heading | Bullet | Table | Paragraph

_MD_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
# "2.1 Title", "2.1. Title", "2. Title" (a lone number needs its dot: "409 Conflict" is not one)
_NUMBERED = re.compile(r"^(?P<num>\d{1,3}(?:\.\d{1,3})+|\d{1,3}(?=\.))\.?\s+(?P<title>\S.*)$")
_BULLET = re.compile(r"^(?P<indent>\s*)(?P<mark>[-*+•]|\d{1,3}[.)])\s+(?P<text>.*)$")
_SEPARATOR = re.compile(r"^\|?[\s:|-]*-[\s:|-]*$")
_THEMATIC_BREAK = re.compile(r"^(?:-\s*){3,}$|^(?:\*\s*){3,}$|^(?:_\s*){3,}$")
_BOLD_LINE = re.compile(r"^(?:\*\*|__)(?P<title>[^*_][^*]{0,118}?)(?:\*\*|__):?$")
BOLD_HEADING_LEVEL = 7
_SETEXT = re.compile(r"^(=+|-+)\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_COMMENT = re.compile(r"^\s*<!--.*-->\s*$")


def parse_number(text: str) -> tuple[str | None, str]:
    """Split a leading section number from a title.

    >>> parse_number("2.1. Worker (`worker-api`)")
    ('2.1', 'Worker (`worker-api`)')
    >>> parse_number("Guiding principles")
    (None, 'Guiding principles')
    """
    match = _NUMBERED.match(text.strip())
    if match is None:
        return None, text.strip()
    return match["num"], match["title"].strip()


def split_cells(line: str) -> tuple[str, ...]:
    r"""Split one pipe-table line into stripped cells, escapes (``\|``, ``\\``) kept.

    >>> split_cells("| a | b \\| c |  |")
    ('a', 'b \\| c', '')
    """
    cells: list[str] = []
    current: list[str] = []
    body = line.strip()
    index = 0
    while index < len(body):
        char = body[index]
        if char == "\\" and body[index + 1 : index + 2] in ("\\", "|"):
            current.append(body[index : index + 2])
            index += 2
            continue
        if char == "|":
            cells.append("".join(current))
            current = []
        else:
            current.append(char)
        index += 1
    cells.append("".join(current))
    if body.startswith("|"):
        cells = cells[1:]
    if len(cells) > 1 and body.endswith("|") and not cells[-1].strip():
        cells = cells[:-1]
    return tuple(cell.strip() for cell in cells)


def _fits_sequence(number: tuple[int, ...], last: tuple[int, ...] | None) -> bool:
    """Whether a plain "N.M Title" line plausibly continues the document's numbering.

    Numbers may skip a little (a lost heading leaves a gap) but not jump: "409 Conflict"
    in the middle of section 2.5 is text, not section 409.
    """
    if last is None:
        return number[0] <= 3 and all(part <= 1 for part in number[1:])
    if number[: len(last)] == last and len(number) == len(last) + 1:
        return 1 <= number[-1] <= 3  # first child, maybe after a lost heading
    for k in range(min(len(number), len(last))):
        if number[:k] != last[:k]:
            return False
        if last[k] < number[k] <= last[k] + 3:
            return all(part <= 1 for part in number[k + 1 :])
    return False


def _plain_heading(text: str, last: tuple[int, ...] | None) -> tuple[str, str] | None:
    match = _NUMBERED.match(text)
    if match is None:
        return None
    title = match["title"].strip()
    number = tuple(int(part) for part in match["num"].split("."))
    if title.endswith((".", ";", ",")) or len(title) > 120 or title.startswith(("-", "|")):
        return None
    if not _fits_sequence(number, last):
        return None
    return match["num"], title


@dataclass(slots=True)
class _Open:
    """The bullet or paragraph still collecting continuation lines."""

    kind: str
    line: int
    indent: int
    ordered: bool
    parts: list[str]
    lines: list[int]

    def close(self) -> Block:
        text = " ".join(part for part in self.parts if part)
        if self.kind == "bullet":
            return Bullet(self.line, text, self.indent, self.ordered, tuple(self.lines))
        bold = _BOLD_LINE.match(text) if len(self.lines) == 1 else None
        if bold is not None:
            # "**Database outage**" alone on a line titles what follows, one level below
            # the last real heading (level 7 nests under any "#" heading)
            number, title = parse_number(bold["title"])
            return Heading(self.line, number, title, BOLD_HEADING_LEVEL, markdown=True)
        return Paragraph(self.line, text, tuple(self.lines))


def _joins_paragraph(previous: str, line: str) -> bool:
    """A wrapped paragraph line continues the last one unless the last one looked finished."""
    if not previous or previous.endswith((".", ":", "!", "?")):
        return False
    return line[:1].islower() or previous.endswith((",", "-", "(", "/"))


def parse_blocks(text: str) -> list[Block]:
    """Split ``text`` into blocks, each with its 1-based line number.

    Numbered plain lines are headings when they continue the document's numbering;
    next to ``#`` headings only multi-level numbers ("2.1 Title") count, since "2. Item"
    is then an ordered list.

    >>> [str(b) for b in parse_blocks("## 2. Breakers\\n| Target | Trip |\\n| kms | 5 / 30s |")]
    ['2 Breakers', 'Target | Trip (1 row)']
    """
    lines = text.splitlines()
    has_md_headings = any(_MD_HEADING.match(line) for line in lines)
    blocks: list[Block] = []
    current: _Open | None = None
    table: list[tuple[int, str]] = []
    last_number: tuple[int, ...] | None = None
    in_fence = False
    in_comment = False

    def flush() -> None:
        nonlocal current
        if current is not None:
            blocks.append(current.close())
            current = None
        if table:
            blocks.append(_make_table(table))
            table.clear()

    for index, raw in enumerate(lines):
        number = index + 1
        line = raw.rstrip()
        stripped = line.strip()
        if _FENCE.match(line):
            flush()
            in_fence = not in_fence
            continue
        if in_fence:
            blocks.append(Paragraph(number, stripped, (number,)))
            continue
        if in_comment:
            # an HTML comment is invisible in the rendered document: nothing to map
            in_comment = "-->" not in stripped
            continue
        if stripped.startswith("<!--") and "-->" not in stripped:
            flush()
            in_comment = True
            continue
        if not stripped or _COMMENT.match(line):
            flush()
            continue
        if stripped.startswith("|"):
            if current is not None:
                blocks.append(current.close())
                current = None
            table.append((number, stripped))
            continue
        if table:
            flush()
        heading = _heading(stripped, has_md_headings, last_number, number)
        if heading is not None:
            flush()
            blocks.append(heading)
            if heading.number:
                last_number = tuple(int(p) for p in heading.number.split("."))
            continue
        if (
            _SETEXT.match(stripped)
            and current is not None
            and current.kind == "para"
            and len(current.lines) == 1  # "Title\n=====" is a heading
        ):
            level = 1 if stripped[0] == "=" else 2
            num, title = parse_number(current.parts[0])
            blocks.append(Heading(current.line, num, title, level, markdown=True))
            current = None
            continue
        if _THEMATIC_BREAK.match(stripped):
            flush()  # a horizontal rule separates, it says nothing
            continue
        bullet = _BULLET.match(line)
        if bullet is not None:
            flush()
            mark = bullet["mark"]
            current = _Open(
                "bullet",
                number,
                len(bullet["indent"].expandtabs(4)),
                mark[0].isdigit(),
                [bullet["text"].strip()],
                [number],
            )
            continue
        if current is not None and (
            current.kind == "bullet" or _joins_paragraph(current.parts[-1], stripped)
        ):
            current.parts.append(stripped)
            current.lines.append(number)
            continue
        flush()
        current = _Open("para", number, 0, False, [stripped], [number])
    flush()
    return blocks


def _heading(
    stripped: str, has_md_headings: bool, last: tuple[int, ...] | None, number: int
) -> Heading | None:
    md = _MD_HEADING.match(stripped)
    if md is not None:
        num, title = parse_number(md[2])
        return Heading(number, num, title, len(md[1]), markdown=True)
    plain = _plain_heading(stripped, last)
    if plain is None or (has_md_headings and "." not in plain[0]):
        return None  # next to "#" headings, "2. Foo" is an ordered list; "2.1 Foo" is not
    num, title = plain
    return Heading(number, num, title, len(num.split(".")))


def _make_table(rows: list[tuple[int, str]]) -> Table:
    first_line, header_text = rows[0]
    header = split_cells(header_text)
    body: list[Row] = []
    for number, text in rows[1:]:
        if _SEPARATOR.match(text):
            continue  # "|---|" of any width, "| :--- | ---: |"
        body.append(Row(number, split_cells(text)))
    return Table(first_line, header, tuple(body))
