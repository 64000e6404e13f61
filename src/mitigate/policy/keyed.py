"""Keyed: one instance of a policy per key (a breaker per tenant is a kill switch).

``key`` reads the key from the call's own arguments. Each key gets its own breaker,
bulkhead or rate-limit budget; state for idle keys is dropped as the table grows (an
open or forced breaker is never dropped, so a kill switch holds).

>>> from mitigate.policy.breaker import Breaker
>>> per_tenant = Keyed(Breaker(5, 30, 60), key=lambda tenant, *args, **kw: tenant)
>>> per_tenant.key("acme", "payload")
'acme'

In a pipeline, ``pipeline.breaker("acme").force_open()`` stops calls for that tenant only.

.. versionadded:: 0.1
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from mitigate.policy._values import count, invalid
from mitigate.policy.breaker import CLOSED, Breaker, _BreakerState
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


class _PerKey(Generic[S]):
    """Running states by key, built on first use; idle ones are dropped past max_keys."""

    __slots__ = ("_factory", "_lock", "_max", "_states")

    def __init__(self, factory: Callable[[Hashable], S], max_keys: int) -> None:
        self._factory: Callable[[Hashable], S] = factory
        self._max = max_keys
        self._states: dict[Hashable, S] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._states)

    def get(self, key: Hashable) -> S:
        state = self._states.get(key)
        if state is None:
            with self._lock:
                state = self._states.get(key)
                if state is None:
                    if len(self._states) >= self._max:
                        self._drop_idle()
                    state = self._states[key] = self._factory(key)
        return state

    def keys(self) -> list[Hashable]:
        return list(self._states)

    def _drop_idle(self) -> None:
        for key, state in list(self._states.items()):
            if isinstance(state, _BreakerState):
                idle = state.state is CLOSED and not state._fail_times
            else:
                idle = state.in_flight == 0 and state.queued == 0
            if idle:
                del self._states[key]
