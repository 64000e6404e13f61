"""Periodic jobs on the clock: reconciliation scans, retention caps, stuck detectors.

``every(name, interval, fn)`` registers a job; ``run_due()`` runs the jobs whose time has
come (tests and cron-style callers), and ``async with scheduler.running():`` runs them in
the background, sleeping on the clock between runs. A job that raises is an event
(:class:`~mitigate.observe.service_events.ScheduledJobFailed`) and a log record, never the
end of the loop: it runs again at its next time. A job still running when it is due again
is not started twice. Runs keep a fixed rate; after a stall (a long job, a paused process)
the missed runs are skipped, not replayed in a burst.

>>> import asyncio
>>> from mitigate.clock import VirtualClock
>>> clock = VirtualClock()
>>> scheduler = Scheduler(clock=clock)
>>> runs = []
>>> async def reconcile() -> None:
...     runs.append(clock.now())
>>> scheduler.every("content.reconcile", 60, reconcile)
>>> async def main() -> None:
...     async with scheduler.running():
...         await clock.asleep(185)
>>> asyncio.run(main()); runs
[60.0, 120.0, 180.0]

.. versionadded:: 0.1
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from mitigate.clock import Clock, default_clock
from mitigate.errors import ConfigError
from mitigate.observe.observers import Observer, Observers
from mitigate.observe.service_events import ScheduledJobFailed, ScheduledJobRan

__all__ = ["JobFn", "Scheduler"]

JobFn = Callable[[], Awaitable[object] | object]

_log = logging.getLogger("mitigate.schedule")


@dataclass(slots=True)
class _Periodic:
    name: str
    interval: float
    fn: JobFn
    next_at: float
    runs: int = 0
    failures: int = 0
    last_error: str | None = None
    last_run_at: float | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)


class Scheduler:
    """Periodic jobs on ``clock``; ``observers`` get one event per run or failure."""

    def __init__(self, clock: Clock | None = None, observers: Iterable[Observer] = ()) -> None:
        self.clock = clock if clock is not None else default_clock()
        self.observers = Observers(observers)
        self._jobs: dict[str, _Periodic] = {}
        self._changed = asyncio.Event()

    def every(
        self, name: str, interval: float, fn: JobFn, *, first_after: float | None = None
    ) -> None:
        """Run ``fn`` (sync or async, no arguments) every ``interval`` seconds, the first
        time ``first_after`` seconds from now (default: one interval; 0 runs it at once)."""
        if not name or name in self._jobs:
            raise ConfigError(
                name or None, "a scheduled job needs a unique, non-empty name",
                code="MITIGATE.CONFIG.SCHEDULE",
            )  # fmt: skip
        if not interval > 0:
            raise ConfigError(
                name, f"interval must be a positive number of seconds, not {interval!r}",
                code="MITIGATE.CONFIG.SCHEDULE",
            )  # fmt: skip
        delay = interval if first_after is None else max(first_after, 0.0)
        self._jobs[name] = _Periodic(name, float(interval), fn, self.clock.now() + delay)
        self._changed.set()

    def status(self) -> dict[str, dict[str, Any]]:
        """Per job: ``runs``, ``failures``, ``last_error``, ``last_run_at``, ``next_at``,
        ``running`` (for a health check or an operator)."""
        return {
            job.name: {
                "runs": job.runs,
                "failures": job.failures,
                "last_error": job.last_error,
                "last_run_at": job.last_run_at,
                "next_at": job.next_at,
                "running": job.task is not None and not job.task.done(),
            }
            for job in self._jobs.values()
        }

    async def run_due(self) -> list[str]:
        """Run every job that is due now (concurrently) and wait for them; the names run."""
        started = self._start_due()
        await asyncio.gather(*(job.task for job in started if job.task is not None))
        return [job.name for job in started]

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Scheduler]:
        """Run the jobs in the background while the block runs; stop them on exit."""
        loop = asyncio.create_task(self._loop())
        try:
            yield self
        finally:
            loop.cancel()
            tasks = [j.task for j in self._jobs.values() if j.task and not j.task.done()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(loop, *tasks, return_exceptions=True)

    async def _loop(self) -> None:
        while True:
            self._start_due()
            self._changed.clear()
            pending = [j.next_at for j in self._jobs.values()]
            wait = max(min(pending) - self.clock.now(), 0.0) if pending else None
            changed = asyncio.ensure_future(self._changed.wait())
            timer = asyncio.ensure_future(self.clock.asleep(wait)) if wait is not None else None
            try:
                waiting = {changed} if timer is None else {changed, timer}
                await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            finally:
                changed.cancel()
                if timer is not None:
                    timer.cancel()

    def _start_due(self) -> list[_Periodic]:
        now = self.clock.now()
        started: list[_Periodic] = []
        for job in self._jobs.values():
            if job.next_at > now:
                continue
            # Fixed rate; after a stall, skip the missed runs instead of bursting them.
            job.next_at += job.interval
            if job.next_at <= now:
                job.next_at = now + job.interval
            if job.task is not None and not job.task.done():
                continue  # still running from last time: never two at once
            job.task = asyncio.ensure_future(self._run_one(job))
            started.append(job)
        return started

    async def _run_one(self, job: _Periodic) -> None:
        started = self.clock.now()
        try:
            result = job.fn()
            if inspect.isawaitable(result):
                await result
        except Exception as exc:
            job.failures += 1
            job.last_error = f"{type(exc).__name__}: {exc}"
            _log.error(
                "scheduled job %s failed; it runs again at its next time", job.name, exc_info=exc
            )
            if self.observers:
                self.observers.emit(
                    ScheduledJobFailed(
                        target=job.name, at=self.clock.now(), error=exc,
                        duration=self.clock.now() - started, reason=job.last_error,
                    )
                )  # fmt: skip
        else:
            job.last_error = None
            if self.observers:
                self.observers.emit(
                    ScheduledJobRan(
                        target=job.name, at=self.clock.now(), duration=self.clock.now() - started
                    )
                )
        finally:
            job.runs += 1
            job.last_run_at = started
