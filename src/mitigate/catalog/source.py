"""Read a catalog file: YAML data plus the line of every key and item, then validate it.

Validation errors from pydantic carry a location (``policies.kms.sign.retry.backoff``);
:class:`LineMap` turns it into the line the author must fix.

>>> doc = read_yaml("service: content\\npolicies:\\n  kms.sign:\\n    timeout: soon\\n", "c.yaml")
>>> doc.lines.line_of(("policies", "kms.sign", "timeout"))
4
>>> doc.data["policies"]
{'kms.sign': {'timeout': 'soon'}}

.. versionadded:: 0.1
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from mitigate.catalog.findings import CatalogError, Finding
from mitigate.catalog.model import CatalogModel

__all__ = ["LineMap", "SourceDoc", "format_loc", "read_catalog", "read_yaml", "validate"]

Loc = tuple[str | int, ...]


@dataclass(slots=True)
class LineMap:
    """Line numbers (1-based) by data path: keys, list items and mapping nodes."""

    lines: dict[Loc, int] = field(default_factory=dict)

    def line_of(self, loc: Sequence[str | int]) -> int | None:
        """The line of the longest known prefix of ``loc`` (pydantic adds union branches
        and validator names after the real path; those are skipped)."""
        path = tuple(loc)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), None)


@dataclass(slots=True)
class SourceDoc:
    data: Any
    lines: LineMap
    path: str
    duplicates: list[Finding] = field(default_factory=list)


class _Loader(yaml.SafeLoader):
    """SafeLoader; we walk the composed nodes ourselves to keep their marks."""


def read_yaml(text: str, path: str = "<catalog>") -> SourceDoc:
    """Parse ``text``; a YAML syntax error becomes a CatalogError naming the line."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        lines = LineMap()
        duplicates: list[Finding] = []
        data = _walk(loader, node, (), lines, duplicates, path) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        reason = exc.problem or exc.context or "invalid YAML"
        raise CatalogError(
            path, [Finding("yaml", "error", f"invalid YAML: {reason}", file=path, line=line)]
        ) from None
    except yaml.YAMLError as exc:
        raise CatalogError(
            path, [Finding("yaml", "error", f"invalid YAML: {exc}", file=path)]
        ) from None
    finally:
        loader.dispose()
    return SourceDoc(data, lines, path, duplicates)


def _walk(
    loader: _Loader,
    node: yaml.Node,
    loc: Loc,
    lines: LineMap,
    duplicates: list[Finding],
    path: str,
) -> Any:
    lines.lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # resolves YAML merge keys (<<)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            raw = loader.construct_object(key_node, deep=True)
            if isinstance(raw, list | dict | set):
                raise yaml.MarkedYAMLError(
                    problem="a mapping key must be a plain value", problem_mark=key_node.start_mark
                )
            key: str | int = (
                raw if isinstance(raw, str | int) and not isinstance(raw, bool) else str(raw)
            )
            child = (*loc, key)
            if key in out:
                duplicates.append(
                    Finding(
                        "duplicate-key",
                        "error",
                        f"key {key!r} is given twice (first on line {lines.lines[child]})",
                        field=format_loc(child),
                        file=path,
                        line=key_node.start_mark.line + 1,
                    )
                )
                continue
            lines.lines[child] = key_node.start_mark.line + 1
            out[key] = _walk(loader, value_node, child, lines, duplicates, path)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item in enumerate(node.value):
            lines.lines[(*loc, index)] = item.start_mark.line + 1
            items.append(_walk(loader, item, (*loc, index), lines, duplicates, path))
        return items
    return loader.construct_object(node, deep=True)


def format_loc(loc: Sequence[str | int]) -> str:
    """``('failure_modes', 0, 'runbook')`` -> ``failure_modes[0].runbook``.

    >>> format_loc(("policies", "kms.sign", "retry"))
    'policies.kms.sign.retry'
    """
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _real_loc(loc: Sequence[str | int], lines: LineMap) -> tuple[str | int, ...]:
    # Drop what pydantic appends after the data path (union branches such as 'float',
    # validator names such as 'function-after[...]'), keeping keys the file really has.
    path = tuple(loc)
    while path and path not in lines.lines and len(path) > 1:
        if path[:-1] in lines.lines:
            last = path[-1]
            # an unknown key or missing field is reported at its parent's location,
            # but its name stays in the field path
            if (
                isinstance(last, str)
                and not last.startswith(("function-", "tagged-"))
                and (last not in ("float", "str", "int", "bool", "list", "dict", "none"))
            ):
                return path
        path = path[:-1]
    return path


def validate(doc: SourceDoc) -> tuple[CatalogModel | None, list[Finding]]:
    """Validate the data against the schema; findings carry file, line and field."""
    findings = list(doc.duplicates)
    if not isinstance(doc.data, dict):
        findings.append(
            Finding(
                "schema",
                "error",
                "a catalog is a mapping (service: ..., policies: ...)",
                file=doc.path,
                line=doc.lines.line_of(()),
            )
        )
        return None, findings
    try:
        model = CatalogModel.model_validate(doc.data)
    except ValidationError as exc:
        # One finding per place: a value that fits no branch of a union (number or
        # notation string) gives one error per branch, merged into one message here.
        merged: dict[tuple[str | int, ...], tuple[str, list[str]]] = {}
        for error in exc.errors(include_url=False):
            loc = _real_loc(error["loc"], doc.lines)
            code = "unknown-field" if error["type"] == "extra_forbidden" else "schema"
            _, messages = merged.setdefault(loc, (code, []))
            if _message(error) not in messages:
                messages.append(_message(error))
        for loc, (code, messages) in merged.items():
            first, *others = messages
            text = ", or ".join([first, *(m.removeprefix("Input should be ") for m in others)])
            findings.append(
                Finding(
                    code,
                    "error",
                    text,
                    field=format_loc(loc),
                    file=doc.path,
                    line=doc.lines.line_of(loc),
                )
            )
        return None, findings
    return model, findings


def _message(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown field (check its spelling against `mitigate catalog schema`)"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def read_catalog(path: str | Path) -> tuple[SourceDoc, CatalogModel | None, list[Finding]]:
    """Read and validate a catalog file; an unreadable file raises CatalogError."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError(
            name, [Finding("io", "error", f"cannot read: {exc.strerror}", file=name)]
        ) from None
    doc = read_yaml(text, name)
    model, findings = validate(doc)
    return doc, model, findings
