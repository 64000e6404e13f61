"""The fault injector: the object a pipeline asks, right before each call, whether a fault
acts on it.

It implements the pipeline's ``Injector`` protocol (``decide(target, now)``). With no
fault attached, ``decide`` returns ``None`` after one truth test, and a pipeline with no
injector at all pays one ``is None`` check (see ``bench/chaos.py``).

>>> from mitigate.chaos import Failure
>>> injector = FaultInjector(random=lambda: 0.0)
>>> fault = injector.add(Failure("kms.sign", times=2))
>>> [injector.decide("kms.sign", 0.0) is not None for _ in range(3)]
[True, True, False]
>>> injector.decide("objects.put", 0.0) is None
True
>>> injector.remove(fault); injector.decide("kms.sign", 0.0) is None
True

.. versionadded:: 0.1
"""

from __future__ import annotations

import contextlib
import random as _random
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from mitigate.chaos.faults import ClockSkew, Fault, FaultContext
from mitigate.clock import Clock
from mitigate.policy.injection import NO_RESULT, FaultDecision

__all__ = ["FaultInjector", "Injection", "SkewedClock"]


@dataclass(frozen=True, slots=True)
class Injection:
    """One fault acting on one call, kept for timelines and reports."""

    at: float
    target: str
    fault: str
    description: str


class _Armed:
    """A fault and its running state (when it was attached, how many calls it saw)."""

    __slots__ = ("attached_at", "calls", "fault")

    def __init__(self, fault: Fault, attached_at: float | None) -> None:
        self.fault = fault
        self.attached_at = attached_at
        self.calls = 0


class FaultInjector:
    """Holds the faults attached now and answers the pipeline's ``decide``.

    ``clock`` stamps when each fault is attached (its window counts from there); without
    one, the first call the fault sees stamps it. ``random`` (a callable returning floats
    in [0, 1)) decides rates and jitter, so a run can be repeated exactly. ``party``
    names who calls through this injector, for :class:`~mitigate.chaos.Partition`.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        *faults: Fault,
        clock: Clock | None = None,
        random: Callable[[], float] | None = None,
        party: str | None = None,
    ) -> None:
        self.clock = clock
        self.party = party
        self._draw = random if random is not None else _random.Random().random
        self._armed: list[_Armed] = []
        self._by_target: dict[str, tuple[_Armed, ...]] = {}
        self._lock = threading.Lock()
        self.injections: list[Injection] = []
        for fault in faults:
            self.add(fault)

    def __bool__(self) -> bool:
        return bool(self._armed)

    def __repr__(self) -> str:
        return f"FaultInjector({', '.join(a.fault.describe() for a in self._armed)})"

    @property
    def faults(self) -> list[Fault]:
        """The faults attached now, in the order they were added."""
        return [armed.fault for armed in self._armed]

    # -- attaching -------------------------------------------------------------------
    def add(self, fault: Fault) -> Fault:
        """Attach ``fault``; its window starts now. Returns it, to remove it later."""
        at = self.clock.now() if self.clock is not None else None
        with self._lock:
            self._armed = [*self._armed, _Armed(fault, at)]
            self._by_target = {}
        return fault

    def remove(self, fault: Fault) -> None:
        """Detach ``fault`` (a no-op when it is not attached)."""
        with self._lock:
            self._armed = [a for a in self._armed if a.fault is not fault]
            self._by_target = {}

    def clear(self) -> None:
        """Detach every fault."""
        with self._lock:
            self._armed = []
            self._by_target = {}

    @contextlib.contextmanager
    def attached(self, fault: Fault) -> Iterator[Fault]:
        """``with injector.attached(fault):`` the fault acts inside the block only, and is
        removed even when the block raises."""
        self.add(fault)
        try:
            yield fault
        finally:
            self.remove(fault)

    # -- deciding --------------------------------------------------------------------
    def decide(self, target: str, now: float) -> FaultDecision | None:
        """The fault decision for one call to ``target`` at clock time ``now``."""
        if not self._armed:
            return None
        armed = self._by_target.get(target)
        if armed is None:
            armed = self._index(target)
        if not armed:
            return None
        decision: FaultDecision | None = None
        for entry in armed:
            fault = entry.fault
            if entry.attached_at is None:
                entry.attached_at = now
            entry.calls += 1
            ctx = FaultContext(target, now, now - entry.attached_at, entry.calls, self.party)
            if not fault.triggers(ctx, self._draw):
                continue
            one = fault.decide(ctx, self._draw)
            if one is None:
                continue
            self.injections.append(Injection(now, target, fault.kind, fault.describe()))
            decision = one if decision is None else _combine(decision, one)
        return decision

    def _index(self, target: str) -> tuple[_Armed, ...]:
        with self._lock:
            found = tuple(a for a in self._armed if a.fault.matches(target, self.party))
            self._by_target[target] = found
        return found

    # -- clock skew ------------------------------------------------------------------
    def clock_for(self, base: Clock, party: str | None = None) -> SkewedClock:
        """The clock ``party`` should read: ``base`` with the wall-time offset of every
        :class:`~mitigate.chaos.ClockSkew` attached for that party (inside its window)."""
        return SkewedClock(base, self, party)

    def skew(self, party: str | None, now: float) -> float:
        total = 0.0
        for entry in self._armed:
            fault = entry.fault
            if not isinstance(fault, ClockSkew):
                continue
            if fault.party is not None and fault.party != party:
                continue
            attached = entry.attached_at if entry.attached_at is not None else now
            elapsed = now - attached
            end = fault.end
            if elapsed >= fault.start and (end is None or elapsed < end):
                total += fault.offset
        return total


def _combine(first: FaultDecision, second: FaultDecision) -> FaultDecision:
    # Delays add up; the first fault that fails or answers the call wins.
    return FaultDecision(
        fault=f"{first.fault}+{second.fault}",
        delay=first.delay + second.delay,
        error=first.error if first.error is not None else second.error,
        result=first.result if first.result is not NO_RESULT else second.result,
        corrupt=first.corrupt if first.corrupt is not None else second.corrupt,
    )


class SkewedClock:
    """A clock view whose wall time moves with the skew faults of one party; monotonic
    time and sleeping are the base clock's (skew is about what a host believes the date
    is, not about how fast time runs).

    >>> from mitigate.clock import VirtualClock
    >>> from mitigate.chaos import ClockSkew
    >>> base = VirtualClock(wall_start=1000.0)
    >>> injector = FaultInjector(clock=base)
    >>> clock = injector.clock_for(base, "worker-b")
    >>> skew = injector.add(ClockSkew(party="worker-b", offset=0.8))
    >>> clock.wall()
    1000.8
    >>> injector.remove(skew); clock.wall()
    1000.0
    """

    __slots__ = ("_base", "_injector", "party")

    def __init__(self, base: Clock, injector: FaultInjector, party: str | None) -> None:
        self._base = base
        self._injector = injector
        self.party = party

    def now(self) -> float:
        return self._base.now()

    def wall(self) -> float:
        return self._base.wall() + self._injector.skew(self.party, self._base.now())

    def sleep(self, seconds: float) -> None:
        self._base.sleep(seconds)

    async def asleep(self, seconds: float) -> None:
        await self._base.asleep(seconds)
