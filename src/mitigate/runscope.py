"""The experiment run that code is built inside of, so what it builds joins the run.

A service under test may reach its policies any way it likes: ``run.policy(name)``, a
:class:`~mitigate.Catalog` it loads itself, a :class:`~mitigate.Pipeline` built in
code, a store or detector that defaults its clock. While the runner runs an experiment,
a context variable holds the run's clock, fault injector and observers, and whatever is
*built* without its own takes the run's:

- :func:`mitigate.clock.default_clock` answers the run's clock, so every component whose
  clock defaults lands on the run's (virtual) time;
- a ``Pipeline`` gets the run's injector unless given one, always reports to the run's
  observers, and loses its strategies when ``--mutate`` removed its target;
- a ``Catalog`` gets the run's clock and observers unless given its own;
- in a virtual-time run, ``RealClock()`` and a pipeline or catalog handed a real clock
  raise :class:`~mitigate.ConfigError` (``MITIGATE.CONFIG.REAL_CLOCK``): nothing in a
  virtual run silently waits on real time.

The variable is read when something is built, never on a call, so the pipelines' hot
path is unchanged.

>>> from mitigate.clock import VirtualClock, default_clock
>>> clock = VirtualClock()
>>> with run_scope(RunScope(clock=clock, virtual=True)):
...     default_clock() is clock
True
>>> current_scope() is None
True

.. versionadded:: 0.2
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mitigate.clock import Clock
    from mitigate.errors import ConfigError
    from mitigate.observe.observers import Observer
    from mitigate.policy.injection import Injector

__all__ = [
    "REAL_CLOCK_CODE",
    "RunScope",
    "current_scope",
    "real_clock_refused",
    "run_injector",
    "run_observers",
    "run_scope",
]

REAL_CLOCK_CODE = "MITIGATE.CONFIG.REAL_CLOCK"


@dataclass(slots=True)
class RunScope:
    """What a run lends to the code built inside it."""

    clock: Clock
    virtual: bool
    """True when the run is on virtual time (real clocks are then refused)."""
    injector: Injector | None = None
    observers: tuple[Observer, ...] = ()
    passthrough: frozenset[str] = frozenset()
    """Targets whose pipelines are pass-throughs in this run (the mutation check)."""
    label: str = ""
    """Names the run in error messages (the experiment id)."""
    built: dict[str, Any] = field(default_factory=dict)
    """The first pipeline built per target during the run."""

    def lend_clock(self, what: str, clock: Clock | None) -> Clock:
        """``clock`` when given (refused if real in a virtual run), else the run's."""
        if clock is None:
            return self.clock
        from mitigate.clock import RealClock

        if self.virtual and isinstance(clock, RealClock):
            raise real_clock_refused(what, self)
        return clock

    def missing_observers(self, present: Iterable[Observer]) -> list[Observer]:
        """The run's observers not already among ``present``."""
        have = list(present)
        return [o for o in self.observers if o not in have]

    def joined(self, target: str, pipeline: Any) -> None:
        """Note a pipeline built during the run (the first per target)."""
        self.built.setdefault(target, pipeline)


_CURRENT: ContextVar[RunScope | None] = ContextVar("mitigate_run_scope", default=None)


def current_scope() -> RunScope | None:
    """The run being built inside of, if any."""
    return _CURRENT.get()


@contextlib.contextmanager
def run_scope(scope: RunScope) -> Iterator[RunScope]:
    """Make ``scope`` the current run for the block (and every task or
    ``asyncio.to_thread`` started in it)."""
    token = _CURRENT.set(scope)
    try:
        yield scope
    finally:
        _CURRENT.reset(token)


def run_injector(given: Injector | None) -> Injector | None:
    """``given``, or the current run's fault injector (for other injection points, such
    as the bus adapters' ``bus.publish``)."""
    if given is not None:
        return given
    scope = _CURRENT.get()
    return scope.injector if scope is not None else None


def run_observers(given: Iterable[Observer]) -> list[Observer]:
    """``given`` plus the current run's observers it lacks."""
    observers = list(given)
    scope = _CURRENT.get()
    return observers if scope is None else [*observers, *scope.missing_observers(observers)]


def real_clock_refused(what: str, scope: RunScope) -> ConfigError:
    """The error for real time used inside a virtual-time run."""
    from mitigate.errors import ConfigError

    run = f" of {scope.label}" if scope.label else ""
    return ConfigError(
        what,
        f"uses the real clock inside the virtual-time run{run}",
        hint="build it without a clock (it then takes the run's) or pass clock=run.clock",
        code=REAL_CLOCK_CODE,
    )
