"""Read a document written by :func:`~mitigate.catalog.markdown.render.render_markdown`.

A rendered document states every field: ids, references, sources, every column of every
policy. So it is read exactly, by header and label (the columns and codecs of
:mod:`.layout`), and nothing is drafted: no id from a number, no rule from a detection
sentence. That is what makes import(render(catalog)) == catalog hold.

>>> from mitigate.catalog.markdown.layout import MARKER
>>> doc = MARKER + '''
... # Failure modes: shop
... - Service: `shop`
... ## Fallbacks
... | Id | Primary | Fallback |
... |---|---|---|
... | `shop.fallback.1` | Live prices | Cached prices |
... '''
>>> catalog, unmapped = read_canonical(doc)
>>> catalog.fallbacks[0].fallback, unmapped
('Cached prices', [])

.. versionadded:: 0.1
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from mitigate.catalog.markdown.blocks import Block, Bullet, Paragraph, Table, parse_blocks
from mitigate.catalog.markdown.layout import (
    BUDGET_BULLETS,
    EXPERIMENT_BULLETS,
    FAILURE_BULLETS,
    FALLBACK_COLUMNS,
    JSON,
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
)
from mitigate.catalog.markdown.sections import Section, build_sections
from mitigate.catalog.model import CatalogModel
from mitigate.errors import ConfigError

__all__ = ["read_canonical"]

_KIND_BY_TITLE = {title: kind for kind, title in SECTION_TITLES.items()}
_LINK = re.compile(r"^\[(?P<title>[^\]\n]*)\]\((?P<path>[^)\s]+)\)$")
_CODE_PATH = re.compile(r"^`(?P<path>[^`]+)`(?:\s+—\s+(?P<title>.*))?$")

Unmapped = list[tuple[int, str]]


def _is_note(block: Block) -> bool:
    return isinstance(block, Paragraph) and block.text.startswith(">")


def _table_rows(
    table: Table, columns: Sequence[Column], unmapped: Unmapped
) -> list[dict[str, Any]]:
    by_header = {column.header: column for column in columns}
    known = [by_header.get(header) for header in table.header]
    for header, column in zip(table.header, known, strict=True):
        if column is None:
            unmapped.append((table.line, f"unknown column {header!r}"))
    rows = []
    for row in table.rows:
        values: dict[str, Any] = {}
        for column, cell in zip(known, row.cells, strict=False):
            if column is not None and cell != "":
                values[column.field] = column.codec.decode(cell)
        rows.append(values)
    return rows


def _items(blocks: Sequence[Block]) -> list[tuple[Bullet, list[Bullet]]]:
    items: list[tuple[Bullet, list[Bullet]]] = []
    for block in blocks:
        if not isinstance(block, Bullet):
            continue
        if block.indent > 0 and items:
            items[-1][1].append(block)
        else:
            items.append((block, []))
    return items


def _bullet_fields(
    blocks: Sequence[Block], columns: Sequence[Column], unmapped: Unmapped
) -> dict[str, Any]:
    """Fields from "- Label: value" bullets; a bare label with sub-bullets holds lines."""
    by_label = {column.header: column for column in columns}
    out: dict[str, Any] = {}
    for bullet, children in _items(blocks):
        label, sep, value = bullet.text.partition(":")
        value = value.strip()
        if not sep:
            unmapped.append((bullet.line, bullet.text))
            continue
        if label == "Verify":
            out["verify"] = [TEXT.decode(child.text) for child in children]
        elif label == "Details":
            out["details"] = _details(value, children, unmapped)
        elif label in by_label:
            column = by_label[label]
            if children and value == "":
                out[column.field] = "\n".join(child.text for child in children)
            else:
                out[column.field] = column.codec.decode(value)
        else:
            unmapped.append((bullet.line, bullet.text))
    return out


def _details(value: str, children: list[Bullet], unmapped: Unmapped) -> dict[str, str]:
    if value:
        decoded: dict[str, str] = JSON.decode(value)
        return decoded
    details: dict[str, str] = {}
    for child in children:
        key, sep, text = child.text.partition(": ")
        if not sep:
            key, sep, text = child.text.partition(":")
        if not sep:
            unmapped.append((child.line, child.text))
            continue
        details[key] = TEXT.decode(text.strip())
    return details


def _titled(section: Section, columns: Sequence[Column], unmapped: Unmapped) -> dict[str, Any]:
    fields = _bullet_fields(section.blocks, columns, unmapped)
    fields.setdefault("title", section.title)
    return fields


def read_canonical(text: str, *, service: str | None = None) -> tuple[CatalogModel, Unmapped]:
    """The catalog a rendered document states, and any line it could not place."""
    unmapped: Unmapped = []
    root = build_sections(parse_blocks(text))
    data: dict[str, Any] = {"policies": {}}
    top = root.children[0] if root.children and root.children[0].depth == 1 else root
    meta_blocks = [block for block in top.blocks if not _is_note(block)]
    meta = _bullet_fields(meta_blocks, META_BULLETS, unmapped)
    data.update(meta)
    sections = top.children if top is not root else root.children
    for section in sections:
        kind = _KIND_BY_TITLE.get(section.title)
        blocks = [block for block in section.blocks if not _is_note(block)]
        tables = [block for block in blocks if isinstance(block, Table)]
        if kind == "principles" and tables:
            data["principles"] = _table_rows(tables[0], PRINCIPLE_COLUMNS, unmapped)
        elif kind == "failure_modes":
            data["failure_modes"] = [
                _titled(child, FAILURE_BULLETS, unmapped) for child in section.children
            ]
        elif kind == "policies":
            _read_policies(section, tables, data["policies"], unmapped)
        elif kind == "fallback" and tables:
            data["fallbacks"] = _table_rows(tables[0], FALLBACK_COLUMNS, unmapped)
        elif kind == "switches" and tables:
            data["switches"] = _table_rows(tables[0], SWITCH_COLUMNS, unmapped)
        elif kind == "metrics" and tables:
            data["metrics"] = _table_rows(tables[0], METRIC_COLUMNS, unmapped)
        elif kind == "rules" and tables:
            data["detection_rules"] = _table_rows(tables[0], RULE_COLUMNS, unmapped)
        elif kind == "chaos":
            data["experiments"] = [
                _titled(child, EXPERIMENT_BULLETS, unmapped) for child in section.children
            ]
        elif kind == "budget":
            data["error_budget"] = _bullet_fields(blocks, BUDGET_BULLETS, unmapped)
        elif kind == "runbooks":
            data["runbooks"] = _runbooks(blocks, unmapped)
        else:
            unmapped.append((section.line, section.title))
            unmapped.extend((block.line, str(block)) for block in blocks)
    if service is not None:
        data["service"] = service
    try:
        return CatalogModel.model_validate(data), unmapped
    except ValidationError as error:
        # A rendered document edited by hand: what it states may not be a valid catalog.
        problems = "; ".join(
            f"{'.'.join(str(part) for part in e['loc']) or 'catalog'}: {e['msg']}"
            for e in error.errors(include_url=False)[:5]
        )
        raise ConfigError(
            None,
            f"the document does not state a valid catalog: {problems}",
            hint="fix the listed fields in the document, or pass --service",
            code="MITIGATE.CONFIG.IMPORT",
        ) from None


def _read_policies(
    section: Section, tables: list[Table], policies: dict[str, Any], unmapped: Unmapped
) -> None:
    for row in _table_rows(tables[0], POLICY_COLUMNS, unmapped) if tables else []:
        target = row.pop("target", None)
        if target is None:
            unmapped.append((tables[0].line, "policy row without a target"))
            continue
        policies[target] = row
    for child in section.children:
        kind = _KIND_BY_TITLE.get(child.title)
        child_tables = [block for block in child.blocks if isinstance(block, Table)]
        if kind not in POLICY_PARTS or not child_tables:
            unmapped.append((child.line, child.title))
            continue
        attribute, columns = POLICY_PARTS[kind]
        for row in _table_rows(child_tables[0], columns, unmapped):
            target = row.pop("target", None)
            if target is None:
                unmapped.append((child_tables[0].line, f"{kind} row without a target"))
                continue
            policies.setdefault(target, {})[attribute] = row


def _runbooks(blocks: Sequence[Block], unmapped: Unmapped) -> list[dict[str, Any]]:
    runbooks: list[dict[str, Any]] = []
    for block in blocks:
        text = block.text if isinstance(block, Bullet) else str(block)
        link = _LINK.match(text) or _CODE_PATH.match(text)
        if link is None:
            unmapped.append((block.line, text))
            continue
        entry: dict[str, Any] = {"path": link["path"]}
        if link["title"] is not None:
            entry["title"] = TEXT.decode(link["title"])
        runbooks.append(entry)
    return runbooks
