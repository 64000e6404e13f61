"""The mutation check: an experiment that still passes without the mitigation it proves
cannot fail, and is a defect.

For each failure mode (and each principle), each of its mitigations is removed in turn
and every experiment covering it runs again:

- a **policy** (a target its catalog entry lists under ``mitigated_by``, directly or
  through a fallback; for code-first experiments, every pipeline the experiment built)
  is replaced by a pass-through pipeline;
- a **switch** (an id of the catalog's ``switches`` the failure mode lists) is turned off
  in ``run.switches``.

An experiment that fails now has *killed* the mutant; one that still passes *survived*
it. A mitigation is shown necessary when at least one experiment killed it
(:func:`mitigation_verdicts`).

.. versionadded:: 0.1
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from mitigate.chaos.experiment import ExperimentResult
from mitigate.chaos.runner import Runner, Suite

__all__ = ["MitigationVerdict", "Mutant", "mitigation_verdicts", "mutation_check"]

Outcome = Literal["killed", "survived", "error"]
Kind = Literal["policy", "switch"]


@dataclass(frozen=True, slots=True)
class Mutant:
    service: str
    failure_mode: str
    removed: str
    experiment: str
    outcome: Outcome
    reason: str = ""
    kind: Kind = "policy"
    """What was removed: a policy (pass-through pipeline) or a switch (turned off)."""

    def to_json(self) -> dict[str, str]:
        return {
            "service": self.service,
            "failure_mode": self.failure_mode,
            "removed": self.removed,
            "kind": self.kind,
            "experiment": self.experiment,
            "outcome": self.outcome,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class MitigationVerdict:
    """Whether one mitigation of one failure mode was shown necessary: ``killed`` when
    some experiment failed without it (``caught_by`` names them), ``survived`` when every
    experiment still passed, ``error`` when none could run."""

    service: str
    failure_mode: str
    removed: str
    kind: Kind
    outcome: Outcome
    caught_by: tuple[str, ...] = ()
    survived_in: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "failure_mode": self.failure_mode,
            "removed": self.removed,
            "kind": self.kind,
            "outcome": self.outcome,
            "caught_by": list(self.caught_by),
            "survived_in": list(self.survived_in),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MitigationVerdict:
        return cls(
            data["service"],
            data["failure_mode"],
            data["removed"],
            data.get("kind", "policy"),
            data["outcome"],
            tuple(data.get("caught_by", ())),
            tuple(data.get("survived_in", ())),
        )

    def describe(self) -> str:
        """One line for a report cell.

        >>> MitigationVerdict("s", "s.fm.1", "kms.sign", "policy", "killed", ("s.x",)).describe()
        'kms.sign: killed by s.x'
        """
        if self.outcome == "killed":
            return f"{self.removed}: killed by {', '.join(self.caught_by)}"
        if self.outcome == "survived":
            return f"{self.removed}: survived (not shown necessary)"
        return f"{self.removed}: error (could not run without it)"


def mitigation_verdicts(mutants: Iterable[Mutant]) -> list[MitigationVerdict]:
    """One verdict per (service, failure mode, removed mitigation), in first-seen order."""
    groups: dict[tuple[str, str, str, str], list[Mutant]] = {}
    for m in mutants:
        groups.setdefault((m.service, m.failure_mode, m.kind, m.removed), []).append(m)
    out: list[MitigationVerdict] = []
    for (service, fm_id, kind, removed), group in groups.items():
        caught = tuple(m.experiment for m in group if m.outcome == "killed")
        survived = tuple(m.experiment for m in group if m.outcome == "survived")
        outcome: Outcome = "killed" if caught else "survived" if survived else "error"
        out.append(
            MitigationVerdict(
                service,
                fm_id,
                removed,
                "switch" if kind == "switch" else "policy",
                outcome,
                caught,
                survived,
            )
        )
    return out


def verdicts_for(
    result: ExperimentResult, verdicts: Sequence[MitigationVerdict]
) -> list[MitigationVerdict]:
    """The verdicts of the failure modes and principles a result row stands for."""
    modes = set(result.failure_modes) | set(result.principles) | {result.id}
    return [v for v in verdicts if v.service == result.service and v.failure_mode in modes]


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
    consulted = {r.id: set(r.switches) for r in baseline}
    plans: list[tuple[str, str, list[tuple[Kind, str]]]] = []
    for fm_id in sorted(suite.covers):
        named_switches = suite.switches.get(fm_id, [])
        for exp_id in suite.covers.get(fm_id, []):
            targets = suite.mitigations.get(fm_id) or (
                [] if named_switches else built.get(exp_id, [])
            )
            removals: list[tuple[Kind, str]] = [("policy", t) for t in targets]
            removals += [("switch", s) for s in named_switches]
            plans.append((fm_id, exp_id, removals))
    # A table row's own experiment: its policy removed, and each switch the row names.
    for row_id in sorted(suite.row_mitigations):
        removals = [("policy", t) for t in suite.row_mitigations[row_id]]
        removals += [("switch", s) for s in suite.row_switches.get(row_id, [])]
        plans.append((row_id, row_id, removals))
    mutants: list[Mutant] = []
    for fm_id, exp_id, removals in plans:
        if exp_id not in verified or exp_id not in specs:
            continue
        for kind, name in removals:
            if kind == "policy":
                result = runner.run_one(suite, specs[exp_id], passthrough=frozenset({name}))
            else:
                result = runner.run_one(suite, specs[exp_id], switches_off=frozenset({name}))
            reason = result.reason
            if result.verdict == "verified":
                outcome: Outcome = "survived"
                if kind == "switch" and name not in consulted.get(exp_id, set()):
                    reason = (
                        f"the service never asked switch {name!r}: give it run.switches "
                        "and call switches.enabled(id) where the mitigation acts"
                    )
            elif result.verdict == "failed":
                outcome = "killed"
            else:
                outcome = "error"
            mutant = Mutant(suite.service, fm_id, name, exp_id, outcome, reason, kind)
            mutants.append(mutant)
            if on_mutant is not None:
                on_mutant(mutant)
    return mutants
