"""Sagas defined in code: ordered steps, each with an action, a compensation and a retry policy.

A :class:`Saga` is pure data; a :class:`~mitigate.durable.saga_worker.SagaWorker` runs it
against a store. Each step's action and compensation receive a :class:`StepContext` and may
be plain or ``async`` functions. The retry policy is a catalog target name (resolved by the
worker's ``policies``), an inline ``Retry`` / ``Pipeline`` from :mod:`mitigate.policy`, or
:class:`Attempts` (a minimal schedule needing nothing else); ``None`` means one attempt.

>>> def build(ctx: StepContext) -> dict[str, str]:
...     return {"package": f"pkg-{ctx.input['draft']}"}
>>> def discard(ctx: StepContext) -> None:
...     print("discard", ctx.result["package"], "key", ctx.idempotency_key)
>>> publish = Saga(
...     "content.publish",
...     [Step("build", build, discard, retry=Attempts(max_retries=3, delays=(0.5, 2.0))),
...      Step("register", lambda ctx: "cv-1")],
...     deadline=15 * 60,
...     stuck_after=5 * 60,
... )
>>> [s.name for s in publish.steps], publish.deadline
(['build', 'register'], 900.0)
>>> Saga("empty", [])  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
mitigate.durable.errors.SagaConfigError: [MITIGATE.CONFIG.SAGA] empty: a saga needs ...

.. versionadded:: 0.1
"""

from __future__ import annotations

import datetime
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mitigate.durable.errors import SagaConfigError

__all__ = [
    "Attempts",
    "Saga",
    "SagaOutcome",
    "Step",
    "StepAction",
    "StepContext",
    "StepPolicy",
]

StepAction = Callable[["StepContext"], Any | Awaitable[Any]]
# A catalog target name, a mitigate.policy Retry / Pipeline, an Attempts, or None.
StepPolicy = Any


def _seconds(value: float | datetime.timedelta | None, what: str, target: str) -> float | None:
    if value is None:
        return None
    seconds = value.total_seconds() if isinstance(value, datetime.timedelta) else float(value)
    if not seconds > 0:
        raise SagaConfigError(target, f"{what} must be a positive number of seconds, not {value!r}")
    return seconds


@dataclass(frozen=True, slots=True)
class Attempts:
    """A minimal retry schedule: ``max_retries`` after the first attempt, waiting
    ``delays[i]`` before retry ``i + 1`` (the last delay repeats; none means no wait).

    Use it where no catalog or :mod:`mitigate.policy` pipeline is at hand; it retries on
    ``retry_on`` exceptions only and re-raises the last error when it runs out.

    >>> Attempts(max_retries=2, delays=(0.1,)).delay(2)
    0.1
    >>> Attempts(max_retries=-1)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    mitigate.durable.errors.SagaConfigError: [MITIGATE.CONFIG.SAGA] Attempts: max_retries ...
    """

    max_retries: int = 0
    delays: tuple[float, ...] = ()
    retry_on: tuple[type[BaseException], ...] = (Exception,)

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise SagaConfigError("Attempts", f"max_retries must be >= 0, not {self.max_retries}")
        if any(d < 0 for d in self.delays):
            raise SagaConfigError("Attempts", f"delays must be >= 0, not {self.delays}")

    def delay(self, retry: int) -> float:
        """The wait before retry number ``retry`` (1-based)."""
        if not self.delays:
            return 0.0
        return self.delays[min(retry, len(self.delays)) - 1]


@dataclass(frozen=True, slots=True)
class Step:
    """One saga step.

    ``action(ctx)`` does the work and returns a JSON-serialisable result (recorded once).
    ``compensation(ctx)`` undoes it (``ctx.result`` is the recorded result, or ``None`` when
    the action was interrupted before its result was recorded); it must be safe to run more
    than once and when there is nothing to undo. ``retry`` and ``compensation_retry`` (default:
    the same as ``retry``) are the policies. ``key(ctx)`` overrides the idempotency key
    (default ``"<saga id>:<step name>"``; compensations add ``":undo"``). ``stuck_after``
    overrides the saga's stuck-step threshold for this step.

    ``transactional=True``: the action gets ``ctx.tx``, a transaction on the worker's store,
    and its effect (what it writes through ``ctx.tx``, outbox rows included), the saga's
    checkpoint and the step's result commit together or not at all; each attempt is its
    own transaction. Write only through ``ctx.tx`` inside it (on SQLite the store's own
    connection is busy with it).
    """

    name: str
    action: StepAction
    compensation: StepAction | None = None
    retry: StepPolicy = None
    compensation_retry: StepPolicy = None
    key: Callable[[StepContext], str] | None = None
    stuck_after: float | None = None
    transactional: bool = False

    def __post_init__(self) -> None:
        if not self.name or ":" in self.name:
            raise SagaConfigError(self.name or "step", "a step needs a name without ':'")
        if not callable(self.action):
            raise SagaConfigError(self.name, "action must be callable")
        if self.compensation is not None and not callable(self.compensation):
            raise SagaConfigError(self.name, "compensation must be callable or None")
        object.__setattr__(
            self, "stuck_after", _seconds(self.stuck_after, "stuck_after", self.name)
        )

    @property
    def undo_policy(self) -> StepPolicy:
        return self.retry if self.compensation_retry is None else self.compensation_retry


@dataclass(frozen=True, slots=True)
class Saga:
    """A named, ordered list of steps, with an optional deadline and stuck-step threshold.

    ``deadline`` (seconds from start) forces compensation when it passes: the step in flight
    is interrupted (cancelled at its next ``await``) and everything done so far is undone.
    ``stuck_after`` (seconds in one step) raises a :class:`~mitigate.SagaStuck` alert once per
    step. ``runbook`` is named in the alerts.
    """

    name: str
    steps: tuple[Step, ...]
    deadline: float | None = None
    stuck_after: float | None = None
    runbook: str | None = None
    index: Mapping[str, int] = field(init=False, repr=False, compare=False)

    def __init__(
        self,
        name: str,
        steps: Iterable[Step],
        *,
        deadline: float | datetime.timedelta | None = None,
        stuck_after: float | datetime.timedelta | None = None,
        runbook: str | None = None,
    ) -> None:
        steps = tuple(steps)
        if not name:
            raise SagaConfigError("saga", "a saga needs a name")
        if not steps:
            raise SagaConfigError(name, "a saga needs at least one step")
        names = [s.name for s in steps]
        if len(set(names)) != len(names):
            raise SagaConfigError(name, f"step names must be unique, got {names}")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "steps", steps)
        object.__setattr__(self, "deadline", _seconds(deadline, "deadline", name))
        object.__setattr__(self, "stuck_after", _seconds(stuck_after, "stuck_after", name))
        object.__setattr__(self, "runbook", runbook)
        object.__setattr__(self, "index", {n: i for i, n in enumerate(names)})


@dataclass(frozen=True, slots=True)
class StepContext:
    """What a step's action or compensation is given.

    ``results`` holds the recorded results of the earlier steps by name; ``result`` is this
    step's own recorded result (compensations only); ``epoch`` is the lease epoch of the
    worker running it (it grows each time a worker claims the saga). ``tx`` is the open
    transaction of a transactional step's action (else ``None``).
    """

    saga_id: str
    saga: str
    step: str
    input: Any
    results: Mapping[str, Any]
    idempotency_key: str
    epoch: int
    result: Any = None
    compensating: bool = False
    tx: Any = None


@dataclass(frozen=True, slots=True)
class SagaOutcome:
    """Where a saga ended (or stands): ``state``, step ``results`` by name, ``error``."""

    id: str
    name: str
    state: str
    results: Mapping[str, Any]
    error: str | None = None
