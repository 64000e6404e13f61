"""Bulkhead: at most ``max_concurrent`` calls in flight, ``max_queued`` waiting.

A call that finds every slot taken waits in a queue of at most ``max_queued`` callers
(default 0: no queue); beyond that it is rejected at once with
:class:`~mitigate.BulkheadFullError` and a ``BulkheadFull`` event, without calling the
dependency. Async callers wait on the event loop (bounded by the pipeline's total
budget); sync callers block their thread.

>>> Bulkhead(20)
Bulkhead(max_concurrent=20, max_queued=0)

.. versionadded:: 0.1
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from dataclasses import dataclass

from mitigate.errors import BulkheadFullError
from mitigate.policy._values import count

__all__ = ["Bulkhead"]


@dataclass(frozen=True, slots=True, init=False)
class Bulkhead:
    """Bound the calls in flight (``max_concurrent``) and waiting (``max_queued``).

    >>> Bulkhead(0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    mitigate.ConfigError: [MITIGATE.CONFIG.INVALID] Bulkhead: max_concurrent must be an ...

    .. versionadded:: 0.1
    """

    max_concurrent: int
    max_queued: int

    def __init__(self, max_concurrent: int, max_queued: int = 0) -> None:
        object.__setattr__(
            self, "max_concurrent", count(max_concurrent, "Bulkhead", "max_concurrent", minimum=1)
        )
        object.__setattr__(self, "max_queued", count(max_queued, "Bulkhead", "max_queued"))


class _Waiter:
    """One queued caller: a thread (lock it blocks on) or a task (future it awaits)."""

    __slots__ = ("future", "lock", "woken")

    def __init__(self, future: asyncio.Future[None] | None) -> None:
        self.future = future
        self.lock: threading.Lock | None = None
        if future is None:
            self.lock = threading.Lock()
            self.lock.acquire()
        self.woken = False

    def wake(self) -> None:
        self.woken = True
        future = self.future
        if future is None:
            assert self.lock is not None
            self.lock.release()
            return
        loop = future.get_loop()
        try:
            same_loop = asyncio.get_running_loop() is loop
        except RuntimeError:
            same_loop = False
        if same_loop:
            if not future.done():
                future.set_result(None)
        elif not loop.is_closed():
            loop.call_soon_threadsafe(_resolve, future)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class _BulkheadState:
    """Slots are tokens in a list: ``pop`` takes one, ``append`` gives it back. Both are
    atomic in CPython, so the uncontended path takes no lock. A waiter registers before
    it retries ``pop`` and a releaser appends before it looks for waiters, so a freed
    slot is always either seen by the waiter or followed by a wake-up.
    """

    __slots__ = ("_free", "_lock", "_waiters", "options", "target")

    def __init__(self, options: Bulkhead, target: str) -> None:
        self.options = options
        self.target = target
        self._free: list[None] = [None] * options.max_concurrent
        self._lock = threading.Lock()
        self._waiters: deque[_Waiter] = deque()

    @property
    def in_flight(self) -> int:
        return self.options.max_concurrent - len(self._free)

    @property
    def queued(self) -> int:
        return len(self._waiters)

    def try_acquire(self) -> bool:
        try:
            self._free.pop()
        except IndexError:
            return False
        return True

    def release(self) -> None:
        self._free.append(None)
        if self._waiters:
            with self._lock:
                waiter = self._waiters.popleft() if self._waiters else None
            if waiter is not None:
                waiter.wake()

    def full(self) -> BulkheadFullError:
        return BulkheadFullError(self.target, f"{self.in_flight} in flight, {self.queued} queued")

    def _enqueue(self, waiter: _Waiter) -> None:
        with self._lock:
            if len(self._waiters) >= self.options.max_queued:
                raise self.full()
            self._waiters.append(waiter)

    def _leave(self, waiter: _Waiter) -> None:
        with self._lock, contextlib.suppress(ValueError):
            self._waiters.remove(waiter)

    def _requeue(self, waiter: _Waiter) -> None:
        # Woken (our entry was taken off the queue): queue again, first, before retrying.
        waiter.woken = False
        with self._lock:
            self._waiters.appendleft(waiter)

    def _give_up(self, waiter: _Waiter) -> None:
        self._leave(waiter)
        if waiter.woken:
            self._pass_on()

    def wait_sync(self, timeout: float | None) -> None:
        """Block until a slot is free (raise BulkheadFullError when the queue is full or
        ``timeout`` real seconds pass)."""
        waiter = _Waiter(None)
        self._enqueue(waiter)
        try:
            while True:
                if self.try_acquire():
                    return
                assert waiter.lock is not None
                if not waiter.lock.acquire(timeout=-1 if timeout is None else max(timeout, 0)):
                    raise self.full()
                self._requeue(waiter)
        except BaseException:
            self._give_up(waiter)
            raise
        finally:
            self._leave(waiter)

    async def wait_async(self) -> None:
        """Wait on the event loop until a slot is free (raise BulkheadFullError when the
        queue is full); cancellation (a deadline, the caller) leaves the queue cleanly."""
        loop = asyncio.get_running_loop()
        waiter = _Waiter(loop.create_future())
        self._enqueue(waiter)
        try:
            while True:
                if self.try_acquire():
                    return
                assert waiter.future is not None
                await waiter.future
                waiter.future = loop.create_future()
                self._requeue(waiter)
        except BaseException:
            self._give_up(waiter)
            raise
        finally:
            self._leave(waiter)

    def _pass_on(self) -> None:
        # We were woken for a free slot but leave without it: wake the next one instead.
        if self._free and self._waiters:
            with self._lock:
                waiter = self._waiters.popleft() if self._waiters else None
            if waiter is not None:
                waiter.wake()
