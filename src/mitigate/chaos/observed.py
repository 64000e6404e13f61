"""Was the failure detected? A row is verified only when what its catalog claims as
detection was observed in the run, not merely when its checks passed.

For each failure mode an experiment names:
- the failure mode's own row (the experiment whose id is the failure mode's id), when
  the catalog entry lists ``detection_rules``: one of those rules must have raised an
  ``alert.raised`` during the run;
- any other row naming it (a chaos, retry or fallback row, whose detection the seed
  states on its own line), or a failure mode without rules: the run must have observed a
  detection: one of its rules firing, an ``expect_event`` probe, ``run.detected(...)``,
  an alert or a breaker opening after the fault.
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


def observed_detection(run: Any, row_id: str, failure_modes: tuple[str, ...]) -> Detection:
    fired = sorted({str(getattr(e, "rule", "")) for e in run.recorder.named("alert.raised")})
    out = Detection(rules=[r for r in fired if r])
    catalog = getattr(run, "catalog", None)
    for mode_id in failure_modes:
        rules = _rules_of(catalog, mode_id)
        if set(rules) & set(out.rules):
            continue
        if rules and row_id == mode_id:
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
    for mode in catalog.model.failure_modes:
        if mode.id == mode_id:
            return list(mode.detection_rules)
    return []
