"""Time, the one place mitigate reads it.

Every policy, lease, TTL, detection window and experiment takes a :class:`Clock`.
:class:`RealClock` reads the machine; :class:`VirtualClock` is moved by hand or, in
asyncio code, jumps ahead by itself whenever every task is waiting on it, so
``await clock.asleep(30)`` costs no wall time.

>>> clock = VirtualClock()
>>> clock.now()
0.0
>>> clock.advance(2.5)
>>> clock.now()
2.5
>>> clock.sleep(1)          # a sync sleep on a virtual clock moves time at once
>>> clock.now()
3.5

.. versionadded:: 0.1
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import threading
import time
from collections.abc import Iterator
from typing import Any, Protocol, runtime_checkable

from mitigate.runscope import current_scope, real_clock_refused

__all__ = [
    "BACKEND_AUTOJUMP_THRESHOLD",
    "IO_HOLD_CAP",
    "Clock",
    "RealClock",
    "VirtualClock",
    "default_clock",
    "io_hold",
    "machine_clock",
]

# Real seconds a VirtualClock waits, idle, before jumping when real servers (PostgreSQL,
# NATS, Redis on loopback) are in the loop: a local round trip takes well under 1 ms,
# DDL and a JetStream stream creation a few ms; measured in docs/verify.md.
BACKEND_AUTOJUMP_THRESHOLD = 0.02

# Real seconds such a clock keeps still while real I/O it was told of is in flight
# (:meth:`VirtualClock.holding`): on a loaded machine a reply can take longer than the
# quiet window, and virtual time must not reach a timeout first; a reply that never comes
# (a blackholed link) still lets the timeout fire, this much later.
IO_HOLD_CAP = 2.0

# 2026-01-01T00:00:00Z: where a VirtualClock's wall time starts unless told otherwise.
_VIRTUAL_EPOCH = 1_767_225_600.0


@runtime_checkable
class Clock(Protocol):
    """What mitigate needs from time: monotonic seconds, wall seconds, and sleeping.

    .. versionadded:: 0.1
    """

    def now(self) -> float:
        """Monotonic seconds; only differences mean anything."""
        ...

    def wall(self) -> float:
        """Seconds since the Unix epoch (for expiry stamps that leave the process)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Block the calling thread for ``seconds``."""
        ...

    async def asleep(self, seconds: float) -> None:
        """Suspend the calling task for ``seconds``."""
        ...


class RealClock:
    """The machine's clocks: ``time.monotonic``, ``time.time`` and real sleeps.

    >>> clock = RealClock()
    >>> clock.now() <= clock.now()
    True

    .. versionadded:: 0.1
    """

    __slots__ = ()

    def __init__(self) -> None:
        # Inside a virtual-time experiment run, real time is a bug, not a choice.
        scope = current_scope()
        if scope is not None and scope.virtual:
            raise real_clock_refused("RealClock()", scope)

    # The C function itself, not a wrapper: policies read the clock on every call.
    now = staticmethod(time.monotonic)

    def wall(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    async def asleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0))

    def __repr__(self) -> str:
        return "RealClock()"


_REAL = RealClock()


def default_clock() -> Clock:
    """The clock of whatever is built without one: the shared :class:`RealClock`, or,
    inside an experiment run, the run's clock (see :mod:`mitigate.runscope`).

    >>> default_clock() is default_clock()
    True
    """
    scope = current_scope()
    return _REAL if scope is None else scope.clock


def machine_clock() -> Clock:
    """The machine's clock whatever the run: for deadlines on a real server's I/O
    (connecting to NATS), which do not pass faster because an experiment's time does.

    >>> machine_clock().now() <= machine_clock().now()
    True
    """
    return _REAL


class VirtualClock:
    """A clock that moves only when told to, or by itself when asyncio code is idle.

    ``advance(s)`` moves time forward and wakes every sleeper whose time has come.
    ``sleep(s)`` (sync) advances the clock by ``s`` at once: sync code on a virtual
    clock is single-threaded by assumption. ``asleep(s)`` waits until the clock reaches
    its deadline; with ``autojump=True`` (the default) the clock jumps to the earliest
    deadline as soon as the event loop has nothing else ready to run, as trio's
    ``autojump_clock`` does. Use it for in-process code only: a reply that is on its way
    over a real socket is not "ready", and the clock would jump past it.

    >>> import asyncio
    >>> clock = VirtualClock()
    >>> async def main() -> float:
    ...     await asyncio.gather(clock.asleep(30), clock.asleep(5))
    ...     return clock.now()
    >>> asyncio.run(main())
    30.0

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        start: float = 0.0,
        *,
        wall_start: float = _VIRTUAL_EPOCH,
        autojump: bool = True,
        autojump_threshold: float = 0.0,
    ) -> None:
        if not autojump_threshold >= 0:
            raise ValueError(f"autojump_threshold is real seconds >= 0, not {autojump_threshold!r}")
        self.autojump_threshold = float(autojump_threshold)
        self._now = float(start)
        self._wall_offset = wall_start - float(start)
        self.autojump = autojump
        self._lock = threading.Lock()
        self._seq = itertools.count()
        # (deadline, seq, future): sleepers waiting for the clock to reach their deadline.
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._idle_check_loops: set[asyncio.AbstractEventLoop] = set()
        self._held: dict[int, float] = {}  # real I/O in flight: token -> real start

    def __repr__(self) -> str:
        return f"VirtualClock(now={self._now!r}, sleepers={len(self._sleepers)})"

    # -- reading -----------------------------------------------------------------
    def now(self) -> float:
        return self._now

    def wall(self) -> float:
        return self._now + self._wall_offset

    def next_deadline(self) -> float | None:
        """The earliest time a sleeper waits for, or ``None`` when nobody sleeps.

        >>> VirtualClock().next_deadline() is None
        True
        """
        with self._lock:
            self._drop_cancelled()
            return self._sleepers[0][0] if self._sleepers else None

    # -- moving ------------------------------------------------------------------
    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` and wake every sleeper now due.

        >>> VirtualClock().advance(-1)
        Traceback (most recent call last):
        ...
        ValueError: a clock cannot go backwards (advance by -1)
        """
        if seconds < 0:
            raise ValueError(f"a clock cannot go backwards (advance by {seconds!r})")
        with self._lock:
            self._now += seconds
            due = self._pop_due()
        _wake(due)

    def set_wall(self, wall: float) -> None:
        """Set wall time without moving monotonic time (models a clock step or skew).

        >>> c = VirtualClock(); c.set_wall(100.0); c.wall(), c.now()
        (100.0, 0.0)
        """
        self._wall_offset = wall - self._now

    async def aadvance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` step by step, letting woken tasks run at
        each deadline on the way, so whatever they schedule inside the interval also
        happens in order.

        >>> import asyncio
        >>> clock = VirtualClock(autojump=False)
        >>> ticks = []
        >>> async def ticker() -> None:
        ...     for _ in range(3):
        ...         await clock.asleep(10)
        ...         ticks.append(clock.now())
        >>> async def main() -> None:
        ...     task = asyncio.create_task(ticker())
        ...     await asyncio.sleep(0)
        ...     await clock.aadvance(25)
        ...     task.cancel()
        >>> asyncio.run(main()); ticks
        [10.0, 20.0]
        """
        if seconds < 0:
            raise ValueError(f"a clock cannot go backwards (advance by {seconds!r})")
        target = self._now + seconds
        await _settle()
        while True:
            nxt = self.next_deadline()
            if nxt is None or nxt > target:
                break
            with self._lock:
                self._now = max(self._now, nxt)
                due = self._pop_due()
            _wake(due)
            await _settle()
        with self._lock:
            self._now = max(self._now, target)
            due = self._pop_due()
        _wake(due)
        await _settle()

    # -- sleeping ----------------------------------------------------------------
    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.advance(seconds)

    async def asleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._lock:
            heapq.heappush(self._sleepers, (self._now + seconds, next(self._seq), future))
        if self.autojump:
            self._schedule_idle_check(loop)
        await future

    # -- internals -----------------------------------------------------------------
    @contextlib.contextmanager
    def holding(self) -> Iterator[None]:
        """Real I/O is in flight (a database statement or transaction): a clock that waits
        for quiet before jumping (``autojump_threshold > 0``) stays still meanwhile, for
        at most :data:`IO_HOLD_CAP` real seconds. No effect on a clock that jumps at once
        (in-process code only)."""
        token = next(self._seq)
        self._held[token] = time.monotonic()
        try:
            yield
        finally:
            del self._held[token]

    def _holding(self) -> bool:
        if not self._held:
            return False
        now = time.monotonic()
        return any(now - started < IO_HOLD_CAP for started in self._held.values())

    def _drop_cancelled(self) -> None:
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)

    def _pop_due(self) -> list[asyncio.Future[None]]:
        due = []
        while self._sleepers and self._sleepers[0][0] <= self._now:
            due.append(heapq.heappop(self._sleepers)[2])
        return due

    def _schedule_idle_check(self, loop: asyncio.AbstractEventLoop) -> None:
        if loop in self._idle_check_loops:
            return
        self._idle_check_loops.add(loop)
        loop.call_soon(self._idle_check, loop, 0)

    def _idle_check(self, loop: asyncio.AbstractEventLoop, quiet_rounds: int) -> None:
        # The loop is idle when, after a few passes, nothing but this check was ready.
        # asyncio has no public "is idle" query; BaseEventLoop keeps its run queue in
        # `_ready`. Without it we fall back to a short real-time pause.
        ready = getattr(loop, "_ready", None)
        if ready is None:
            loop.call_later(0.001, self._jump, loop)
            return
        if len(ready) > 0:
            loop.call_soon(self._idle_check, loop, 0)
            return
        if quiet_rounds < 2:
            loop.call_soon(self._idle_check, loop, quiet_rounds + 1)
            return
        if self.autojump_threshold > 0:
            # Idle now; jump only if it stays so for the threshold (a reply may be coming).
            watch = _io_watch(loop)
            seen = watch.events if watch is not None else 0
            loop.call_later(self.autojump_threshold, self._quiet_check, loop, watch, seen)
            return
        self._jump(loop)

    def _quiet_check(
        self, loop: asyncio.AbstractEventLoop, watch: _IoWatch | None, seen: int
    ) -> None:
        ready = getattr(loop, "_ready", None)
        busy = ready is not None and len(ready) > 0
        if busy or (watch is not None and watch.events != seen) or self._holding():
            # Something arrived or ran meanwhile: start the idle wait over.
            loop.call_soon(self._idle_check, loop, 0)
            return
        self._jump(loop)

    def _jump(self, loop: asyncio.AbstractEventLoop) -> None:
        self._idle_check_loops.discard(loop)
        with self._lock:
            self._drop_cancelled()
            if not self._sleepers:
                return
            if not self.autojump:
                return
            self._now = max(self._now, self._sleepers[0][0])
            due = self._pop_due()
            more = bool(self._sleepers)
        _wake(due)
        if more:
            self._schedule_idle_check(loop)


class _IoWatch:
    """Counts the selector passes of one event loop that returned I/O events."""

    __slots__ = ("events",)

    def __init__(self) -> None:
        self.events = 0


def io_hold(clock: Any) -> contextlib.AbstractContextManager[None]:
    """``clock.holding()`` on a :class:`VirtualClock`; nothing on any other clock."""
    holding = getattr(clock, "holding", None)
    return holding() if holding is not None else contextlib.nullcontext()


def _io_watch(loop: asyncio.AbstractEventLoop) -> _IoWatch | None:
    # asyncio has no public "did any I/O arrive" hook; selector loops keep theirs in
    # `_selector`. Wrap its select() once to count passes that returned events (a socket
    # reply, or a thread's call_soon_threadsafe through the loop's self-pipe).
    selector = getattr(loop, "_selector", None)
    if selector is None:
        return None
    watch = getattr(selector, "_mitigate_io_watch", None)
    if isinstance(watch, _IoWatch):
        return watch
    counter = _IoWatch()
    inner = selector.select

    def select(timeout: float | None = None) -> Any:
        events = inner(timeout)
        if events:
            counter.events += 1
        return events

    try:
        selector.select = select
        selector._mitigate_io_watch = counter
    except AttributeError:
        return None
    return counter


def _wake(futures: list[asyncio.Future[None]]) -> None:
    for future in futures:
        if future.done():
            continue
        loop = future.get_loop()
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            future.set_result(None)
        elif not loop.is_closed():
            loop.call_soon_threadsafe(_resolve, future)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def _settle(rounds: int = 8) -> None:
    # Let woken tasks run until they block again.
    for _ in range(rounds):
        await asyncio.sleep(0)
