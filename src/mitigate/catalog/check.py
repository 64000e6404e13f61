"""Checks across a whole catalog: ids are unique and every reference resolves.

These are errors (``Catalog.load`` refuses the file, lint lists them). Completeness
(a failure mode without a runbook) is lint's business, in :mod:`mitigate.catalog.lint`.

>>> from mitigate.catalog.model import CatalogModel
>>> model = CatalogModel.model_validate({"service": "s", "failure_modes": [
...     {"id": "s.fm.1", "title": "x", "detection_rules": ["s.rule.9"]}]})
>>> [str(f) for f in check_references(model)]
["catalog: error unknown-ref: failure_modes[0].detection_rules[0]: no detection rule 's.rule.9'"]

.. versionadded:: 0.1
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from mitigate.catalog.findings import Finding, Level
from mitigate.catalog.model import CatalogModel
from mitigate.catalog.source import SourceDoc, format_loc

__all__ = ["Locator", "check_references", "ids", "policy_part_ids"]

Loc = tuple[str | int, ...]


class Locator:
    """Makes findings that carry the file and line of a data path (when the catalog
    came from a file)."""

    def __init__(self, doc: SourceDoc | None = None) -> None:
        self._doc = doc

    def finding(self, code: str, level: Level, message: str, loc: Sequence[str | int]) -> Finding:
        line = self._doc.lines.line_of(loc) if self._doc is not None else None
        file = self._doc.path if self._doc is not None else None
        return Finding(code, level, message, field=format_loc(loc), file=file, line=line)


def policy_part_ids(model: CatalogModel) -> Iterator[tuple[str, Loc]]:
    """Ids given to policy parts (``content.retry.1``) with their data paths."""
    for target, policy in model.policies.items():
        for part in ("retry", "breaker", "bulkhead", "rate_limit"):
            spec = getattr(policy, part)
            if spec is not None and spec.id is not None:
                yield spec.id, ("policies", target, part, "id")


def ids(model: CatalogModel) -> Iterator[tuple[str, str, Loc]]:
    """Every id in the catalog as (id, kind, data path); one namespace for all kinds,
    because ``mitigated_by`` may name a policy, a policy part, a fallback or a switch."""
    for target in model.policies:
        yield target, "policy", ("policies", target)
    for part_id, loc in policy_part_ids(model):
        yield part_id, "policy part", loc
    groups: tuple[tuple[str, str, Sequence[Any]], ...] = (
        ("fallback", "fallbacks", model.fallbacks),
        ("switch", "switches", model.switches),
        ("detection rule", "detection_rules", model.detection_rules),
        ("failure mode", "failure_modes", model.failure_modes),
        ("experiment", "experiments", model.experiments),
        ("principle", "principles", model.principles),
    )
    for kind, field, items in groups:
        for index, item in enumerate(items):
            if item.id is not None:
                yield item.id, kind, (field, index, "id")
    if model.error_budget is not None and model.error_budget.id is not None:
        yield model.error_budget.id, "error budget", ("error_budget", "id")


def check_references(model: CatalogModel, doc: SourceDoc | None = None) -> list[Finding]:
    """Duplicate ids and references to nothing, as findings with file and line."""
    at = Locator(doc)
    findings: list[Finding] = []

    seen: dict[str, tuple[str, Loc]] = {}
    for item_id, kind, loc in ids(model):
        if item_id in seen:
            first_kind, first_loc = seen[item_id]
            findings.append(
                at.finding(
                    "duplicate-id",
                    "error",
                    f"id {item_id!r} is already used by a {first_kind} at {format_loc(first_loc)}",
                    loc,
                )
            )
        else:
            seen[item_id] = (kind, loc)

    fallbacks = {f.id for f in model.fallbacks}
    rules = {r.id for r in model.detection_rules}
    experiments = {e.id for e in model.experiments}
    modes = {m.id for m in model.failure_modes}
    principles = {p.id for p in model.principles if p.id is not None}
    switches = {s.id for s in model.switches}
    mitigations = (
        set(model.policies) | {i for i, _ in policy_part_ids(model)} | fallbacks | switches
    )

    def refs(names: Iterable[str], known: set[str], what: str, loc: Loc) -> None:
        for index, name in enumerate(names):
            if name not in known:
                findings.append(
                    at.finding("unknown-ref", "error", _unknown(what, name, known), (*loc, index))
                )

    for target, policy in model.policies.items():
        if policy.fallback is not None and policy.fallback not in fallbacks:
            findings.append(
                at.finding(
                    "unknown-ref",
                    "error",
                    _unknown("fallback", policy.fallback, fallbacks),
                    ("policies", target, "fallback"),
                )
            )
    for target, policy in model.policies.items():
        if policy.breaker is not None:
            refs(
                policy.breaker.switches or [],
                switches,
                "switch",
                ("policies", target, "breaker", "switches"),
            )
    for index, fallback in enumerate(model.fallbacks):
        if fallback.policy is not None and fallback.policy not in model.policies:
            findings.append(
                at.finding(
                    "unknown-ref",
                    "error",
                    _unknown("policy", fallback.policy, set(model.policies)),
                    ("fallbacks", index, "policy"),
                )
            )
    for index, mode in enumerate(model.failure_modes):
        base: Loc = ("failure_modes", index)
        refs(mode.detection_rules, rules, "detection rule", (*base, "detection_rules"))
        refs(mode.mitigated_by, mitigations, "policy, fallback or switch", (*base, "mitigated_by"))
        refs(mode.experiments, experiments, "experiment", (*base, "experiments"))
    for index, principle in enumerate(model.principles):
        base = ("principles", index)
        refs(principle.detection_rules, rules, "detection rule", (*base, "detection_rules"))
        refs(
            principle.mitigated_by,
            mitigations,
            "policy, fallback or switch",
            (*base, "mitigated_by"),
        )
        refs(principle.experiments, experiments, "experiment", (*base, "experiments"))
    for index, experiment in enumerate(model.experiments):
        refs(
            experiment.failure_modes,
            modes,
            "failure mode",
            ("experiments", index, "failure_modes"),
        )
        refs(experiment.principles, principles, "principle", ("experiments", index, "principles"))
    refs(model.real_time, modes | fallbacks | experiments | principles, "row", ("real_time",))
    return findings


def _unknown(what: str, name: str, known: set[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=3, cutoff=0.6)
    text = f"no {what} {name!r}"
    if close:
        text += f"; did you mean {', '.join(repr(c) for c in close)}?"
    return text
