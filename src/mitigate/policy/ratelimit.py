"""Rate limit: at most ``rate`` permits per ``per`` seconds, per key.

A limiter answers at once, allow or deny, with the time until the next permit:

>>> from mitigate.clock import VirtualClock
>>> clock = VirtualClock()
>>> limiter = RateLimit(2, per=1.0).limiter(clock)
>>> limiter.try_acquire("token-a")
Permit(allowed=True, retry_after=0.0)
>>> limiter.try_acquire("token-a")
Permit(allowed=False, retry_after=0.5)
>>> limiter.try_acquire("token-b").allowed     # every key has its own budget
True
>>> clock.advance(0.5); limiter.try_acquire("token-a").allowed
True

Algorithms (time is kept in integer nanoseconds, so rounding never admits one more):

- ``"gcra"`` (default): the generic cell rate algorithm, one number per key. Permits are
  spaced ``per / rate`` apart, with up to ``burst`` (default 1) back to back. Over any
  window of ``per`` seconds it admits at most ``rate + burst - 1``: exactly ``rate`` with
  the default burst.
- ``"token_bucket"``: a bucket of ``burst`` tokens (default 1) refilled at ``rate / per``;
  the same guarantee, kept as tokens.
- ``"sliding_window"``: the exact sliding log (``limits``' moving window) in a ring of
  ``rate`` stamps per key: a full burst of ``rate`` at once, and never more than ``rate``
  in any window of ``per`` seconds.

In a :class:`~mitigate.Pipeline` a rate limit rejects with
:class:`~mitigate.RateLimitedError` (``retry_after`` set) and a ``LimitHit`` event; wrap
it in :class:`~mitigate.Keyed` to pick the key from the call's arguments (60/min per
token and 600/min per tenant are two keyed limits in one pipeline).

.. versionadded:: 0.1
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Final, Literal, NamedTuple

from mitigate.clock import Clock, default_clock
from mitigate.policy._values import Seconds, invalid, seconds

__all__ = ["Algorithm", "Permit", "RateLimit", "RateLimiter"]

Algorithm = Literal["gcra", "token_bucket", "sliding_window"]
_ALGORITHMS: Final = ("gcra", "token_bucket", "sliding_window")
_NS: Final = 1_000_000_000


class Permit(NamedTuple):
    """The answer of :meth:`RateLimiter.try_acquire`: allowed, or when to come back."""

    allowed: bool
    retry_after: float


_ALLOWED: Final = Permit(True, 0.0)
# A limiter keyed by user input (a token, an address) holds at most this many keys.
DEFAULT_MAX_KEYS: Final = 100_000


@dataclass(frozen=True, slots=True, init=False)
class RateLimit:
    """``rate`` permits per ``per`` seconds; see the module text for the algorithms.

    >>> RateLimit(60, per=60)
    RateLimit(rate=60.0, per=60.0, burst=None, algorithm='gcra')
    >>> RateLimit(1.5, per=1, algorithm="sliding_window")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    mitigate.ConfigError: [MITIGATE.CONFIG.INVALID] RateLimit: a sliding window needs a whole ...

    .. versionadded:: 0.1
    """

    rate: float
    per: float
    burst: int | None
    algorithm: Algorithm

    def __init__(
        self,
        rate: float,
        per: Seconds = 1.0,
        *,
        burst: int | None = None,
        algorithm: Algorithm = "gcra",
    ) -> None:
        name = "RateLimit"
        put = object.__setattr__
        if not isinstance(rate, int | float) or isinstance(rate, bool) or not rate > 0:
            raise invalid(name, f"rate must be a number > 0, got {rate!r}")
        if math.isinf(rate):
            raise invalid(name, "rate must be finite")
        put(self, "rate", float(rate))
        put(self, "per", seconds(per, name, "per", positive=True))
        if burst is not None and (
            not isinstance(burst, int) or isinstance(burst, bool) or burst < 1
        ):
            raise invalid(name, f"burst must be an integer >= 1, got {burst!r}")
        put(self, "burst", burst)
        if algorithm not in _ALGORITHMS:
            raise invalid(
                name, f"algorithm must be one of {', '.join(_ALGORITHMS)}; got {algorithm!r}"
            )
        put(self, "algorithm", algorithm)
        if algorithm == "sliding_window":
            if self.rate != int(self.rate):
                raise invalid(name, f"a sliding window needs a whole rate, got {rate!r}")
            if burst is not None:
                raise invalid(name, "a sliding window allows a burst of the whole rate; drop burst")

    def limiter(
        self, clock: Clock | None = None, *, max_keys: int | None = DEFAULT_MAX_KEYS
    ) -> RateLimiter:
        """A running limiter on ``clock`` (the real clock by default), holding at most
        ``max_keys`` keys (``None``: no bound, for keys that are not user input)."""
        return RateLimiter(self, clock if clock is not None else default_clock(), max_keys=max_keys)

    def describe(self) -> str:
        """A short human text.

        >>> RateLimit(600, per=60).describe()
        '600/min (gcra, burst 1)'
        """
        from mitigate.policy.notation import format_duration

        rate = int(self.rate) if self.rate == int(self.rate) else self.rate
        burst = "" if self.algorithm == "sliding_window" else f", burst {self.burst or 1}"
        unit = {1.0: "s", 60.0: "min", 3600.0: "h", 86400.0: "day"}.get(self.per)
        return f"{rate}/{unit or format_duration(self.per)} ({self.algorithm}{burst})"


class RateLimiter:
    """The running state of a :class:`RateLimit`: one entry per key, thread-safe.

    Keys that have recovered their whole budget are dropped as the table grows, so a
    limiter per token or per IP does not leak; and the table never holds more than
    ``max_keys`` (100,000 by default; ``None`` for no bound). When every key is live (a
    flood of fresh tokens inside one window), a full table forgets the least constrained
    keys (free for their next permit soonest) down to 7/8 of it, so a key that is being
    refused keeps its limit: one sort per ``max_keys / 8`` new keys, never one per key.
    """

    __slots__ = (
        "_interval",
        "_lock",
        "_max_keys",
        "_now",
        "_per",
        "_prune_at",
        "_rate",
        "_rings",
        "_scale",
        "_sliding",
        "_tats",
        "_tolerance",
        "clock",
        "options",
    )

    def __init__(
        self, options: RateLimit, clock: Clock, *, max_keys: int | None = DEFAULT_MAX_KEYS
    ) -> None:
        if max_keys is not None and (
            isinstance(max_keys, bool) or not isinstance(max_keys, int) or max_keys < 1
        ):
            raise invalid("RateLimiter", f"max_keys must be an integer >= 1, got {max_keys!r}")
        self.options = options
        self.clock = clock
        self._now = clock.now
        self._lock = threading.Lock()
        self._sliding = options.algorithm == "sliding_window"
        per = round(options.per * _NS)
        self._per = per
        self._rate = int(options.rate)
        # Exact integer arithmetic: time counts in units of 1/num ns, where rate =
        # num/den, so the spacing between permits (per/rate) is a whole number of units.
        ratio = Fraction(options.rate).limit_denominator(1_000_000)
        self._scale = ratio.numerator
        self._interval = per * ratio.denominator
        self._tolerance = ((options.burst or 1) - 1) * self._interval
        # gcra and token_bucket keep one number per key, the theoretical arrival time of
        # the next permit (a token bucket's level is tolerance + interval - (tat - now)).
        self._tats: dict[Hashable, int] = {}
        # sliding_window keeps [next index, stamp 1, ..., stamp rate] per key.
        self._rings: dict[Hashable, list[int]] = {}
        self._max_keys = max_keys
        self._prune_at = 1024 if max_keys is None else min(1024, max_keys)

    def __repr__(self) -> str:
        return f"<RateLimiter {self.options.describe()} keys={len(self)}>"

    def __len__(self) -> int:
        return len(self._tats) + len(self._rings)

    def try_acquire(self, key: Hashable = "") -> Permit:
        """Take one permit for ``key`` now, or say how long until one is free."""
        now_ns = int(self._now() * _NS + 0.5)
        if self._sliding:
            return self._slide(key, now_ns)
        now = now_ns * self._scale
        tats = self._tats
        tolerance = self._tolerance
        with self._lock:
            tat = tats.get(key)
            if tat is None or tat < now:
                if tat is None and len(tats) >= self._prune_at:
                    self._prune(now_ns)
                tat = now
            if tat - now <= tolerance:
                tats[key] = tat + self._interval
                return _ALLOWED
        return Permit(False, (tat - tolerance - now) / self._scale / _NS)

    def _slide(self, key: Hashable, now: int) -> Permit:
        per = self._per
        with self._lock:
            ring = self._rings.get(key)
            if ring is None:
                if len(self._rings) >= self._prune_at:
                    self._prune(now)
                ring = self._rings[key] = [1, *([-per] * self._rate)]
            i = ring[0]
            oldest = ring[i]  # the ring is written in order, so slot i is the oldest
            if now - oldest >= per:
                ring[i] = now
                ring[0] = i + 1 if i < self._rate else 1
                return _ALLOWED
        return Permit(False, (oldest + per - now) / _NS)

    def refund(self, key: Hashable = "") -> None:
        """Give back the last permit taken for ``key`` (a later check refused the call).

        >>> from mitigate.clock import VirtualClock
        >>> limiter = RateLimit(1, per=1.0).limiter(VirtualClock())
        >>> limiter.try_acquire().allowed, limiter.try_acquire().allowed
        (True, False)
        >>> limiter.refund(); limiter.try_acquire().allowed
        True
        """
        with self._lock:
            if self._sliding:
                ring = self._rings.get(key)
                if ring is not None:
                    last = ring[0] - 1 if ring[0] > 1 else self._rate
                    ring[last] = -self._per
                    ring[0] = last
            elif key in self._tats:
                self._tats[key] -= self._interval

    def reset(self, key: Hashable | None = None) -> None:
        """Forget ``key``'s history (every key when None)."""
        with self._lock:
            if key is None:
                self._tats.clear()
                self._rings.clear()
            else:
                self._tats.pop(key, None)
                self._rings.pop(key, None)

    def _prune(self, now: int) -> None:
        # Drop keys whose budget is whole again: they read the same as a fresh key.
        scaled = now if self._sliding else now * self._scale
        for k in [k for k, tat in self._tats.items() if tat <= scaled]:
            del self._tats[k]
        horizon = now - self._per
        for k in [k for k, ring in self._rings.items() if max(ring[1:]) <= horizon]:
            del self._rings[k]
        self._prune_at = max(1024, 2 * len(self))
        bound = self._max_keys
        if bound is not None:
            low = bound - max(1, bound // 8)
            table: dict[Hashable, Any] = self._rings if self._sliding else self._tats
            excess = len(table) - low
            if excess > 0:
                # Every key is live: forget those whose next permit is free soonest (a
                # ring's oldest stamp, a gcra key's tat); keys being refused sort last.
                free_at: Callable[[Hashable], int] = (
                    (lambda k: self._rings[k][self._rings[k][0]])
                    if self._sliding
                    else self._tats.__getitem__
                )
                for k in sorted(table, key=free_at)[:excess]:
                    del table[k]
            self._prune_at = min(self._prune_at, bound)
