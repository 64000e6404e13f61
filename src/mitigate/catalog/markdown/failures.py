"""Draft failure modes from labelled bullets or from table rows.

A failure mode is whatever carries failure fields: a section whose bullets say
"Cause:", "Detection:", "Mitigation:" (in any wording :mod:`.fields` knows), or a table
row under columns such as Trigger / Signal / Containment. Bullets without a label belong
to the field opened just before them ("Mitigation:" followed by its steps). A second
"Symptom:" after a finished failure mode starts the next one, even without a heading.

>>> from mitigate.catalog.markdown.blocks import Bullet
>>> drafts, rest = drafts_from_bullets([
...     Bullet(2, "Cause: disk full."), Bullet(3, "Mitigation:"), Bullet(4, "Rotate logs."),
...     Bullet(5, "Symptom: writes fail."),
... ], FailureDraft(1, title="Disk full"))
>>> for draft in drafts:
...     print(draft.title, draft.fields)
Disk full {'trigger': ['disk full.'], 'mitigation': ['Rotate logs.']}
None {'symptom': ['writes fail.']}

.. versionadded:: 0.1
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mitigate.catalog.markdown.blocks import Bullet, Row
from mitigate.catalog.markdown.fields import (
    FAILURE_FIELDS,
    match_labels,
    split_inline_run,
    split_label,
)
from mitigate.catalog.markdown.layout import unescape
from mitigate.catalog.markdown.text import (
    clean,
    draft_title,
    runbook_paths,
    strip_emphasis,
)

__all__ = [
    "ATTRIBUTES",
    "STRONG_FIELDS",
    "FailureDraft",
    "draft_from_row",
    "drafts_from_bullets",
    "failure_columns",
    "failure_dict",
    "is_failure_table",
    "raw_label",
]

# Canonical field -> FailureMode attribute; anything else recognised goes to ``details``.
ATTRIBUTES = {
    "id": "id",
    "title": "title",
    "category": "category",
    "trigger": "trigger",
    "symptom": "symptom",
    "detection": "detection",
    "blast_radius": "blast_radius",
    "user_impact": "user_impact",
    "mitigation": "automatic_mitigation",
    "manual": "manual_mitigation",
    "runbook": "runbook",
    "severity": "severity",
    "accepted_risk": "accepted_risk",
    "source": "source",
}
_REFERENCES = {"rules": "detection_rules", "policies": "mitigated_by", "experiments": "experiments"}
STRONG_FIELDS = frozenset(
    {
        "trigger",
        "symptom",
        "detection",
        "blast_radius",
        "user_impact",
        "mitigation",
        "manual",
        "response",
    }
)
_STARTERS = frozenset({"title", "trigger", "symptom"})
_SINGLE = frozenset({"id", "number", "title", "category", "runbook", "severity", "source"})
_RAW_LABEL = re.compile(
    r"^\s*(?:\*\*|__)?(?P<label>[A-Za-z][^:*_]{0,40}?)(?:\*\*|__)?\s*:"
    r"(?:\s*(?:\*\*|__)(?=\s|$))?\s*(?P<value>.*)$",
    re.S,
)
_SEVERITY = re.compile(r"\bsev(?:erity)?\s*-?\s*(?P<n>[0-5])\b", re.I)
_GLUED_PATH = re.compile(r"(\.md)(?=[A-Za-z])")


def raw_label(text: str) -> tuple[str, str] | None:
    """Any short "Label: value" (recognised or not), the label as written.

    >>> raw_label("**Owner team:** payments")
    ('Owner team', 'payments')
    >>> raw_label("see https://example.org") is None
    True
    """
    match = _RAW_LABEL.match(text)
    if match is None or len(match["label"].split()) > 5 or "//" in match["value"][:2]:
        return None
    return match["label"].strip(), match["value"].strip()


@dataclass(slots=True)
class FailureDraft:
    """What the document says about one failure mode, before it becomes a FailureMode."""

    line: int
    number: str | None = None
    title: str | None = None
    category: str | None = None
    fields: dict[str, list[str]] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    details: dict[str, list[str]] = field(default_factory=dict)
    headless: bool = False

    def has(self, name: str) -> bool:
        return bool(self.fields.get(name)) or (name == "title" and self.title is not None)

    def add(self, name: str, text: str, label: str | None = None) -> bool:
        """Add text to a field; a single-valued field that is already set refuses."""
        if label is not None:
            self.labels.setdefault(name, label)
        if not text:
            return True
        if name == "title":
            if self.title is not None:
                return False
            self.title = text
            return True
        if name in _SINGLE and self.fields.get(name):
            return False
        self.fields.setdefault(name, []).append(text)
        return True


_CLOSERS = ("mitigation", "manual", "response", "runbook")


def _finished(draft: FailureDraft) -> bool:
    """A failure mode that already says how it is mitigated is complete: a new cause or
    symptom after that describes the next failure mode."""
    return any(draft.has(name) for name in _CLOSERS)


def _label_text(piece: str) -> str:
    found = raw_label(piece)
    return found[0] if found is not None else ""


def drafts_from_bullets(
    bullets: Sequence[Bullet], first: FailureDraft, *, split_runs: bool = True
) -> tuple[list[FailureDraft], list[tuple[int, str]]]:
    """Read a section's bullets into ``first`` (and any headless failure modes after it).

    Returns the drafts and the (line, text) pieces that fit no field.
    """
    drafts = [first]
    draft = first
    unmapped: list[tuple[int, str]] = []
    open_field: str | None = None
    open_indent = 0
    open_empty = False  # "Mitigation:" with its steps below, not "RTO: 15 min"
    details_indent: int | None = None
    for bullet in bullets:
        pieces = split_inline_run(bullet.text) if split_runs else [bullet.text]
        for piece in pieces:
            if details_indent is not None and bullet.indent > details_indent:
                found_raw = raw_label(piece)
                if found_raw is None:
                    unmapped.append((bullet.line, piece))
                else:
                    draft.details.setdefault(found_raw[0], []).append(found_raw[1])
                continue
            details_indent = None
            found = split_label(piece)
            if found is not None:
                name, value = found
                if name == "details":
                    details_indent, open_field = bullet.indent, None
                    continue
                if name == "title" and draft.title is not None and not _finished(draft):
                    name = "trigger"  # "Scenario: ..." under the failure mode's own heading
                if name in _STARTERS and (draft.has(name) or _finished(draft)):
                    draft = FailureDraft(bullet.line, headless=True)
                    drafts.append(draft)
                if not draft.add(name, value, _label_text(piece)):
                    unmapped.append((bullet.line, piece))
                open_field, open_indent, open_empty = name, bullet.indent, not value
                continue
            guess = raw_label(piece)
            if guess is not None and guess[1] and not open_empty and bullet.indent <= open_indent:
                draft.details.setdefault(guess[0], []).append(guess[1])  # "Owner team: x"
                continue
            if (
                open_field is not None
                and bullet.indent >= open_indent
                and draft.add(open_field, piece)
            ):
                continue
            if guess is not None and open_field is None and guess[1]:
                draft.details.setdefault(guess[0], []).append(guess[1])
                continue
            unmapped.append((bullet.line, piece))
    return drafts, unmapped


def failure_columns(header: Sequence[str]) -> list[tuple[str, ...]]:
    """The failure fields each column names (several for "Mitigation & Response")."""
    return [match_labels(cell, FAILURE_FIELDS) for cell in header]


def is_failure_table(header: Sequence[str]) -> bool:
    """A row-per-failure table names a failure (or a cause) and how it is handled.

    >>> is_failure_table(["Failure", "Trigger", "Detection", "Mitigation"])
    True
    >>> is_failure_table(["Category", "Examples"])
    False
    """
    fields = {name for names in failure_columns(header) for name in names}
    strong = fields & STRONG_FIELDS
    return len(strong) >= 2 or ("title" in fields and len(strong) >= 1)


def draft_from_row(header: Sequence[str], row: Row) -> FailureDraft:
    """One failure mode from one table row; unknown columns become details."""
    draft = FailureDraft(row.line)
    columns = failure_columns(header)
    for index, cell in enumerate(row.cells):
        text = cell.strip()
        if not text:
            continue
        names = columns[index] if index < len(columns) else ()
        label = header[index].strip() if index < len(header) else f"Column {index + 1}"
        if not names:
            draft.details.setdefault(strip_emphasis(label), []).append(text)
            continue
        pieces = split_inline_run(text) if len(names) > 1 or "<br" in text else [text]
        for position, piece in enumerate(pieces):
            found = split_label(piece)
            if found is not None and (found[0] in names or len(names) > 1):
                draft.add(found[0], found[1], _label_text(piece))
            elif position == 0 or len(names) == 1:
                draft.add(names[0], piece, label)
            else:
                draft.add(names[-1], piece, label)
    number = draft.fields.pop("number", None)
    if number:
        draft.number = number[0]
    return draft


def _text(items: list[str]) -> str:
    value = "\n".join(unescape(item).strip() for item in items if item.strip())
    return _GLUED_PATH.sub(r"\1 ", value) if "runbook" in value.lower() else value


def failure_dict(draft: FailureDraft, fm_id: str, source: str | None) -> dict[str, Any]:
    """The FailureMode fields a draft gives, with ``fm_id`` as its id."""
    out: dict[str, Any] = {"id": fm_id}
    details: dict[str, str] = {}
    values = {name: _text(items) for name, items in draft.fields.items()}
    response = values.pop("response", None)
    if response:
        if "mitigation" not in values:
            values["mitigation"] = response
        elif "manual" not in values:
            values["manual"] = response
        else:
            details[draft.labels.get("response", "Response")] = response
    for name, value in values.items():
        if name in ("id", "title"):
            continue
        if name in ATTRIBUTES:
            out[ATTRIBUTES[name]] = value
        elif name in _REFERENCES:
            refs = [part.strip(" `") for part in re.split(r"[,;\s]+", value) if part.strip(" `")]
            out.setdefault(_REFERENCES[name], []).extend(refs)
        else:
            details[draft.labels.get(name, name.replace("_", " ").capitalize())] = value
    for label, items in draft.details.items():
        details[label] = _text(items)
    out["title"] = _title(draft, values)
    if draft.category and "category" not in out:
        out["category"] = draft.category
    runbook = _runbook(values)
    if runbook is not None:
        out["runbook"] = runbook
    if "severity" not in out:
        severity = _SEVERITY.search(" ".join(values.values()))
        if severity is not None:
            out["severity"] = f"sev{severity['n']}"
    if details:
        out["details"] = details
    if source is not None:
        out["source"] = source
    return out


def _title(draft: FailureDraft, values: dict[str, str]) -> str:
    if draft.title:
        return clean(strip_emphasis(unescape(draft.title)))
    for name in ("symptom", "trigger", "detection", "user_impact", "mitigation"):
        if values.get(name):
            return draft_title(values[name])
    return f"Failure mode at line {draft.line}"


def _runbook(values: dict[str, str]) -> str | None:
    written = values.get("runbook")
    if written:
        paths = runbook_paths(written, anywhere=True)
        return paths[0] if paths else written
    for name, value in values.items():
        if name != "runbook":
            paths = runbook_paths(value)
            if paths:
                return paths[0]
    return None
