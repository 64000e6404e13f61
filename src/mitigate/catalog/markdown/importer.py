"""Draft a catalog from a FAILURE_MODES document, and say what could not be mapped.

The document is read in three steps: :mod:`.blocks` recovers its structure,
:mod:`.sections` groups it under headings, and each section is mapped by what it holds
(failure-field bullets, a row-per-failure table, a retry or breaker table) and by what
its title announces. Ids are derived from the document's own numbers
(``<service>.fm.<section number>``, ``<service>.retry.<row>``), so re-importing an edited
document keeps them stable. Anything left over is reported with its line number.

A document rendered by :func:`~mitigate.catalog.markdown.render.render_markdown` starts
with :data:`~mitigate.catalog.markdown.layout.MARKER`; it is read field by field
(:mod:`.canonical`) so that import(render(catalog)) == catalog.

>>> result = import_markdown('''# Payments
... ## 1. Failure modes
... ### 1.1 Card network down
... - Trigger: the card network times out.
... - Detection: error rate > 20% over 5 min
... - Mitigation: retry, then queue the capture.
... - Runbook: runbooks/card-network.md
... ## 2. Retries
... | Call | Max | Backoff | Budget |
... |---|
... | Card capture | 3 | 100ms, 400ms, 1s | 3s |
... ''', service="payments")
>>> fm = result.catalog.failure_modes[0]
>>> fm.id, fm.title, fm.runbook, fm.detection_rules
('payments.fm.1.1', 'Card network down', 'runbooks/card-network.md', ['payments.rule.1.1'])
>>> result.catalog.policies["card.capture"].retry.backoff
'100ms, 400ms, 1s'
>>> result.unmapped
[]

.. versionadded:: 0.1
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from pydantic import BaseModel, ValidationError

from mitigate.catalog.markdown import extras, policies
from mitigate.catalog.markdown.blocks import Block, Bullet, Paragraph, Table, parse_blocks
from mitigate.catalog.markdown.experiments import experiment_fields
from mitigate.catalog.markdown.failures import (
    STRONG_FIELDS,
    FailureDraft,
    draft_from_row,
    drafts_from_bullets,
    failure_dict,
    is_failure_table,
    raw_label,
)
from mitigate.catalog.markdown.fields import (
    POLICY_FIELDS,
    match_labels,
    split_inline_run,
    split_label,
)
from mitigate.catalog.markdown.layout import MARKER, unescape
from mitigate.catalog.markdown.prose import ASSUMED_BACKOFF, retry_from_prose
from mitigate.catalog.markdown.sections import Section, build_sections, title_kind
from mitigate.catalog.markdown.text import clean, slug, strip_emphasis, target_name
from mitigate.catalog.model import (
    BreakerSpec,
    BulkheadSpec,
    CatalogModel,
    DetectionRule,
    ErrorBudget,
    Experiment,
    FailureMode,
    FallbackSpec,
    Principle,
    RateLimitSpec,
    RetrySpec,
    Runbook,
)
from mitigate.catalog.signal import parse_signal
from mitigate.errors import ConfigError

__all__ = ["ImportResult", "Unmapped", "import_markdown"]


class Unmapped(NamedTuple):
    """A piece of the document that fits no catalog field: its line and its text."""

    line: int
    text: str


@dataclass(frozen=True, slots=True)
class ImportResult:
    """The drafted catalog and what the importer could not map."""

    catalog: CatalogModel
    unmapped: list[Unmapped] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """``{"catalog": ..., "unmapped": [{"line": N, "text": ...}]}`` (the CLI's --json)."""
        return {
            "catalog": self.catalog.model_dump(mode="json", exclude_none=True),
            "unmapped": [{"line": item.line, "text": item.text} for item in self.unmapped],
        }


def import_markdown(
    text: str, *, service: str | None = None, source: str | None = None
) -> ImportResult:
    """Draft a catalog from a failure-mode document.

    ``service`` names the catalog (and prefixes every id); without it the name is read
    from the document ("content-service" -> ``content``). ``source`` (a file name) is
    recorded in the catalog and in each item's ``source`` as ``<source>:<line>``.
    """
    if text.lstrip().startswith(MARKER):
        from mitigate.catalog.markdown.canonical import read_canonical

        catalog, unmapped = read_canonical(text, service=service)
        return ImportResult(catalog, [Unmapped(line, body) for line, body in unmapped])
    return _Importer(text, service, source).run()


_INHERITED = {
    "retry",
    "breaker",
    "fallback",
    "timeouts",
    "bulkheads",
    "rate_limits",
    "policies",
    "chaos",
    "principles",
    "budget",
    "runbooks",
}
_META = {"service": "service", "owner": "owner", "title": "title", "description": "description"}
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.\-]*$")
_GENERIC = {
    "failure",
    "failures",
    "mode",
    "modes",
    "mitigation",
    "mitigations",
    "and",
    "the",
    "register",
    "catalog",
    "catalogue",
    "risks",
    "risk",
    "of",
    "for",
    "what",
    "can",
    "go",
    "wrong",
    "service",
    "fmea",
    "analysis",
    "scenario",
    "scenarios",
    "reference",
    "known",
    "specification",
    "spec",
    "operations",
    "table",
    "summary",
    "recovery",
    "doc",
    "docs",
    "document",
    "md",
}
_NUMBERING = re.compile(r"^\s*(?:[A-Za-z]{1,3}-?)?\d+(?:\.\d+)*[.):]?\s+")
_ADMONITION = re.compile(r"^(:::|!!!|\?\?\?)")


@dataclass(slots=True)
class _Pending:
    """A failure mode waiting for its id (headless ones need their neighbours')."""

    draft: FailureDraft
    section: Section | None
    letter: int | None = None


class _Importer:
    def __init__(self, text: str, service: str | None, source: str | None) -> None:
        self.text = text
        self.source = source
        self.blocks = parse_blocks(text)
        self.root = build_sections(self.blocks)
        self.service = slug(service) if service else ""
        self.meta: dict[str, Any] = {}
        self.unmapped: list[Unmapped] = []
        self.pending: list[_Pending] = []
        self.policies: dict[str, dict[str, Any]] = {}
        self.fallbacks: list[dict[str, Any]] = []
        self.experiments: list[dict[str, Any]] = []
        self.principles: list[dict[str, Any]] = []
        self.index: list[tuple[str, str | None, int]] = []
        self.index_base: str | None = None
        self.has_index = False
        self.budget: dict[str, Any] | None = None
        self.counts: dict[str, int] = {}
        self.consumed: set[int] = set()  # subsections read as a field of their parent
        self.table_retries = False

    # ------------------------------------------------------------------ helpers

    def _service_from_text(self) -> str:
        """The service is named by the title ("Payments failure modes", "content-service:
        FMEA") or else the file name, never by a word of the prose."""
        for name in (self.meta.get("title", ""), _file_stem(self.source)):
            found = _service_from_name(name)
            if found:
                return found
        return "service"

    def _where(self, line: int) -> str:
        return f"{self.source}:{line}" if self.source else f"line {line}"

    def _next(self, kind: str) -> int:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        return self.counts[kind]

    def _skip(self, line: int, text: str) -> None:
        self.unmapped.append(Unmapped(line, clean(text)))

    def _skip_block(self, block: Block) -> None:
        if isinstance(block, Table):
            self._skip(block.line, " | ".join(block.header))
            for row in block.rows:
                self._skip(row.line, " | ".join(row.cells))
        else:
            self._skip(block.line, str(block))

    # ------------------------------------------------------------------ walk

    def run(self) -> ImportResult:
        rest = self._preamble()
        written = self.meta.pop("service", None)
        if not self.service:
            self.service = slug(written.strip("`")) if written else self._service_from_text()
        if rest:
            # failure modes or tables straight under the title, before any section
            self._section(Section(None, 0, blocks=rest), None)
        for section in self.root.walk():
            if section is self.root or self._is_title_section(section):
                continue
            if id(section) in self.consumed:
                continue
            self._section(section, self._kind(section))
        return ImportResult(self._build(), sorted(self.unmapped))

    def _is_title_section(self, section: Section) -> bool:
        first = self.root.children[0] if self.root.children else None
        return (
            section is first
            and section.heading is not None
            and section.heading.markdown
            and section.heading.level == 1
            and section.number is None
        )

    def _kind(self, section: Section) -> str | None:
        own = title_kind(section.title)
        if own is not None:
            return own
        parent = section.parent
        while parent is not None and parent.heading is not None:
            inherited = title_kind(parent.title)
            if inherited is not None:
                return inherited if inherited in _INHERITED else None
            parent = parent.parent
        return None

    def _preamble(self) -> list[Block]:
        """Read the title, description and "Owner:"-style lines before the first section;
        returns the blocks from the first table or list item on, which are content."""
        blocks = list(self.root.blocks)
        first = self.root.children[0] if self.root.children else None
        if first is not None and self._is_title_section(first):
            assert first.heading is not None
            self.meta["title"] = first.heading.title
            blocks += first.blocks
        inside = False
        for position, block in enumerate(blocks):
            text = str(block)
            if isinstance(block, Paragraph) and _ADMONITION.match(text):
                inside = not inside if text.strip() in (":::", "!!!", "???") else True
                self._skip_block(block)
                continue
            if inside:
                self._skip_block(block)
                continue
            label = raw_label(text)
            if label is not None and label[0].lower() in _META and label[1]:
                name = _META[label[0].lower()]
                self.meta.setdefault(name, label[1])
                continue
            if isinstance(block, Table | Bullet):
                return blocks[position:]
            if (
                "title" not in self.meta
                and isinstance(block, Paragraph)
                and block.line == self.blocks[0].line
                and len(text) <= 100
                and not text.endswith((".", ":"))
                and text[:1].isalnum()
            ):
                self.meta["title"] = text
                continue
            if (
                "description" not in self.meta
                and isinstance(block, Paragraph)
                and len(text) >= 40
                and label is None
            ):
                self.meta["description"] = text
                continue
            self._skip_block(block)
        return []

    def _section(self, section: Section, kind: str | None) -> None:
        if self._is_failure_section(section):
            self._failure_section(section)
            return
        if kind == "runbooks":
            self.has_index = True
        before = self._mapped()
        taken = row_lines(section, kind)
        if taken:
            # "### KMS" then "- Trip: 10 fail / 30s" and "- Reset: 60s": one row
            self._policy_row(
                kind or "",
                section.title,
                self._labelled_row(section, taken),
                taken[0],
                section.title,
            )
        for block in section.blocks:
            if isinstance(block, Bullet) and block.line in taken:
                continue
            if isinstance(block, Table):
                self._table(section, block, kind)
            elif isinstance(block, Bullet):
                self._item(section, block, kind)
            else:
                self._paragraph(section, block, kind)
        if kind is None and not section.blocks and not section.children:
            self._skip(section.line, str(section.heading))
        elif section.heading is not None and section.blocks and self._mapped() == before:
            self._skip(section.line, str(section.heading))  # nothing under it was mapped

    def _mapped(self) -> tuple[int, ...]:
        """How much has been drafted so far (to tell whether a section added anything)."""
        return (
            len(self.pending),
            sum(len(parts) for parts in self.policies.values()),
            len(self.fallbacks),
            len(self.experiments),
            len(self.principles),
            len(self.index),
            self.budget is not None,
            self.index_base is not None,
        )

    def _labelled_row(self, section: Section, lines: list[int]) -> dict[str, str]:
        row: dict[str, str] = {}
        for block in section.blocks:
            if isinstance(block, Bullet) and block.line in lines:
                labelled = split_label(block.text, POLICY_FIELDS)
                if labelled is not None:
                    row.setdefault(labelled[0], labelled[1])
        return row

    def _is_failure_section(self, section: Section) -> bool:
        """Two different failure fields make a failure mode; one is enough when a sibling
        section is clearly one (a short entry among full ones)."""
        score = _failure_score(section)
        if score >= 2:
            return True
        if score == 1 and section.parent is not None:
            # a short entry among full ones, or a series of entries of the same shape
            others = [_failure_score(s) for s in section.parent.children if s is not section]
            return any(other >= 2 for other in others) or sum(o >= 1 for o in others) >= 1
        return False

    # ------------------------------------------------------------------ failure modes

    def _failure_section(self, section: Section) -> None:
        heading = section.heading
        first = FailureDraft(
            heading.line if heading is not None else section.line,
            number=heading.number if heading is not None else None,
            title=strip_emphasis(heading.title) if heading is not None else None,
        )
        bullets = field_bullets(section)
        taken = {bullet.line for bullet in bullets}
        drafts, rest = drafts_from_bullets(bullets, first)
        for line, text in rest:
            self._skip(line, text)
        for block in section.blocks:
            if block.line not in taken:
                self._skip_block(block)
        for child in _field_children(section):
            # "### Symptoms" under the failure mode's heading: the subsection is the field
            self.consumed.add(id(child))
            assert child.heading is not None
            name = match_labels(child.heading.title)[0]
            for block in child.blocks:
                if isinstance(block, Table) or not first.add(name, str(block)):
                    self._skip_block(block)
            for grandchild in child.children:
                self._skip_section(grandchild)
        for draft in drafts:
            self.pending.append(_Pending(draft, None))

    def _skip_section(self, section: Section) -> None:
        self.consumed.add(id(section))
        if section.heading is not None:
            self._skip(section.heading.line, str(section.heading))
        for block in section.blocks:
            self._skip_block(block)
        for child in section.children:
            self._skip_section(child)

    def _failure_table(self, section: Section, table: Table) -> None:
        grouped = self._grouping(section)
        for index, row in enumerate(table.rows):
            if not any(cell.strip() for cell in row.cells):
                continue
            draft = draft_from_row(table.header, row)
            if grouped and section.title:
                draft.category = strip_emphasis(section.title)
            letter = index if draft.number is None and section.number else None
            self.pending.append(_Pending(draft, section, letter))

    def _grouping(self, section: Section) -> bool:
        """Sibling sections that each hold a failure table group failures by category."""
        if section.parent is None:
            return False
        holders = [
            sibling
            for sibling in section.parent.children
            if any(isinstance(b, Table) and is_failure_table(b.header) for b in sibling.blocks)
        ]
        return len(holders) >= 2

    # ------------------------------------------------------------------ tables

    def _table(self, section: Section, table: Table, kind: str | None) -> None:
        policy_columns = [match_labels(cell, POLICY_FIELDS) for cell in table.header]
        mapped = {names[0] for names in policy_columns if names}
        table_policy = policies.table_kind(mapped)
        if kind not in policies.POLICY_KINDS and is_failure_table(table.header):
            self._failure_table(section, table)
            return
        if kind in policies.POLICY_KINDS or table_policy is not None:
            chosen = table_policy or kind
            if kind in policies.POLICY_KINDS and kind != "policies" and table_policy != kind:
                chosen = kind if table_policy is None else table_policy
            self._policy_table(table, policy_columns, chosen or "policies")
            return
        if kind == "chaos":
            self._experiment_table(table)
            return
        if kind == "principles":
            for row in table.rows:
                cells = [unescape(cell) for cell in row.cells if cell.strip()]
                if cells:
                    self._principle(row.line, ". ".join(c.rstrip(".") for c in cells[:2]) + ".")
            return
        if kind == "runbooks":
            for row in table.rows:
                self._index_line(row.line, unescape(" ".join(row.cells)))
            return
        self._skip_block(table)

    def _row(self, header_fields: list[tuple[str, ...]], cells: Iterable[str]) -> dict[str, str]:
        row: dict[str, str] = {}
        for names, cell in zip(header_fields, cells, strict=False):
            if names and cell.strip() and names[0] not in row:
                row[names[0]] = unescape(cell.strip())
        return row

    def _policy_table(self, table: Table, columns: list[tuple[str, ...]], kind: str) -> None:
        for row in table.rows:
            values = self._row(columns, row.cells)
            label = (
                values.get("target") or values.get("primary") or (row.cells[0] if row.cells else "")
            )
            self._policy_row(kind, label, values, row.line, " | ".join(row.cells))

    def _policy_row(
        self, kind: str, label: str, values: dict[str, str], line: int, text: str
    ) -> None:
        if not label.strip() or kind == "policies":
            self._skip(line, text)
            return
        if kind == "fallback":
            number = self._next("fallback")
            fields = policies.fallback_fields(values)
            if not fields:
                self._skip(line, text)
                return
            fields.setdefault("id", f"{self.service}.fallback.{number}")
            fields.setdefault("source", self._where(line))
            if self._valid(FallbackSpec, fields, line, text):
                self.fallbacks.append(fields)
            return
        target, note = target_name(label)
        if kind == "timeouts":
            found = policies.retry_fields({"budget": values.get("timeout", "")})
            if "budget" not in found:
                self._skip(line, text)
                return
            self._policy(target)["timeout"] = found["budget"]
            return
        makers: dict[
            str, tuple[str, str, Callable[[dict[str, str]], dict[str, Any]], type[BaseModel]]
        ] = {
            "retry": ("retry", "retry", policies.retry_fields, RetrySpec),
            "breaker": ("breaker", "breaker", policies.breaker_fields, BreakerSpec),
            "bulkheads": ("bulkhead", "bulkhead", policies.bulkhead_fields, BulkheadSpec),
            "rate_limits": ("rate_limit", "ratelimit", policies.rate_limit_fields, RateLimitSpec),
        }
        if kind not in makers:
            self._skip(line, text)
            return
        part, prefix, reader, model = makers[kind]
        fields = reader(values)
        if not set(fields) - {"id", "description", "source"}:
            self._skip(line, text)  # no setting could be read: not a policy
            return
        number = self._next(prefix)
        fields.setdefault("id", f"{self.service}.{prefix}.{number}")
        if note:
            fields["description"] = "; ".join(filter(None, [note, fields.get("description")]))
        fields.setdefault("source", self._where(line))
        if not self._valid(model, fields, line, text):
            return
        while part in self._policy(target):
            target = _bump(target)
        self._policy(target)[part] = fields

    def _policy(self, target: str) -> dict[str, Any]:
        return self.policies.setdefault(target, {})

    def _experiment_table(self, table: Table) -> None:
        for row in table.rows:
            cells = [unescape(cell) for cell in row.cells if cell.strip()]
            self._experiment(row.line, " — ".join(cells))

    # ------------------------------------------------------------------ bullets, paragraphs

    def _item(self, section: Section, bullet: Bullet, kind: str | None) -> None:
        if kind in ("retry", "breaker", "fallback", "timeouts", "bulkheads", "rate_limits"):
            parsed = policies.parse_policy_bullet(kind, bullet.text)
            if parsed is None:
                self._skip(bullet.line, bullet.text)
                return
            label, row = parsed
            self._policy_row(kind, label, row, bullet.line, bullet.text)
        elif kind == "chaos":
            for piece in extras.split_glued_items(bullet.text):
                self._experiment(bullet.line, piece)
        elif kind == "principles":
            for piece in extras.split_glued_items(bullet.text):
                self._principle(bullet.line, piece)
        elif kind == "budget":
            self._budget(bullet.line, bullet.text)
        elif kind == "runbooks":
            self._index_line(bullet.line, bullet.text)
        else:
            self._skip(bullet.line, bullet.text)

    def _paragraph(self, section: Section, block: Block, kind: str | None) -> None:
        text = str(block)
        if kind == "budget" and extras.budget_fields(text) is not None:
            self._budget(block.line, text)
        elif kind == "runbooks":
            self._index_line(block.line, text)
        elif kind == "principles" and len(section.blocks) > 1:
            self._principle(block.line, text)
        else:
            self._skip_block(block)

    def _experiment(self, line: int, text: str) -> None:
        fields = experiment_fields(text)
        number = self._next("chaos")
        fields = {"id": f"{self.service}.chaos.{number}", **fields, "source": self._where(line)}
        if self._valid(Experiment, fields, line, text):
            self.experiments.append(fields)

    def _principle(self, line: int, text: str) -> None:
        number = self._next("principle")
        fields = {"id": f"{self.service}.principle.{number}", **extras.principle_fields(text)}
        if self._valid(Principle, fields, line, text):
            self.principles.append(fields)

    def _budget(self, line: int, text: str) -> None:
        fields = extras.budget_fields(text)
        if fields is None or self.budget is not None:
            self._skip(line, text)
            return
        fields = {"id": f"{self.service}.budget.1", **fields, "source": self._where(line)}
        if self._valid(ErrorBudget, fields, line, text):
            self.budget = fields

    def _index_line(self, line: int, text: str) -> None:
        stripped = text.strip().strip("`")
        if stripped.endswith(("/:", "/")) and "/" in stripped and " " not in stripped:
            self.index_base = stripped.rstrip(":")
            return
        entries = extras.index_entries(text)
        if not entries:
            self._skip(line, text)
            return
        for path, title in entries:
            self.index.append((path, title, line))

    def _valid(self, model: type[BaseModel], fields: dict[str, Any], line: int, text: str) -> bool:
        try:
            model.model_validate(fields)
        except ValidationError as error:
            problem = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
            )
            self._skip(line, f"{text} [not mapped: {problem}]")
            return False
        return True

    # ------------------------------------------------------------------ assembly

    def _failure_ids(self) -> list[str]:
        numbers = {p.draft.number for p in self.pending if p.draft.number and p.section is None}
        ids: list[str] = []
        previous: str | None = None
        for sequence, pending in enumerate(self.pending, start=1):
            draft = pending.draft
            written = draft.fields.get("id", [""])[0].strip("` ")
            if _NAME.match(written) and "." in written:
                ident = written  # a qualified id as the document writes it
            elif written:
                ident = f"{self.service}.fm.{slug(written)}"  # "P-01" is a row number
            elif draft.number:
                ident = f"{self.service}.fm.{slug(draft.number).replace('-', '.')}"
            elif pending.letter is not None and pending.section is not None:
                ident = f"{self.service}.fm.{pending.section.number}{_letter(pending.letter)}"
            elif draft.headless and previous is not None:
                parts = previous.split(".")
                guess = (
                    ".".join([*parts[:-1], str(int(parts[-1]) + 1)]) if parts[-1].isdigit() else ""
                )
                if guess and guess not in numbers:
                    draft.number = guess
                    numbers.add(guess)
                    ident = f"{self.service}.fm.{guess}"
                else:
                    ident = f"{self.service}.fm.{previous}b"
            else:
                ident = f"{self.service}.fm.{sequence}"
            previous = draft.number
            while ident in ids:
                ident = _bump(ident)
            ids.append(ident)
        return ids

    def _drop_summary_rows(self) -> None:
        """A summary table repeating failure modes that have their own sections ("Leader"
        for "Leader failure") adds no failure mode; its rows are listed as not mapped."""
        written = [p for p in self.pending if p.section is None and p.draft.title]
        keep: list[_Pending] = []
        for pending in self.pending:
            title = pending.draft.title or _first_value(pending.draft)
            twin = (
                next((w for w in written if _same_subject(title, w.draft.title or "")), None)
                if pending.section is not None and title
                else None
            )
            if twin is None:
                keep.append(pending)
            else:
                self._skip(
                    pending.draft.line,
                    f"{title} [summary row: repeats the failure mode at line {twin.draft.line}]",
                )
        self.pending = keep

    def _build(self) -> CatalogModel:
        self._drop_summary_rows()
        self.table_retries = any("retry" in parts for parts in self.policies.values())
        failure_modes: list[dict[str, Any]] = []
        rules: list[dict[str, Any]] = []
        for pending, ident in zip(self.pending, self._failure_ids(), strict=True):
            fields = failure_dict(pending.draft, ident, self._where(pending.draft.line))
            if not self._valid(FailureMode, fields, pending.draft.line, fields.get("title", "")):
                continue
            self._prose_retry(fields)
            derived = self._rules(ident, fields)
            if derived:
                rules += derived
                fields["detection_rules"] = [
                    *fields.get("detection_rules", []),
                    *(rule["id"] for rule in derived),
                ]
            failure_modes.append(fields)
        _link_by_target(failure_modes, self.policies, self.experiments)
        data: dict[str, Any] = {
            "service": self.service,
            **self.meta,
            "principles": self.principles,
            "policies": self.policies,
            "fallbacks": self.fallbacks,
            "detection_rules": rules,
            "failure_modes": failure_modes,
            "experiments": self.experiments,
            "runbooks": self._runbooks(failure_modes),
        }
        drafted = _drafted_metrics(rules, self.meta.get("metrics") or [])
        if drafted:
            data["metrics"] = drafted
        if self.source:
            data["source"] = self.source
        if self.budget is not None:
            data["error_budget"] = self.budget
        try:
            return CatalogModel.model_validate(data)
        except ValidationError as error:  # every item was checked alone; this is a bug
            raise ConfigError(
                self.source,
                f"the drafted catalog is invalid: {error.errors()[0]['msg']}",
                hint="report the document that caused it",
                code="MITIGATE.CONFIG.IMPORT",
            ) from error

    def _prose_retry(self, fields: dict[str, Any]) -> None:
        """ "up to 6 attempts over 5 min" in the mitigation drafts a retry policy for the
        failure mode's target, and the failure mode is mitigated by it."""
        if self.table_retries:
            return  # the document's own retry table is authoritative; prose may repeat it
        text = fields.get("automatic_mitigation", "")
        found = retry_from_prose(text) if text else None
        if found is None:
            return
        target, _note = target_name(_NUMBERING.sub("", fields["title"]))
        existing = self.policies.get(target, {})
        if "retry" not in existing:
            description = "drafted from the failure mode's prose"
            if "backoff" not in found:
                found["backoff"] = ASSUMED_BACKOFF
                description += f"; the document gives no delays: {ASSUMED_BACKOFF} assumed, review"
            spec = {
                "id": f"{self.service}.retry.{self._next('retry')}",
                **found,
                "source": fields.get("source"),
                "description": description,
            }
            spec = {key: value for key, value in spec.items() if value is not None}
            if not self._valid(RetrySpec, spec, 0, text):
                return
            self._policy(target)["retry"] = spec
        refs = fields.setdefault("mitigated_by", [])
        if target not in refs:
            refs.append(target)

    def _rules(self, fm_id: str, fields: dict[str, Any]) -> list[dict[str, Any]]:
        clauses = extras.signal_clauses(fields.get("detection", ""))
        base = fm_id.replace(".fm.", ".rule.", 1)
        out = []
        for index, clause in enumerate(clauses, start=1):
            rule: dict[str, Any] = {
                "id": base if len(clauses) == 1 else f"{base}-{index}",
                "signal": clause,
            }
            parsed = {**rule, **parse_signal(clause)}
            if fields.get("runbook") and "/" in fields["runbook"]:
                parsed["runbook"] = fields["runbook"]
            try:
                DetectionRule.model_validate(parsed)
                out.append(parsed)
            except ValidationError:
                out.append(rule)  # documentation only: lint says it cannot be evaluated
        return out

    def _runbooks(self, failure_modes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        used = [fm["runbook"] for fm in failure_modes if fm.get("runbook")]
        by_name = {path.rsplit("/", 1)[-1]: path for path in used}
        entries: list[dict[str, Any]] = []
        if self.has_index:
            for path, title, _line in self.index:
                if "/" not in path and path in by_name:
                    path = by_name[path]
                elif "/" not in path and self.index_base:
                    path = self.index_base.rstrip("/") + "/" + path
                entry: dict[str, Any] = {"path": path}
                if title:
                    entry["title"] = title
                if all(e["path"] != path for e in entries):
                    entries.append(entry)
            return entries
        for path in used:
            if "/" in path and all(e["path"] != path for e in entries):
                entries.append({"path": path})
        for entry in entries:
            Runbook.model_validate(entry)
        return entries


def row_lines(section: Section, kind: str | None) -> list[int]:
    """Lines of "- Label: value" bullets that describe the section's own target in a
    policy section ("### KMS" / "- Trip: ..."); empty elsewhere."""
    if kind not in ("retry", "breaker", "timeouts", "bulkheads", "rate_limits"):
        return []
    if section.heading is None or title_kind(section.title) == kind:
        return []  # the policy section itself lists targets, one per bullet
    return [
        block.line
        for block in section.blocks
        if isinstance(block, Bullet) and split_label(block.text, POLICY_FIELDS) is not None
    ]


def field_bullets(section: Section) -> list[Bullet]:
    """The section's bullets, and its paragraphs that open with a field label
    ("**Trigger**: ...", "Expected behavior:" above a list), in document order."""
    out: list[Bullet] = []
    for block in section.blocks:
        if isinstance(block, Bullet):
            out.append(block)
        elif isinstance(block, Paragraph):
            pieces = split_inline_run(block.text)
            if pieces and split_label(pieces[0]) is not None:
                out.append(Bullet(block.line, block.text, 0, False, block.lines))
    return out


def _field_children(section: Section) -> list[Section]:
    """Subsections titled by a failure field ("### Symptoms"), when there are two or more
    and at least one is a strong field; otherwise none."""
    named = [
        child
        for child in section.children
        if child.heading is not None and len(match_labels(child.heading.title)) == 1
    ]
    strong = {match_labels(c.title)[0] for c in named} & STRONG_FIELDS
    return named if len(named) >= 2 and strong else []


def _failure_score(section: Section) -> int:
    """How many distinct failure fields the section's own bullets, labelled paragraphs
    and field-titled subsections name."""
    found: set[str] = set()
    for block in field_bullets(section):
        for piece in split_inline_run(block.text):
            labelled = split_label(piece)
            if labelled is not None and labelled[0] in STRONG_FIELDS:
                found.add(labelled[0])
    for child in _field_children(section):
        name = match_labels(child.title)[0]
        if name in STRONG_FIELDS:
            found.add(name)
    return len(found)


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


def _link_by_target(
    failure_modes: list[dict[str, Any]],
    policies: dict[str, dict[str, Any]],
    experiments: list[dict[str, Any]],
) -> None:
    """Link by target name: a policy whose target ("database", "kms.sign") names what a
    failure mode's title is about mitigates it; an experiment on a target exercises the
    failure modes that target's policies mitigate (or whose title names it)."""
    for fm in failure_modes:
        title = _words(fm.get("title", ""))
        refs = fm.setdefault("mitigated_by", [])
        for target in policies:
            area = target.split(".")[0]
            if area in title and target not in refs:
                refs.append(target)
        if not refs:
            del fm["mitigated_by"]
    for experiment in experiments:
        aimed = experiment.get("target")
        if not isinstance(aimed, str) or not aimed or experiment.get("failure_modes"):
            continue
        area = aimed.split(".")[0]
        linked = [
            fm["id"]
            for fm in failure_modes
            if any(ref == aimed or ref.split(".")[0] == area for ref in fm.get("mitigated_by", []))
            or area in _words(fm.get("title", ""))
        ]
        if linked:
            experiment["failure_modes"] = linked


def _file_stem(source: str | None) -> str:
    if not source or source == "-":
        return ""
    stem = source.replace("\\", "/").rsplit("/", 1)[-1]
    return stem.rsplit(".", 1)[0] if "." in stem else stem


def _service_from_name(name: str) -> str:
    """ "content-service: FMEA" -> content; "Toll Gateway — Failure Mode Reference" ->
    toll-gateway; "FAILURE_MODES" -> ""."""
    match = re.search(r"\b([a-z][a-z0-9]*(?:-[a-z0-9]+)*)-service\b", name, re.I)
    if match is not None:
        return slug(match[1])
    match = re.search(r"\b([A-Za-z][\w-]*)\s+service\b", name, re.I)
    if match is not None and match[1].lower() not in _GENERIC:
        return slug(match[1])
    head = re.split(r"\s*(?::|—|–|\s-\s)\s*", name)[0]
    words = [w for w in re.findall(r"[a-z0-9]+", head.lower()) if w not in _GENERIC]
    if not words:  # "Failure modes: payments"
        words = [w for w in re.findall(r"[a-z0-9]+", name.lower()) if w not in _GENERIC]
    return "-".join(words)


def _first_value(draft: FailureDraft) -> str:
    values = next(iter(draft.fields.values()), [])
    return values[0] if values else ""


_SUBJECT_FILLER = {"the", "a", "an", "failure", "failures", "fails", "down", "unavailable"}


def _subject(title: str) -> str:
    words = re.findall(r"[a-z0-9]+", strip_emphasis(title).lower())
    words = [w for w in words if not re.fullmatch(r"f?\d+", w)]
    meaningful = [w for w in words if w not in _SUBJECT_FILLER]
    return meaningful[0] if meaningful else ""


def _same_subject(row_title: str, section_title: str) -> bool:
    """ "Leader crash" and "F1: Leader dies before dispatch" are about the leader."""
    first = _subject(row_title)
    return bool(first) and first == _subject(section_title)


def _letter(index: int) -> str:
    return string.ascii_lowercase[index] if index < 26 else f"-{index + 1}"


def _bump(name: str) -> str:
    match = re.search(r"-(\d+)$", name)
    if match is None:
        return f"{name}-2"
    return f"{name[: match.start()]}-{int(match[1]) + 1}"


def _drafted_metrics(rules: list[dict[str, Any]], declared: list[Any]) -> list[Any]:
    """Declare each metric a drafted rule reads that mitigate does not export, so the draft
    lints; the description says it was read from the document and must be checked."""
    from mitigate.observe.metrics import exported_metric_names

    known = exported_metric_names() | {
        m.get("name") if isinstance(m, dict) else getattr(m, "name", None) for m in declared
    }
    out = list(declared)
    for rule in rules:
        name = rule.get("metric") if isinstance(rule, dict) else None
        if isinstance(name, str) and name not in known:
            known = known | {name}
            out.append(
                {
                    "name": name,
                    "description": "named by the document; check that the service exports it",
                }
            )
    return out
