"""One task per worker that watches every running saga's deadline on the clock.

When a deadline passes, the saga is flagged; if it is inside a step's action at that
moment, its task is cancelled so the action stops at its next ``await``. The saga's driver
turns that into compensation (a deadline forces compensation, it never kills the saga).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from typing import Protocol

from mitigate.clock import Clock

__all__ = ["DeadlineWatch", "Watched"]


class Watched(Protocol):
    deadline_at: float | None
    deadline_fired: bool
    in_step: bool
    cancel_sent: bool
    finished: bool
    task: asyncio.Task[object] | None


class DeadlineWatch:
    """A heap of (deadline, run); the watcher sleeps until the earliest one."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._heap: list[tuple[float, int, Watched]] = []
        self._seq = itertools.count()
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._target = float("inf")
        self._finished = 0

    def watch(self, run: Watched) -> None:
        if run.deadline_at is None:
            return
        heapq.heappush(self._heap, (run.deadline_at, next(self._seq), run))
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop())
        elif run.deadline_at < self._target and self._wake is not None:
            self._wake.set()

    def forget(self, run: Watched) -> None:
        """Called when a watched run finishes; compacts the heap when it is mostly done."""
        self._finished += 1
        if self._finished > 1024 and self._finished * 2 > len(self._heap):
            self._heap = [entry for entry in self._heap if not entry[2].finished]
            heapq.heapify(self._heap)
            self._finished = 0

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _loop(self) -> None:
        try:
            while self._heap:
                deadline, _, run = self._heap[0]
                if run.finished:
                    heapq.heappop(self._heap)
                    continue
                remaining = deadline - self._clock.wall()
                if remaining <= 0:
                    heapq.heappop(self._heap)
                    _fire(run)
                    continue
                self._target = deadline
                self._wake = wake = asyncio.Event()
                sleeper = asyncio.ensure_future(self._clock.asleep(remaining))
                waker = asyncio.ensure_future(wake.wait())
                try:
                    await asyncio.wait((sleeper, waker), return_when=asyncio.FIRST_COMPLETED)
                finally:
                    sleeper.cancel()
                    waker.cancel()
        finally:
            self._task = None
            self._target = float("inf")


def _fire(run: Watched) -> None:
    run.deadline_fired = True
    if run.in_step and run.task is not None and not run.task.done():
        run.cancel_sent = True
        run.task.cancel()
