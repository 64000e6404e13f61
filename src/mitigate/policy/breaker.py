"""Circuit breaker: stop calling a dependency that keeps failing, then probe it.

The seed tables' breaker trips after ``failures`` failures within a sliding time
``window`` ("10 fail / 30s"); successes in between do not reset the count. Optionally it
also trips on a ``failure_rate`` or a ``slow_call_rate`` measured over a time window or
the last ``window_calls`` calls, once ``minimum_calls`` were seen (resilience4j's
options). Open, it rejects calls without calling the dependency
(:class:`~mitigate.BreakerOpenError` with ``retry_after``) for ``reset`` seconds; then
it half-opens and lets at most ``half_open_probes`` calls through at a time;
``successes_to_close`` successful probes close it, one failed probe opens it again.

>>> breaker = Breaker.from_table(trip="10 fail / 30s", reset="60s")
>>> breaker.failures, breaker.window, breaker.reset
(10, 30.0, 60.0)

.. versionadded:: 0.1
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Protocol

from mitigate.clock import Clock
from mitigate.errors import BreakerOpenError, RejectedError
from mitigate.observe.events import (
    BreakerClosed,
    BreakerHalfOpened,
    BreakerOpened,
    BreakerRejected,
    BreakerStateChanged,
    Event,
)
from mitigate.observe.observers import Observers
from mitigate.policy._values import (
    Seconds,
    count,
    exception_types,
    fraction,
    invalid,
    optional_seconds,
    seconds,
)

__all__ = [
    "CLOSED",
    "FORCED_CLOSED",
    "FORCED_OPEN",
    "HALF_OPEN",
    "OPEN",
    "Breaker",
    "BreakerControl",
]

CLOSED: Final = "closed"
OPEN: Final = "open"
HALF_OPEN: Final = "half_open"
FORCED_OPEN: Final = "forced_open"
FORCED_CLOSED: Final = "forced_closed"

# How an outcome counts for the breaker.
_SUCCESS: Final = 0
_FAILURE: Final = 1
_IGNORED: Final = 2

# Time windows for rates are kept in this many buckets (resilience4j keeps one per second).
_BUCKETS: Final = 10


@dataclass(frozen=True, slots=True, init=False)
class Breaker:
    """When to stop calling a dependency, for how long, and how to probe it again.

    >>> Breaker(failures=10, window=30.0, reset=60.0)  # doctest: +ELLIPSIS
    Breaker(failures=10, window=30.0, reset=60.0, failure_rate=None, ...)

    ``failure_on`` (types) and ``failure_if`` (a predicate) say which errors count as
    failures; other errors count as successes (the dependency answered); ``ignore``
    (by default every :class:`~mitigate.RejectedError`: a refusal by an inner policy
    never touched the dependency) counts as neither. ``failure_if_result`` marks returned
    values as failures.

    .. versionadded:: 0.1
    """

    failures: int | None
    window: float
    reset: float
    failure_rate: float | None
    slow_call_rate: float | None
    slow_call_duration: float | None
    window_calls: int | None
    minimum_calls: int
    half_open_probes: int
    successes_to_close: int
    failure_on: tuple[type[Exception], ...]
    failure_if: Callable[[Exception], bool] | None
    failure_if_result: Callable[[Any], bool] | None
    ignore: tuple[type[Exception], ...]

    def __init__(
        self,
        failures: int | None = 5,
        window: Seconds = 30.0,
        reset: Seconds = 60.0,
        *,
        failure_rate: float | None = None,
        slow_call_rate: float | None = None,
        slow_call_duration: Seconds | None = None,
        window_calls: int | None = None,
        minimum_calls: int = 10,
        half_open_probes: int = 1,
        successes_to_close: int = 1,
        failure_on: type[Exception] | tuple[type[Exception], ...] = (Exception,),
        failure_if: Callable[[Exception], bool] | None = None,
        failure_if_result: Callable[[Any], bool] | None = None,
        ignore: type[Exception] | tuple[type[Exception], ...] = (RejectedError,),
    ) -> None:
        name = "Breaker"
        put = object.__setattr__
        put(
            self,
            "failures",
            None if failures is None else count(failures, name, "failures", minimum=1),
        )
        put(self, "window", seconds(window, name, "window", positive=True))
        put(self, "reset", seconds(reset, name, "reset", positive=True))
        put(self, "failure_rate", fraction(failure_rate, name, "failure_rate"))
        put(self, "slow_call_rate", fraction(slow_call_rate, name, "slow_call_rate"))
        put(
            self,
            "slow_call_duration",
            optional_seconds(slow_call_duration, name, "slow_call_duration", positive=True),
        )
        put(
            self,
            "window_calls",
            None if window_calls is None else count(window_calls, name, "window_calls", minimum=1),
        )
        put(self, "minimum_calls", count(minimum_calls, name, "minimum_calls", minimum=1))
        put(self, "half_open_probes", count(half_open_probes, name, "half_open_probes", minimum=1))
        put(
            self,
            "successes_to_close",
            count(successes_to_close, name, "successes_to_close", minimum=1),
        )
        put(self, "failure_on", exception_types(failure_on, name, "failure_on"))
        put(self, "failure_if", failure_if)
        put(self, "failure_if_result", failure_if_result)
        put(self, "ignore", exception_types(ignore, name, "ignore"))
        if self.failures is None and not self.rate_based:
            raise invalid(
                name, "nothing trips it", "give failures=N or a failure_rate / slow_call_rate"
            )
        if self.slow_call_rate is not None and self.slow_call_duration is None:
            raise invalid(name, "slow_call_rate needs slow_call_duration (what counts as slow)")

    @classmethod
    def from_table(cls, trip: str, reset: str, *, target: str | None = None) -> Breaker:
        """Build from a seed table row: "Trip" ("10 fail / 30s", "5 / 30s") and "Reset".

        >>> Breaker.from_table("5 / 30s", "60s").failures
        5
        """
        from mitigate.policy.notation import parse_breaker

        return parse_breaker(trip=trip, reset=reset, target=target)

    @property
    def rate_based(self) -> bool:
        """Whether a failure or slow-call rate is measured (successes are recorded)."""
        return self.failure_rate is not None or self.slow_call_rate is not None

    def to_table(self) -> tuple[str, str]:
        """The seed-table notation ("Trip", "Reset") for a count-based breaker.

        >>> Breaker(10, 30, 60).to_table()
        ('10 fail / 30s', '60s')
        """
        from mitigate.policy.notation import format_duration

        trip = (
            ""
            if self.failures is None
            else f"{self.failures} fail / {format_duration(self.window)}"
        )
        return trip, format_duration(self.reset)

    def _classify(self, error: Exception) -> int:
        if isinstance(error, self.ignore):
            return _IGNORED
        if not isinstance(error, self.failure_on):
            return _SUCCESS
        predicate = self.failure_if
        return _FAILURE if predicate is None or predicate(error) else _SUCCESS


class BreakerControl(Protocol):
    """The running breaker of a pipeline: its state and the operator's switches.

    ``force_open`` rejects every call until ``force_close`` or ``reset`` (a kill switch);
    ``force_close`` lets every call through and never trips until ``reset``; ``reset``
    returns to a fresh closed state; ``trip(seconds, reason)`` opens it for ``seconds``
    as if it had tripped itself (a peer process's breaker opened).
    """

    @property
    def state(self) -> str: ...

    @property
    def target(self) -> str: ...

    def force_open(self) -> None: ...

    def force_close(self) -> None: ...

    def reset(self) -> None: ...

    def trip(self, seconds: float, reason: str) -> bool: ...

    def open_for(self, now: float) -> float: ...


class _RateWindow:
    """Calls, failures and slow calls over the last ``size`` calls or ``seconds`` seconds.

    A time window is kept in ``_BUCKETS`` buckets: an outcome counts until its whole
    bucket is older than the window (between 90% and 100% of it).
    """

    __slots__ = (
        "_codes",
        "_counts",
        "_last",
        "_next",
        "_seconds",
        "_width",
        "calls",
        "failures",
        "size",
        "slow",
    )

    def __init__(self, size: int | None, seconds: float) -> None:
        self.size = size
        self._seconds = seconds
        self._width = seconds / _BUCKETS
        self.clear()

    def clear(self) -> None:
        self.calls = self.failures = self.slow = 0
        self._codes = [0] * (self.size or 0)  # per call: bit 1 failure, bit 2 slow
        self._next = 0
        self._counts = [[0, 0, 0] for _ in range(_BUCKETS)]  # per bucket: calls, fails, slow
        self._last = -1

    def record(self, now: float, failed: bool, slow: bool) -> None:
        fail_bit = 1 if failed else 0
        slow_bit = 1 if slow else 0
        size = self.size
        if size is not None:
            i = self._next
            if self.calls == size:
                old = self._codes[i]
                self.failures -= old & 1
                self.slow -= old >> 1
                self.calls -= 1
            self._codes[i] = fail_bit | slow_bit << 1
            self._next = (i + 1) % size
        else:
            bucket = self._counts[self._age(now)]
            bucket[0] += 1
            bucket[1] += fail_bit
            bucket[2] += slow_bit
        self.calls += 1
        self.failures += fail_bit
        self.slow += slow_bit

    def _age(self, now: float) -> int:
        """Empty the buckets that left the window; return the bucket for ``now``."""
        index = int(now // self._width)
        if index > self._last:
            for j in range(max(self._last + 1, index - _BUCKETS + 1), index + 1):
                bucket = self._counts[j % _BUCKETS]
                self.calls -= bucket[0]
                self.failures -= bucket[1]
                self.slow -= bucket[2]
                bucket[0] = bucket[1] = bucket[2] = 0
            self._last = index
        return self._last % _BUCKETS


class _BreakerState:
    """One running breaker (private; reached through :class:`BreakerControl`).

    Closed, the success path is one attribute read (``_quiet``); every transition takes
    the lock. Each state entered gets a new generation, so an outcome that arrives after
    the breaker moved on (a call admitted while closed that fails after it opened, a
    probe of an earlier half-open period) is not counted twice.
    """

    __slots__ = (
        "_clock",
        "_fail_times",
        "_gen",
        "_lock",
        "_observers",
        "_open_until",
        "_opened_reason",
        "_probe_successes",
        "_probes",
        "_quiet",
        "_rates",
        "_state",
        "key",
        "options",
        "target",
    )

    def __init__(
        self,
        options: Breaker,
        target: str,
        clock: Clock,
        observers: Observers,
        key: str | None = None,
    ) -> None:
        self.options = options
        self.target = target
        self.key = key
        self._clock = clock
        self._observers = observers
        self._lock = threading.Lock()
        self._state: str = CLOSED
        self._gen = 0
        # Closed with nothing to record on success: the success path reads only this.
        self._quiet = not options.rate_based
        self._fail_times: deque[float] = deque(maxlen=options.failures or 1)
        self._rates = (
            _RateWindow(options.window_calls, options.window) if options.rate_based else None
        )
        self._open_until = 0.0
        self._opened_reason = ""
        self._probes = 0
        self._probe_successes = 0

    def __repr__(self) -> str:
        return f"<breaker {self.target} {self._state}>"

    # -- reading ---------------------------------------------------------------------
    @property
    def state(self) -> str:
        """closed, open, half_open, forced_open or forced_closed.

        An open breaker whose reset time has passed still reads ``open`` until the next
        call half-opens it.
        """
        return self._state

    def open_for(self, now: float) -> float:
        """Seconds until an open breaker half-opens (0 when it is not open; infinite
        when forced open)."""
        state = self._state
        if state is OPEN:
            return max(self._open_until - now, 0.0)
        return float("inf") if state is FORCED_OPEN else 0.0

    @property
    def failures_in_window(self) -> int:
        """Failures counted toward the "N fail / window" trip right now."""
        with self._lock:
            times = self._fail_times
            now = self._clock.now()
            return sum(1 for t in times if now - t <= self.options.window)

    # -- admission -------------------------------------------------------------------
    def acquire(self, now: float) -> int:
        """Admit one call (returns its generation) or raise BreakerOpenError."""
        state = self._state
        if state is CLOSED or state is FORCED_CLOSED:
            return self._gen
        event: Event | None = None
        error: BreakerOpenError | None = None
        with self._lock:
            state = self._state
            if state is OPEN and now >= self._open_until:
                event = self._enter(HALF_OPEN, now, "reset elapsed")
                state = HALF_OPEN
            if state is HALF_OPEN and self._probes < self.options.half_open_probes:
                self._probes += 1
                gen = self._gen
            elif state is CLOSED or state is FORCED_CLOSED:
                gen = self._gen
            else:
                gen = -1
                error = self._rejection(state, now)
        if event is not None:
            self._observers.emit(event)
        if error is not None:
            if self._observers:
                self._observers.emit(
                    BreakerRejected(
                        target=self.target,
                        at=now,
                        error=error,
                        retry_after=error.retry_after or 0.0,
                    )
                )
            raise error
        return gen

    def _rejection(self, state: str, now: float) -> BreakerOpenError:
        if state is OPEN:
            remaining = self._open_until - now
            return BreakerOpenError(self.target, self._opened_reason, retry_after=remaining)
        if state is FORCED_OPEN:
            return BreakerOpenError(
                self.target,
                "forced open by an operator",
                hint="calls fail fast until force_close() or reset()",
            )
        return BreakerOpenError(
            self.target,
            f"half-open with {self._probes} probe(s) in flight",
            hint="calls fail fast until the probes decide",
        )

    # -- outcomes --------------------------------------------------------------------
    def on_success(self, gen: int, now: float, duration: float) -> None:
        """A call admitted in generation ``gen`` returned normally after ``duration``."""
        if self._quiet:
            return
        limit = self.options.slow_call_duration
        slow = limit is not None and duration >= limit
        # A slow probe is a failed probe: the dependency is not healthy yet.
        kind = _FAILURE if slow and self._state is HALF_OPEN else _SUCCESS
        self._outcome(gen, now, kind, slow, None)

    def on_error(self, gen: int, now: float, duration: float, error: Exception) -> None:
        """A call admitted in generation ``gen`` raised ``error`` after ``duration``."""
        limit = self.options.slow_call_duration
        slow = limit is not None and duration >= limit
        self._outcome(gen, now, self.options._classify(error), slow, error)

    def on_failed_result(self, gen: int, now: float, duration: float) -> None:
        """A returned value counted as a failure (``failure_if_result``)."""
        limit = self.options.slow_call_duration
        self._outcome(gen, now, _FAILURE, limit is not None and duration >= limit, None)

    def release(self, gen: int) -> None:
        """A call ended without an outcome (cancelled): free its probe slot."""
        if self._state is not HALF_OPEN:
            return
        with self._lock:
            if self._state is HALF_OPEN and gen == self._gen and self._probes > 0:
                self._probes -= 1

    def _outcome(
        self, gen: int, now: float, kind: int, slow: bool, error: Exception | None
    ) -> None:
        event: Event | None = None
        with self._lock:
            if gen != self._gen:
                return  # the breaker moved on since this call was admitted
            state = self._state
            if state is HALF_OPEN:
                self._probes -= 1
                if kind == _FAILURE:
                    event = self._open(now, "probe failed", error, 1)
                elif kind == _SUCCESS:
                    self._probe_successes += 1
                    if self._probe_successes >= self.options.successes_to_close:
                        event = self._enter(CLOSED, now, "probes succeeded")
            elif state is CLOSED and kind != _IGNORED:
                reason, failures = self._record(now, kind == _FAILURE, slow)
                if reason:
                    event = self._open(now, reason, error, failures)
        if event is not None:
            self._observers.emit(event)

    def _record(self, now: float, failed: bool, slow: bool) -> tuple[str, int]:
        """Count one closed-state outcome; return why to open (or ``""``) and the
        number of failures that tripped it."""
        options = self.options
        rates = self._rates
        if rates is not None:
            rates.record(now, failed, slow)
            calls = rates.calls
            if calls >= options.minimum_calls:
                threshold = options.failure_rate
                if threshold is not None and rates.failures >= threshold * calls:
                    return (
                        f"failure rate {rates.failures / calls:.0%} over {calls} calls "
                        f"reached {threshold:.0%}",
                        rates.failures,
                    )
                threshold = options.slow_call_rate
                if threshold is not None and rates.slow >= threshold * calls:
                    return (
                        f"slow-call rate {rates.slow / calls:.0%} over {calls} calls "
                        f"reached {threshold:.0%}",
                        rates.failures,
                    )
        limit = options.failures
        if failed and limit is not None:
            times = self._fail_times
            times.append(now)
            if len(times) == limit and now - times[0] <= options.window:
                return f"open after {limit} failures in {_s(options.window)}", limit
        return "", 0

    # -- transitions (under the lock) -----------------------------------------------
    def _open(
        self, now: float, reason: str, error: Exception | None, failures: int
    ) -> Event | None:
        self._open_until = now + self.options.reset
        if self.key is not None:
            reason = f"{reason} (key {self.key})"
        self._opened_reason = reason
        return self._enter(OPEN, now, reason, error, failures)

    def _enter(
        self,
        state: str,
        now: float,
        reason: str,
        error: Exception | None = None,
        failures: int = 0,
    ) -> Event | None:
        """Move to ``state``; return the event to emit once the lock is released (only
        built when someone listens)."""
        previous = self._state
        self._state = state
        self._gen += 1
        self._probes = 0
        self._probe_successes = 0
        self._quiet = (state is CLOSED and self._rates is None) or state is FORCED_CLOSED
        if state is CLOSED or state is FORCED_CLOSED:
            self._fail_times.clear()
            if self._rates is not None:
                self._rates.clear()
        if not self._observers:
            return None
        common: dict[str, Any] = {
            "target": self.target,
            "at": now,
            "error": error,
            "from_state": previous,
            "to_state": state,
            "reason": reason,
        }
        if state is OPEN:
            return BreakerOpened(failures=failures, **common)
        if state is HALF_OPEN:
            return BreakerHalfOpened(**common)
        if state is CLOSED:
            return BreakerClosed(**common)
        return BreakerStateChanged(**common)

    # -- operator switches -------------------------------------------------------------
    def force_open(self) -> None:
        """Reject every call until :meth:`force_close` or :meth:`reset` (a kill switch)."""
        self._switch(FORCED_OPEN, "forced open by an operator")

    def force_close(self) -> None:
        """Let every call through and never trip until :meth:`reset`."""
        self._switch(FORCED_CLOSED, "forced closed by an operator")

    def reset(self) -> None:
        """Back to a fresh closed state: counts cleared, switches released."""
        self._switch(CLOSED, "reset by an operator")

    def trip(self, seconds: float, reason: str) -> bool:
        """Open now for ``seconds`` (another process's breaker on the same dependency
        opened: :class:`mitigate.policy.shared.SharedBreakers`), then half-open as usual.
        Does nothing when already open or switched by an operator; says if it opened."""
        now = self._clock.now()
        with self._lock:
            if self._state not in (CLOSED, HALF_OPEN):
                return False
            self._open_until = now + max(0.0, seconds)
            self._opened_reason = reason
            event = self._enter(OPEN, now, reason)
        if event is not None:
            self._observers.emit(event)
        return True

    def _switch(self, state: str, reason: str) -> None:
        now = self._clock.now()
        with self._lock:
            event = self._enter(state, now, reason)
        if event is not None:
            self._observers.emit(event)


def _s(value: float) -> str:
    from mitigate.policy.notation import format_duration

    return format_duration(value)
