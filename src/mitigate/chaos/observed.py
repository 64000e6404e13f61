"""Was the failure detected? A row is verified only when what its catalog claims as
detection was observed in the run, not merely when its checks passed.

For each failure mode an experiment names, when the catalog entry lists
``detection_rules``:
- its own row (the experiment whose id is the failure mode's id) must have seen one of
  those rules raise an ``alert.raised``;
- when the failure mode has no row of its own (``checkout.fm.1`` proven by
  ``checkout.chaos.gateway-outage``), every experiment naming it must have seen one of
  its rules fire: nothing else proves the detection the catalog claims;
- when it has a row of its own, another row naming it (a chaos, retry or fallback row,
  whose detection the seed states on its own line) needs some observed detection.

A failure mode without rules needs some observed detection: an alert or a breaker
opening after the fault, an ``expect_event`` probe, or ``run.detected(...)``.

A principle is held to the same rules as a failure mode: its ``detection_rules`` when it
lists some (its own row is the experiment with its id), else some observed detection.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Detection", "observed_detection"]


@dataclass(slots=True)
class Detection:
    """What a run observed: the rules that fired (by id) and the failure modes whose
    claimed detection never showed, each with the reason."""

    rules: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def observed_detection(
    run: Any,
    row_id: str,
    failure_modes: tuple[str, ...],
    own_rows: frozenset[str] | set[str] = frozenset(),
) -> Detection:
    """What ``run`` (row ``row_id``) observed of the detection of ``failure_modes``;
    ``own_rows`` are the ids of every row of the suite (a failure mode whose id is among
    them has a row of its own)."""
    fired = sorted({str(getattr(e, "rule", "")) for e in run.recorder.named("alert.raised")})
    catalog = getattr(run, "catalog", None)
    # The rules the catalog claims for these failure modes come first: they are the why.
    claimed = {r for mode_id in failure_modes for r in _rules_of(catalog, mode_id)}
    out = Detection(rules=sorted((r for r in fired if r), key=lambda r: (r not in claimed, r)))
    for mode_id in failure_modes:
        rules = _rules_of(catalog, mode_id)
        if set(rules) & set(out.rules):
            continue
        if rules and (row_id == mode_id or mode_id not in own_rows):
            out.missing.append(f"{mode_id}: none of its rules fired ({', '.join(rules)})")
        elif run.detection_delay() is None:
            out.missing.append(
                f"{mode_id}: nothing detected the fault (no rule of it fired; no alert, "
                "breaker opening, expect_event or run.detected after the fault)"
            )
    return out


def _rules_of(catalog: Any, mode_id: str) -> list[str]:
    if catalog is None:
        return []
    for row in (*catalog.model.failure_modes, *catalog.model.principles):
        if row.id == mode_id:
            return list(row.detection_rules)
    return []
