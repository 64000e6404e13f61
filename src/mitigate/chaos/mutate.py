"""The mutation check: an experiment that still passes without the mitigation it proves
cannot fail, and is a defect.

For each failure mode, each of its automatic mitigations (the policy targets its
catalog entry lists under ``mitigated_by``; for code-first experiments, every pipeline
the experiment built) is replaced in turn by a pass-through pipeline, and every
experiment covering the failure mode runs again. An experiment that fails now has
*killed* the mutant; one that still passes *survived* it.

.. versionadded:: 0.1
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from mitigate.chaos.experiment import ExperimentResult
from mitigate.chaos.runner import Runner, Suite

__all__ = ["Mutant", "mutation_check"]


@dataclass(frozen=True, slots=True)
class Mutant:
    service: str
    failure_mode: str
    removed: str
    experiment: str
    outcome: Literal["killed", "survived", "error"]
    reason: str = ""

    def to_json(self) -> dict[str, str]:
        return {
            "service": self.service,
            "failure_mode": self.failure_mode,
            "removed": self.removed,
            "experiment": self.experiment,
            "outcome": self.outcome,
            "reason": self.reason,
        }


def mutation_check(
    suite: Suite,
    baseline: list[ExperimentResult],
    runner: Runner,
    on_mutant: Callable[[Mutant], None] | None = None,
) -> list[Mutant]:
    """Run every covering experiment once per removed mitigation; ``baseline`` is the
    normal run (only experiments verified there are worth mutating)."""
    verified = {r.id for r in baseline if r.verdict == "verified"}
    specs = {s.id: s for s in suite.experiments}
    # Code-first experiments (no catalog mitigations): the pipelines they built.
    built = {r.id: r.pipelines for r in baseline}
    mutants: list[Mutant] = []
    for fm_id in sorted(suite.covers):
        for exp_id in suite.covers.get(fm_id, []):
            if exp_id not in verified or exp_id not in specs:
                continue
            targets = suite.mitigations.get(fm_id) or built.get(exp_id, [])
            for target in targets:
                result = runner.run_one(suite, specs[exp_id], passthrough=frozenset({target}))
                if result.verdict == "verified":
                    outcome: Literal["killed", "survived", "error"] = "survived"
                elif result.verdict == "failed":
                    outcome = "killed"
                else:
                    outcome = "error"
                mutant = Mutant(suite.service, fm_id, target, exp_id, outcome, result.reason)
                mutants.append(mutant)
                if on_mutant is not None:
                    on_mutant(mutant)
    return mutants
