"""The saga state machine: where a saga goes after each outcome, with no I/O.

Each function takes the saga's step records (one per step: ``None`` before the step ran,
else a dict with ``result`` / ``interrupted`` / ``undone_at`` / ``undo_error``) and an
outcome, and returns the :class:`Transition` to write: the next state, the step it points
at, and the new records. The input list is never changed in place: the worker adopts the
new records only once they are durable.

>>> t = action_succeeded([None, None], 0, "pkg-1", epoch=1, at=5.0)
>>> t.state, t.step, t.steps[0]["result"]
('running', 1, 'pkg-1')
>>> action_failed(t.steps, 1, interrupted=False, epoch=1).state
'compensating'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "ACTIVE_STATES",
    "SETTLED_STATES",
    "Steps",
    "Transition",
    "action_failed",
    "action_succeeded",
    "definition_fits",
    "next_undo",
    "undo_failed",
    "undo_succeeded",
]

Steps = list[dict[str, Any] | None]

ACTIVE_STATES = ("running", "compensating")
# States no worker moves a saga out of by itself (an operator may: `mitigate saga retry`).
SETTLED_STATES = ("completed", "compensated", "compensation_failed", "parked")


@dataclass(frozen=True, slots=True)
class Transition:
    """The next row: ``state``, the ``step`` it points at, the step records; ``terminal``
    when no worker holds the saga afterwards (its lease is dropped)."""

    state: str
    step: int
    steps: Steps
    terminal: bool = False


def next_undo(steps: Steps) -> int | None:
    """The highest step whose effect may exist and is not undone yet."""
    for j in range(len(steps) - 1, -1, -1):
        entry = steps[j]
        if entry is None or "undone_at" in entry:
            continue
        if "result" in entry or entry.get("interrupted"):
            return j
    return None


def action_succeeded(steps: Steps, k: int, result: Any, *, epoch: int, at: float) -> Transition:
    """Step ``k``'s action returned ``result``: the next step, or ``completed``."""
    new = list(steps)
    new[k] = {"result": result, "epoch": epoch, "done_at": at}
    if k + 1 == len(new):
        return Transition("completed", k, new, terminal=True)
    return Transition("running", k + 1, new)


def action_failed(steps: Steps, k: int, *, interrupted: bool, epoch: int) -> Transition:
    """Step ``k`` failed (or was cut off): compensate what may have happened, newest first.

    ``interrupted``: the step's outcome is unknown (a deadline cut it off, or its result
    could not be recorded), so it is compensated too.
    """
    new = list(steps)
    if interrupted:
        entry = dict(new[k] or {})
        if "result" not in entry:
            entry["interrupted"] = True
            entry.setdefault("epoch", epoch)
        new[k] = entry
    return _after_undo(new, k)


def undo_succeeded(steps: Steps, j: int, *, at: float) -> Transition:
    """Step ``j``'s compensation ran: the next one, or ``compensated``."""
    new = list(steps)
    entry = dict(new[j] or {})
    entry["undone_at"] = at
    entry.pop("undo_error", None)
    new[j] = entry
    return _after_undo(new, j)


def undo_failed(steps: Steps, j: int, error: str) -> Transition:
    """Step ``j``'s compensation ran out of retries: parked in ``compensation_failed``."""
    new = list(steps)
    entry = dict(new[j] or {})
    entry["undo_error"] = error
    new[j] = entry
    return Transition("compensation_failed", j, new, terminal=True)


def definition_fits(steps: object, count: int, *, step: int) -> bool:
    """Whether a row's step records fit a definition of ``count`` steps (a step added or
    removed since the saga started, or a corrupt row, does not)."""
    return (
        isinstance(steps, list)
        and len(steps) == count
        and 0 <= step < count
        and all(entry is None or isinstance(entry, dict) for entry in steps)
    )


def _after_undo(steps: Steps, at: int) -> Transition:
    nxt = next_undo(steps)
    if nxt is None:
        return Transition("compensated", at, steps, terminal=True)
    return Transition("compensating", nxt, steps)
