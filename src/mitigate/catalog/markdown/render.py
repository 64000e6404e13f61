"""Render a catalog as a FAILURE_MODES.md and as a runbook index.

The document is written for people first (one section per failure mode, the policy
tables in the seeds' notation, a note on what "Max" counts) and for the importer second:
every field is written with its label or column, ids and references included, so
``import_markdown(render_markdown(c)).catalog == c``.

>>> from mitigate.catalog.model import CatalogModel
>>> catalog = CatalogModel.model_validate({
...     "service": "payments",
...     "policies": {"card.capture": {"retry": {"max": 3, "backoff": "100ms, 400ms, 1s"}}},
...     "failure_modes": [{"id": "payments.fm.1", "title": "Card network down",
...                        "mitigated_by": ["card.capture"],
...                        "runbook": "runbooks/card-network.md"}],
...     "runbooks": [{"path": "runbooks/card-network.md", "title": "Card network"}],
... })
>>> text = render_markdown(catalog)
>>> print(text[text.index("### Card"):text.index("## Policies")].strip())
### Card network down
- Id: `payments.fm.1`
- Mitigated by: `card.capture`
- Runbook: `runbooks/card-network.md`
>>> print(render_runbook_index(catalog))
# Runbook index: payments
<BLANKLINE>
| Runbook | Title | Failure modes |
|---|---|---|
| `runbooks/card-network.md` | Card network | `payments.fm.1` Card network down |
<BLANKLINE>

.. versionadded:: 0.1
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel

from mitigate.catalog.markdown.blocks import parse_number
from mitigate.catalog.markdown.layout import (
    BUDGET_BULLETS,
    EXPERIMENT_BULLETS,
    FAILURE_BULLETS,
    FALLBACK_COLUMNS,
    JSON,
    MARKER,
    META_BULLETS,
    METRIC_COLUMNS,
    POLICY_COLUMNS,
    POLICY_PARTS,
    PRINCIPLE_COLUMNS,
    RULE_COLUMNS,
    SECTION_TITLES,
    SWITCH_COLUMNS,
    TEXT,
    Column,
    escape,
)
from mitigate.catalog.model import CatalogModel

__all__ = ["render_markdown", "render_runbook_index"]

RETRY_NOTE = (
    "> **Max** counts retries after the first attempt: max 3 means up to 4 attempts. "
    "**Budget** bounds the whole call, attempts and waits together; no attempt starts "
    "once it would cross the budget. `exp a–b` starts at a and caps at b; `exp cap c` "
    "takes its base from the catalog defaults."
)
BREAKER_NOTE = (
    "> **Trip** `N fail / W` opens the breaker after N failures within W; it stays open "
    "for **Reset**, then lets a probe call through."
)
PIPELINE_NOTE = (
    "> Each target is one pipeline, outermost first: fallback → budget → retry → "
    "breaker → bulkhead / rate limit → timeout."
)


def _model(catalog: Any) -> CatalogModel:
    model = getattr(catalog, "model", catalog)
    if not isinstance(model, CatalogModel):
        raise TypeError(f"expected a CatalogModel or a Catalog, got {type(catalog).__name__}")
    return model


def _default(model: BaseModel, name: str) -> Any:
    info = type(model).model_fields[name]
    return info.get_default(call_default_factory=True)


def _present(item: BaseModel | dict[str, Any], name: str) -> bool:
    if isinstance(item, dict):
        return item.get(name) is not None
    value = getattr(item, name)
    return value is not None and value != _default(item, name)


def _table(
    columns: Sequence[Column],
    rows: Sequence[BaseModel | dict[str, Any]],
    always: Iterable[str] = (),
) -> list[str]:
    keep = [
        column
        for column in columns
        if column.field in always or any(_present(row, column.field) for row in rows)
    ]
    lines = [
        "| " + " | ".join(column.header for column in keep) + " |",
        "|" + "---|" * len(keep),
    ]
    for row in rows:
        cells = []
        for column in keep:
            present = _present(row, column.field)
            value = row.get(column.field) if isinstance(row, dict) else getattr(row, column.field)
            cells.append(column.codec.encode(value) if present else "")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _multiline(text: str) -> bool:
    lines = text.split("\n")
    return len(lines) > 1 and all(
        line.strip() and line == line.strip() and "<br" not in line for line in lines
    )


def _bullets(columns: Sequence[Column], item: BaseModel, skip: Iterable[str] = ()) -> list[str]:
    lines: list[str] = []
    for column in columns:
        if column.field in skip or not _present(item, column.field):
            continue
        value = getattr(item, column.field)
        if column.codec is TEXT and _multiline(value):
            lines.append(f"- {column.header}:")
            lines.extend(f"  - {line}" for line in value.split("\n"))
        else:
            lines.append(f"- {column.header}: {column.codec.encode(value)}")
    return lines


def _heading(level: int, title: str, extra: list[str]) -> list[str]:
    """A heading for ``title``; when the heading alone would not read back exactly (a
    leading number, a line break), a Title bullet carries the exact text."""
    shown = re.sub(r"\s+", " ", title).strip() or "(untitled)"
    number, parsed = parse_number(shown)
    if number is not None or parsed != title or shown.endswith("#"):
        extra.insert(0, f"- Title: {TEXT.encode(title)}")
        shown = shown.rstrip("#").strip() or "(untitled)"
        if number is not None:
            shown = "\u2116 " + shown  # keep the number visible, not read as a section
    return ["#" * level + " " + shown, *extra]


def _details(details: dict[str, str]) -> list[str]:
    if not details:
        return []
    simple = all(
        key == key.strip()
        and key
        and ":" not in key
        and "\n" not in key
        and "<br" not in key
        and not key.startswith(("-", "*", "+", "#", "|"))
        for key in details
    )
    if not simple:
        return [f"- Details: {JSON.encode(details)}"]
    return ["- Details:", *(f"  - {key}: {TEXT.encode(value)}" for key, value in details.items())]


def render_markdown(catalog: Any) -> str:
    """The catalog as a FAILURE_MODES.md document (canonical layout)."""
    model = _model(catalog)
    out: list[str] = [MARKER, f"# {escape(model.title or f'{model.service}: failure modes')}", ""]
    out.append(
        f"> Rendered by `mitigate catalog render` from the `{model.service}` catalog. "
        "Edit the catalog, then render again."
    )
    out.append("")
    meta = _bullets(META_BULLETS, model, skip={"defaults"})
    if model.defaults is not None:
        meta.append(
            f"- Defaults: {JSON.encode(model.defaults.model_dump(mode='json', exclude_none=True))}"
        )
    out += [*meta, ""]

    if model.principles:
        out += [f"## {SECTION_TITLES['principles']}", ""]
        out += [*_table(PRINCIPLE_COLUMNS, model.principles, always={"title"}), ""]

    if model.failure_modes:
        out += [f"## {SECTION_TITLES['failure_modes']}", ""]
        for fm in model.failure_modes:
            body = _bullets(FAILURE_BULLETS, fm, skip={"title"}) + _details(fm.details)
            out += [*_heading(3, fm.title, body), ""]

    if model.policies:
        out += _policies(model)

    if model.fallbacks:
        out += [f"## {SECTION_TITLES['fallback']}", ""]
        out += [
            *_table(FALLBACK_COLUMNS, model.fallbacks, always={"id", "primary", "fallback"}),
            "",
        ]

    if model.switches:
        out += [f"## {SECTION_TITLES['switches']}", ""]
        out += [*_table(SWITCH_COLUMNS, model.switches, always={"id"}), ""]

    if model.metrics:
        out += [f"## {SECTION_TITLES['metrics']}", ""]
        out += [*_table(METRIC_COLUMNS, model.metrics, always={"name"}), ""]

    if model.detection_rules:
        out += [f"## {SECTION_TITLES['rules']}", ""]
        out += [*_table(RULE_COLUMNS, model.detection_rules, always={"id", "signal"}), ""]

    if model.experiments:
        out += [f"## {SECTION_TITLES['chaos']}", ""]
        for experiment in model.experiments:
            body = _bullets(EXPERIMENT_BULLETS, experiment, skip={"title"})
            if experiment.verify:
                body.append("- Verify:")
                body += [f"  - {TEXT.encode(item)}" for item in experiment.verify]
            out += [*_heading(3, experiment.title, body), ""]

    if model.error_budget is not None:
        out += [f"## {SECTION_TITLES['budget']}", ""]
        out += [*_bullets(BUDGET_BULLETS, model.error_budget), ""]

    if model.runbooks:
        out += [f"## {SECTION_TITLES['runbooks']}", ""]
        for runbook in model.runbooks:
            out.append(_runbook_line(runbook.path, runbook.title))
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def _runbook_line(path: str, title: str | None) -> str:
    if title is None:
        return f"- `{path}`"
    if re.search(r"[\s()`]", path) or re.search(r"[\[\]\n]", title):
        return f"- `{path}` — {TEXT.encode(title)}"
    return f"- [{title}]({path})"


def _policies(model: CatalogModel) -> list[str]:
    out = [f"## {SECTION_TITLES['policies']}", "", PIPELINE_NOTE, ""]
    rows = [
        {
            "target": target,
            **policy.model_dump(include={"timeout", "fallback", "description", "source"}),
        }
        for target, policy in model.policies.items()
    ]
    bare = any(
        all(
            getattr(policy, part) is None for part in ("retry", "breaker", "bulkhead", "rate_limit")
        )
        for policy in model.policies.values()
    )
    if bare or any(len([v for v in row.values() if v is not None]) > 1 for row in rows):
        # Only needed when a target has a timeout, fallback or note, or no part at all.
        out += [*_table(POLICY_COLUMNS, rows, always={"target"}), ""]
    notes = {"retry": RETRY_NOTE, "breaker": BREAKER_NOTE}
    for kind, (attribute, columns) in POLICY_PARTS.items():
        note = notes.get(kind)
        specs = [
            (target, getattr(policy, attribute))
            for target, policy in model.policies.items()
            if getattr(policy, attribute) is not None
        ]
        if not specs:
            continue
        out += [f"### {SECTION_TITLES[kind]}", ""]
        if note:
            out += [note, ""]
        table_rows = [
            {"target": target, **{name: getattr(spec, name) for name in type(spec).model_fields}}
            for target, spec in specs
        ]
        out += [*_table(columns, table_rows, always={"target"}), ""]
    return out


def render_runbook_index(catalog: Any) -> str:
    """A runbook index: every runbook with the failure modes and rules that point at it."""
    model = _model(catalog)
    paths = [runbook.path for runbook in model.runbooks]
    for fm in model.failure_modes:
        if fm.runbook and fm.runbook not in paths:
            paths.append(fm.runbook)
    titles = {runbook.path: runbook.title for runbook in model.runbooks}
    lines = [
        f"# Runbook index: {model.service}",
        "",
        "| Runbook | Title | Failure modes |",
        "|---|---|---|",
    ]
    for path in paths:
        users = [
            f"`{fm.id}` {escape(fm.title)}" for fm in model.failure_modes if fm.runbook == path
        ]
        rules = [f"`{rule.id}`" for rule in model.detection_rules if rule.runbook == path]
        cells = [f"`{path}`", escape(titles.get(path) or ""), "<br>".join(users + rules)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
