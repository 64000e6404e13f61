"""Group blocks into a tree of sections and say what a section is about from its title.

A title names its topic in many ways ("Retry / Backoff", "Retries", "Back-off policy",
"Circuit Breakers", "Chaos Experiments", "Game days"); :func:`title_kind` looks for the
topic's words, so a new document's headings are understood without a rule for it.
What a section holds (a table's columns, labelled bullets) can still overrule its title.

>>> from mitigate.catalog.markdown.blocks import parse_blocks
>>> root = build_sections(parse_blocks("1. Scenarios\\n1.1 Disk full\\n- Cause: x\\n2. Retries\\n"))
>>> [(s.number, s.title, s.depth) for s in root.walk()][1:]
[('1', 'Scenarios', 1), ('1.1', 'Disk full', 2), ('2', 'Retries', 1)]
>>> title_kind("Retry / Backoff"), title_kind("Circuit Breakers"), title_kind("Game days")
('retry', 'breaker', 'chaos')

.. versionadded:: 0.1
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from mitigate.catalog.markdown.blocks import Block, Heading

__all__ = ["Section", "build_sections", "title_kind"]


@dataclass(slots=True, eq=False)
class Section:
    """A heading, the blocks directly under it, and its subsections."""

    heading: Heading | None
    depth: int
    blocks: list[Block] = field(default_factory=list)
    children: list[Section] = field(default_factory=list)
    parent: Section | None = None

    @property
    def title(self) -> str:
        return self.heading.title if self.heading is not None else ""

    @property
    def number(self) -> str | None:
        return self.heading.number if self.heading is not None else None

    @property
    def line(self) -> int:
        return self.heading.line if self.heading is not None else 0

    def walk(self) -> Iterator[Section]:
        """This section and every subsection, in document order."""
        yield self
        for child in self.children:
            yield from child.walk()


def _depth(heading: Heading) -> int:
    return heading.level if heading.markdown else heading.depth


def build_sections(blocks: list[Block]) -> Section:
    """The root section (depth 0, no heading) holding the whole document."""
    root = Section(None, 0)
    current = root
    for block in blocks:
        if isinstance(block, Heading):
            depth = _depth(block)
            while current.parent is not None and current.depth >= depth:
                current = current.parent
            section = Section(block, depth, parent=current)
            current.children.append(section)
            current = section
        else:
            current.blocks.append(block)
    return root


# Topic words, checked in this order: "Error budget" is about an SLO, not a retry budget,
# and "Chaos experiments on breakers" is about chaos.
_KINDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("budget", re.compile(r"error[- ]budget|\bslo\b|\bslos\b|burn rate", re.I)),
    (
        "principles",
        re.compile(r"principle|tenet|guideline|philosoph|cross[- ]cutting|ground rule", re.I),
    ),
    ("runbooks", re.compile(r"runbook|playbook", re.I)),
    ("rules", re.compile(r"detection rule|alert(?:ing)? rule|\balerts?\b$", re.I)),
    (
        "chaos",
        re.compile(r"chaos|experiment|game ?day|fault injection|drill|resilience test", re.I),
    ),
    ("breaker", re.compile(r"breaker|circuit", re.I)),
    ("retry", re.compile(r"\bretr(?:y|ies)\b|back-?\s?off", re.I)),
    ("fallback", re.compile(r"fall[- ]?backs?|degraded mode|graceful degradation", re.I)),
    ("timeouts", re.compile(r"\btime-?outs?\b|deadlines?", re.I)),
    ("bulkheads", re.compile(r"bulkhead|concurrency limit", re.I)),
    ("rate_limits", re.compile(r"rate[- ]limit|throttl", re.I)),
    ("policies", re.compile(r"^(?:resilience\s+)?polic(?:y|ies)$", re.I)),
)


def title_kind(title: str) -> str | None:
    """What a section title announces: a policy table, chaos, principles, ... or nothing.

    >>> title_kind("Cross-cutting principles"), title_kind("Error budget policy")
    ('principles', 'budget')
    >>> title_kind("Failure-mode catalogue") is None
    True
    """
    for kind, pattern in _KINDS:
        if pattern.search(title):
            return kind
    return None
