"""Keyed: one instance of a policy per key (a breaker per tenant is a kill switch).

``key`` reads the key from the call's own arguments. Each key gets its own breaker,
bulkhead or rate-limit budget. Idle keys expire (a failure long out of the window is
idle), and ``max_keys`` holds without a scan per new key; a forced breaker is never
dropped, so a kill switch holds.

>>> from mitigate.policy.breaker import Breaker
>>> per_tenant = Keyed(Breaker(5, 30, 60), key=lambda tenant, *args, **kw: tenant)
>>> per_tenant.key("acme", "payload")
'acme'

In a pipeline, ``pipeline.breaker("acme").force_open()`` stops calls for that tenant only.

.. versionadded:: 0.1
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

from mitigate.policy._values import count, invalid
from mitigate.policy.breaker import CLOSED, HALF_OPEN, OPEN, Breaker, _BreakerState
from mitigate.policy.bulkhead import Bulkhead, _BulkheadState
from mitigate.policy.ratelimit import RateLimit

__all__ = ["Keyed"]

KeyedPolicy = Breaker | Bulkhead | RateLimit
S = TypeVar("S", _BreakerState, _BulkheadState)


@dataclass(frozen=True, slots=True)
class Keyed:
    """Per-key instances of ``policy`` (a Breaker, Bulkhead or RateLimit).

    >>> from mitigate.policy.retry import Retry
    >>> Keyed(Retry(3, base=1), key=str)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    mitigate.ConfigError: [MITIGATE.CONFIG.INVALID] Keyed: Retry keeps no state between ...

    .. versionadded:: 0.1
    """

    policy: KeyedPolicy
    key: Callable[..., Hashable]
    max_keys: int = 100_000

    def __post_init__(self) -> None:
        if not isinstance(self.policy, Breaker | Bulkhead | RateLimit):
            kind = type(self.policy).__name__
            raise invalid(
                "Keyed",
                f"{kind} keeps no state between calls, so there is nothing to key",
                "key a Breaker, Bulkhead or RateLimit",
            )
        if not callable(self.key):
            raise invalid("Keyed", f"key must be a callable, got {self.key!r}")
        count(self.max_keys, "Keyed", "max_keys", minimum=1)


# How readily a state is dropped: idle first, then counting, then open; None: never.
_IDLE: Final = 0
_COUNTING: Final = 1
_OPEN: Final = 2


def _rank(state: _BreakerState | _BulkheadState, now: float) -> int | None:
    """Idle: nothing it holds would differ from a fresh state (a failure long out of the
    window, a reset long elapsed). Never dropped: an operator's switch, calls in flight."""
    if isinstance(state, _BulkheadState):
        return _IDLE if state.in_flight == 0 and state.queued == 0 else None
    window = state.options.window
    kind = state._state
    if kind is CLOSED:
        times = state._fail_times
        if times and now - times[-1] <= window:
            return _COUNTING
        rates = state._rates
        if rates is not None and rates.calls:
            if rates.size is not None:
                return _COUNTING if rates.failures or rates.slow else _IDLE
            if now - (rates._last + 1) * rates._width < window:
                return _COUNTING
        return _IDLE
    if kind is OPEN:
        return _IDLE if now >= state._open_until + window else _OPEN
    if kind is HALF_OPEN:
        return _OPEN
    return None  # forced open or closed: a switch holds


class _PerKey(Generic[S]):
    """Running states by key, built on first use, bounded by ``max_keys``.

    Idle states expire: at a new key, once every ``every`` seconds, the table drops them.
    A full table drops its idle states, then the oldest counting and open ones, down to
    7/8 of ``max_keys``: one scan makes room for ``max_keys / 8`` new keys, never a scan
    per key. Forced breakers and bulkheads with calls in flight are never dropped.
    """

    __slots__ = (
        "_every",
        "_factory",
        "_lock",
        "_low",
        "_max",
        "_next_sweep",
        "_now",
        "_states",
        "sweeps",
    )

    def __init__(
        self,
        factory: Callable[[Hashable], S],
        max_keys: int,
        *,
        now: Callable[[], float] | None = None,
        every: float = 60.0,
    ) -> None:
        self._factory: Callable[[Hashable], S] = factory
        self._max = max_keys
        self._low = max_keys - max(1, max_keys // 8)
        self._states: dict[Hashable, S] = {}
        self._lock = threading.Lock()
        self._now = now
        self._every = every
        self._next_sweep = math.inf if now is None else now() + every
        self.sweeps = 0  # scans of the whole table, for tests and debugging

    def __len__(self) -> int:
        return len(self._states)

    def get(self, key: Hashable) -> S:
        state = self._states.get(key)
        if state is None:
            with self._lock:
                state = self._states.get(key)
                if state is None:
                    self._make_room()
                    state = self._states[key] = self._factory(key)
        return state

    def keys(self) -> list[Hashable]:
        return list(self._states)

    def _make_room(self) -> None:
        states = self._states
        full = len(states) >= self._max
        now = self._now() if self._now is not None else 0.0
        if not full and now < self._next_sweep:
            return
        self.sweeps += 1
        self._next_sweep = now + self._every
        ranked: tuple[list[Hashable], list[Hashable], list[Hashable]] = ([], [], [])
        for key, state in states.items():  # oldest first
            rank = _rank(state, now)
            if rank is not None:
                ranked[rank].append(key)
        for key in ranked[_IDLE]:
            del states[key]
        if not full:
            return
        for victims in (ranked[_COUNTING], ranked[_OPEN]):
            for key in victims:
                if len(states) <= self._low:
                    return
                del states[key]
