"""Read a catalog file: YAML data plus the line of every key and item, then validate it.

Validation errors from pydantic carry a location (``policies.kms.sign.retry.backoff``);
:class:`LineMap` turns it into the line the author must fix.

A catalog may come from another team or a pull request, so reading it is bounded: aliases
are refused (the walk below would expand every use, and a few hundred bytes of nested
aliases become gigabytes; a recursive one never ends), and size, nesting depth, node
count and number magnitude are capped (:mod:`mitigate.catalog.limits`). Each refusal is
a :class:`CatalogError` naming the line.

>>> doc = read_yaml("service: content\\npolicies:\\n  kms.sign:\\n    timeout: soon\\n", "c.yaml")
>>> doc.lines.line_of(("policies", "kms.sign", "timeout"))
4
>>> doc.data["policies"]
{'kms.sign': {'timeout': 'soon'}}

.. versionadded:: 0.1
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from mitigate.catalog import limits
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


class _RefusedError(Exception):
    """Input beyond what a catalog may hold: one finding at a YAML mark."""

    def __init__(self, code: str, message: str, mark: Any, loc: Loc = ()) -> None:
        super().__init__(message)
        self.code, self.message, self.loc = code, message, loc
        self.line = mark.line + 1 if mark is not None else None


class _Loader(yaml.SafeLoader):
    """SafeLoader; we walk the composed nodes ourselves to keep their marks.

    Composing refuses aliases and caps depth and node count *before* descending, so
    neither the composer's recursion nor our walk can run away.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent):
            raise _RefusedError(
                "yaml",
                f"aliases (*{event.anchor}) are not allowed in a catalog; write the value out",
                event.start_mark,
            )
        self._nodes += 1
        if self._nodes > limits.MAX_NODES:
            raise _RefusedError(
                "yaml",
                f"more than {limits.MAX_NODES} values; split the catalog",
                event.start_mark,
            )
        if self._depth >= limits.MAX_DEPTH:
            raise _RefusedError(
                "yaml", f"nested deeper than {limits.MAX_DEPTH} levels", event.start_mark
            )
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def read_yaml(text: str, path: str = "<catalog>") -> SourceDoc:
    """Parse ``text``; a YAML syntax error becomes a CatalogError naming the line."""
    if len(text) > limits.MAX_CHARS:
        raise CatalogError(path, [_too_big(path, len(text))])
    loader: _Loader | None = None
    try:
        loader = _Loader(text)  # the reader refuses control characters right here
        node = loader.get_single_node()
        lines = LineMap()
        duplicates: list[Finding] = []
        data = _walk(loader, node, (), lines, duplicates, path) if node is not None else None
    except _RefusedError as exc:
        finding = Finding(
            exc.code, "error", exc.message, field=format_loc(exc.loc), file=path, line=exc.line
        )
        raise CatalogError(path, [finding]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        reason = exc.problem or exc.context or "invalid YAML"
        raise CatalogError(
            path, [Finding("yaml", "error", f"invalid YAML: {reason}", file=path, line=line)]
        ) from None
    except yaml.reader.ReaderError as exc:
        # a control character: no mark, only an offset into the text
        line = text.count("\n", 0, exc.position) + 1
        raise CatalogError(
            path, [Finding("yaml", "error", f"invalid YAML: {exc}", file=path, line=line)]
        ) from None
    except yaml.YAMLError as exc:
        raise CatalogError(
            path, [Finding("yaml", "error", f"invalid YAML: {exc}", file=path)]
        ) from None
    except ValueError as exc:
        # PyYAML's scanner calls chr() on a "\U..." escape past U+10FFFF unchecked
        line = loader.line + 1 if loader is not None else None
        raise CatalogError(
            path, [Finding("yaml", "error", f"invalid YAML escape: {exc}", file=path, line=line)]
        ) from None
    finally:
        if loader is not None:
            loader.dispose()
    return SourceDoc(data, lines, path, duplicates)


def _too_big(path: str, size: int) -> Finding:
    return Finding(
        "yaml",
        "error",
        f"file too large ({size} characters, at most {limits.MAX_CHARS}); split the catalog",
        file=path,
    )


def _scalar(loader: _Loader, node: yaml.Node, loc: Loc) -> Any:
    """A plain value, refusing numbers no catalog field can hold and values the YAML
    constructors cannot build (``2001-13-45`` resolves as a date)."""
    if (
        isinstance(node, yaml.ScalarNode)
        and node.tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
        and len(node.value) > limits.MAX_NUMBER_CHARS
    ):
        raise _RefusedError(
            "too-large", f"number too long: {node.value[:20]}...", node.start_mark, loc
        )
    try:
        value = loader.construct_object(node, deep=True)
    except (ValueError, OverflowError) as exc:
        raise _RefusedError(
            "yaml", f"invalid value {node.value!r}: {exc}", node.start_mark, loc
        ) from None
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and abs(value) > limits.MAX_INT:
        raise _RefusedError(
            "too-large",
            f"{value} is larger than any catalog value (at most {limits.MAX_INT})",
            node.start_mark,
            loc,
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise _RefusedError(
            "too-large", f"{node.value!r} is not a finite number", node.start_mark, loc
        )
    return value


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
            raw = _scalar(loader, key_node, loc)
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
    return _scalar(loader, node, loc)


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
            code = _CODES.get(error["type"], "schema")
            if code == "too-large":
                # beyond a cap: that is the whole story, whatever other union branches said
                merged[loc] = (code, [_message(error)])
                continue
            known_code, messages = merged.setdefault(loc, (code, []))
            if known_code != "too-large" and _message(error) not in messages:
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


_CODES = {"extra_forbidden": "unknown-field", "too_large": "too-large"}


def _message(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown field (check its spelling against `mitigate catalog schema`)"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def read_catalog(path: str | Path) -> tuple[SourceDoc, CatalogModel | None, list[Finding]]:
    """Read and validate a catalog file; an unreadable file raises CatalogError."""
    name = str(path)
    try:
        with Path(path).open("rb") as handle:
            # at most one byte past the cap: a huge file is refused without reading it all
            raw = handle.read(limits.MAX_CHARS * 4 + 1)
    except OSError as exc:
        raise CatalogError(
            name, [Finding("io", "error", f"cannot read: {exc.strerror}", file=name)]
        ) from None
    if len(raw) > limits.MAX_CHARS * 4:
        raise CatalogError(name, [_too_big(name, len(raw))])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise CatalogError(
            name,
            [Finding("io", "error", f"not UTF-8 text (byte {exc.start})", file=name, line=line)],
        ) from None
    doc = read_yaml(text, name)
    model, findings = validate(doc)
    return doc, model, findings
