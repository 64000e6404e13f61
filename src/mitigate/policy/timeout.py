"""Timeout: a deadline per attempt, and in total.

The total budget is one absolute deadline on the clock; each attempt gets the earlier of
its own timeout and what is left of the budget (deadlines compose by ``min``, as trio's
nested scopes do). A pipeline also passes its deadline down: code it calls reads it with
:func:`current_deadline`, and a pipeline nested inside another never runs past the outer
deadline.

**Async** calls are pre-empted: the attempt is raced against the pipeline's clock (one
watchdog task per clock and event loop sleeps on ``clock.asleep`` until the earliest
deadline), so timeouts work in virtual time. :class:`~mitigate.AttemptTimeoutError` is
raised only when the attempt's own deadline fired, never when the caller cancelled.

**Sync** calls cannot be pre-empted in Python: the deadline is passed down
(:func:`current_deadline`) so the work itself can stop in time.

**A late answer is returned**, never discarded and retried (its side effects happened:
retrying would repeat them). A sync call that returns after its deadline, or an async
call that swallows the cancellation and still returns, gives its result to the caller;
the lateness is an ``AttemptTimedOut`` event without an error. Only an attempt cut
without an answer raises :class:`~mitigate.AttemptTimeoutError`.

>>> Timeout(0.5)
Timeout(seconds=0.5, total=None)
>>> Timeout(0.5, total=5.0).total
5.0

.. versionadded:: 0.1
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import threading
import weakref
from collections import deque
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Final

from mitigate.clock import Clock
from mitigate.policy._values import Seconds, invalid, optional_seconds

__all__ = ["Timeout", "current_deadline"]


@dataclass(frozen=True, slots=True, init=False)
class Timeout:
    """``seconds`` per attempt; ``total`` for the whole call (all attempts and waits).

    A :class:`~mitigate.Retry` ``budget`` and a ``total`` here are the same thing; when
    both are given the earlier deadline wins.

    >>> Timeout()  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    mitigate.ConfigError: [MITIGATE.CONFIG.INVALID] Timeout: no deadline given; pass seconds ...

    .. versionadded:: 0.1
    """

    seconds: float | None
    total: float | None

    def __init__(self, seconds: Seconds | None = None, *, total: Seconds | None = None) -> None:
        put = object.__setattr__
        put(self, "seconds", optional_seconds(seconds, "Timeout", "seconds", positive=True))
        put(self, "total", optional_seconds(total, "Timeout", "total", positive=True))
        if self.seconds is None and self.total is None:
            raise invalid(
                "Timeout", "no deadline given", "pass seconds (per attempt) and/or total="
            )


# Where a pipeline passes its deadline down. Async attempts use a context variable (each
# task sees its own); sync attempts use a thread-local, which is cheaper, and safe
# because nothing else runs on a thread while a sync call is in progress.
_DEADLINE: Final[ContextVar[float | None]] = ContextVar("mitigate_deadline", default=None)


class _SyncDeadline(threading.local):
    deadline: float | None = None


_SYNC: Final = _SyncDeadline()


def current_deadline() -> float | None:
    """The innermost pipeline deadline (clock time) the running code works under, if any.

    Code called through a pipeline can pass it on (to a socket timeout, a query
    timeout, a nested call) instead of guessing its own; a nested pipeline never runs
    past it.

    >>> current_deadline() is None
    True
    >>> from mitigate.clock import VirtualClock
    >>> from mitigate.policy.pipeline import Pipeline
    >>> Pipeline("t", Timeout(0.5), clock=VirtualClock(10.0)).call(current_deadline)
    10.5

    .. versionadded:: 0.1
    """
    sync = _SYNC.deadline
    task = _DEADLINE.get()
    if sync is None:
        return task
    return sync if task is None or sync < task else task


# -- the async watchdog ------------------------------------------------------------------
#
# One watchdog per (clock, event loop) keeps the deadlines of running async attempts and
# sleeps on the clock until the earliest. Arming costs a small list and an append (no
# task, no timer handle per call); disarming clears one slot. Deadlines mostly arrive in
# order (same timeout, time moving forward), so they queue in a deque; one that arrives
# earlier than the last goes to a heap. A fired entry cancels its task and is marked, so
# the driver can tell its own deadline from a caller's cancellation.

# Entry layout: [deadline, task or None (disarmed), fired]
_TASK: Final = 1
_FIRED: Final = 2


class _Watchdog:
    __slots__ = ("__weakref__", "_clock", "_heap", "_loop", "_queue", "_seq", "_task", "_wake_at")

    def __init__(self, clock: Clock, loop: asyncio.AbstractEventLoop) -> None:
        self._clock = clock
        self._loop = loop
        self._queue: deque[list[Any]] = deque()
        self._heap: list[tuple[float, int, list[Any]]] = []
        self._seq = itertools.count()
        self._task: asyncio.Task[None] | None = None
        self._wake_at = float("inf")

    def arm(self, deadline: float, task: asyncio.Task[Any]) -> list[Any]:
        entry = [deadline, task, False]
        queue = self._queue
        while queue and queue[0][1] is None:
            queue.popleft()
        if not queue or queue[-1][0] <= deadline:
            queue.append(entry)
        else:
            heapq.heappush(self._heap, (deadline, next(self._seq), entry))
        if deadline < self._wake_at:
            self._restart(deadline)
        return entry

    def _restart(self, deadline: float) -> None:
        if self._task is not None:
            self._task.cancel()
        self._wake_at = deadline
        self._task = self._loop.create_task(self._run(), name="mitigate-deadlines")

    def _earliest(self, now: float) -> float | None:
        """Fire every entry due at ``now``; return the next deadline, if any."""
        queue, heap = self._queue, self._heap
        while queue and (queue[0][1] is None or queue[0][0] <= now):
            _fire(queue.popleft())
        while heap and (heap[0][2][1] is None or heap[0][0] <= now):
            _fire(heapq.heappop(heap)[2])
        if queue and heap:
            return min(queue[0][0], heap[0][0])  # type: ignore[no-any-return]
        if queue:
            return queue[0][0]  # type: ignore[no-any-return]
        return heap[0][0] if heap else None

    async def _run(self) -> None:
        clock = self._clock
        try:
            while True:
                now = clock.now()
                wake_at = self._earliest(now)
                if wake_at is None:
                    break
                self._wake_at = wake_at
                await clock.asleep(wake_at - now)
        finally:
            if self._task is asyncio.current_task():
                self._task = None
                self._wake_at = float("inf")


def _fire(entry: list[Any]) -> None:
    task = entry[_TASK]
    if task is not None:
        entry[_TASK] = None
        entry[_FIRED] = True
        task.cancel()


_WATCHDOGS: Final[weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, _Watchdog]]] = (
    weakref.WeakKeyDictionary()
)


def _watchdog(clock: Clock, loop: asyncio.AbstractEventLoop) -> _Watchdog:
    """The watchdog of ``clock`` on ``loop`` (shared by every pipeline on that clock)."""
    per_clock = _WATCHDOGS.get(loop)
    if per_clock is None:
        per_clock = _WATCHDOGS[loop] = {}
    dog = per_clock.get(id(clock))
    if dog is None or dog._clock is not clock:
        dog = per_clock[id(clock)] = _Watchdog(clock, loop)
    return dog
