"""Rate limits and the IP block list in Redis, shared by every process of a service.

Both run as Lua scripts (one round trip, atomic). Time comes from the caller's clock and
is passed to the script, never read from Redis, so the same code runs in virtual time in
tests; Redis TTLs are only there to collect keys nobody uses any more.

- :class:`RedisRateLimiter`: ``"sliding_window"`` (exact: never more than ``rate`` in any
  ``per`` seconds, a sorted set of stamps per key) or ``"gcra"`` (one number per key,
  permits spaced ``per / rate`` apart with ``burst`` back to back).
- :class:`RedisIpBlocker`: ``threshold`` failures inside ``window`` block the address for
  ``block_for`` seconds.

Keys are ``<prefix>:rl:<key>``, ``<prefix>:fail:<ip>`` and ``<prefix>:block:<ip>``.

.. versionadded:: 0.1
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Literal

from mitigate.clock import Clock, default_clock
from mitigate.errors import ConfigError
from mitigate.observe.events import IpBlocked
from mitigate.observe.observers import Observer, Observers
from mitigate.policy.ratelimit import Permit

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisIpBlocker", "RedisRateLimiter"]

_US = 1_000_000

_SLIDING = """
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, tonumber(oldest[2]) + window - now}
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return {1, 0}
"""

_GCRA = """
local now, interval, tolerance = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
if now < tat - tolerance then return {0, tat - tolerance - now} end
redis.call('SET', KEYS[1], string.format('%.0f', tat + interval), 'PX', ARGV[4])
return {1, 0}
"""

_FAIL = """
local block_key, fail_key = KEYS[1], KEYS[2]
local now, window, threshold, block_until = tonumber(ARGV[1]), tonumber(ARGV[2]),
  tonumber(ARGV[3]), tonumber(ARGV[4])
local blocked = tonumber(redis.call('GET', block_key) or '0')
if blocked > now then return {0, blocked - now} end
redis.call('ZREMRANGEBYSCORE', fail_key, '-inf', now - window)
redis.call('ZADD', fail_key, now, ARGV[5])
redis.call('PEXPIRE', fail_key, ARGV[6])
if redis.call('ZCARD', fail_key) >= threshold then
  redis.call('DEL', fail_key)
  redis.call('SET', block_key, string.format('%.0f', block_until), 'PX', ARGV[7])
  return {1, block_until - now}
end
return {0, 0}
"""

_BLOCKED = """
local blocked = tonumber(redis.call('GET', KEYS[1]) or '0')
if blocked > tonumber(ARGV[1]) then return blocked - tonumber(ARGV[1]) end
return 0
"""

# Real-time lifetime of keys beyond what the algorithm needs (garbage collection only).
_GRACE_MS = 60_000


class _Unique:
    # Members of a sorted set must differ even for equal stamps.
    def __init__(self) -> None:
        self._prefix = os.urandom(6).hex()
        self._seq = itertools.count()

    def __call__(self, now: int) -> str:
        return f"{now}-{self._prefix}-{next(self._seq)}"


class RedisRateLimiter:
    """``rate`` permits per ``per`` seconds per key, kept in Redis (see the module text)."""

    def __init__(
        self,
        redis: Redis,
        *,
        rate: int,
        per: float,
        burst: int | None = None,
        algorithm: Literal["sliding_window", "gcra"] = "sliding_window",
        prefix: str = "mitigate",
        clock: Clock | None = None,
    ) -> None:
        if isinstance(rate, bool) or not isinstance(rate, int) or rate < 1 or not per > 0:
            raise ConfigError(
                "rate limit", f"rate must be an integer >= 1 and per > 0 ({rate}/{per})"
            )
        if algorithm not in ("sliding_window", "gcra"):
            raise ConfigError(
                "rate limit", f"algorithm must be sliding_window or gcra, not {algorithm!r}"
            )
        if burst is not None and (burst < 1 or algorithm != "gcra"):
            raise ConfigError("rate limit", "burst is a GCRA option, >= 1")
        self.redis = redis
        self.rate = rate
        self.per = float(per)
        self.burst = burst or 1
        self.algorithm = algorithm
        self.prefix = prefix
        self.clock = clock or default_clock()
        self._window_us = round(self.per * _US)
        self._interval_us = self._window_us / rate
        self._script = redis.register_script(_SLIDING if algorithm == "sliding_window" else _GCRA)
        self._unique = _Unique()

    async def try_acquire(self, key: str) -> Permit:
        now = round(self.clock.wall() * _US)
        name = f"{self.prefix}:rl:{key}"
        ttl_ms = math.ceil(self._window_us / 1000) + _GRACE_MS
        args: list[Any]
        if self.algorithm == "sliding_window":
            args = [now, self._window_us, self.rate, self._unique(now), ttl_ms]
        else:
            tolerance = round(self._interval_us * (self.burst - 1))
            args = [now, round(self._interval_us), tolerance, ttl_ms]
        allowed, wait_us = await self._script(keys=[name], args=args)
        return Permit(bool(allowed), max(float(wait_us), 0.0) / _US)


class RedisIpBlocker:
    """The Redis twin of :class:`~mitigate.guard.blocklist.IpBlocker`."""

    def __init__(
        self,
        redis: Redis,
        *,
        threshold: int = 100,
        window: float = 60.0,
        block_for: float,
        prefix: str = "mitigate",
        clock: Clock | None = None,
        observers: Iterable[Observer] = (),
        target: str = "ip.block",
    ) -> None:
        if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 1:
            raise ConfigError(target, f"threshold must be an integer >= 1, not {threshold!r}")
        if not window > 0 or not block_for > 0:
            raise ConfigError(target, "window and block_for must be > 0")
        self.redis = redis
        self.threshold = threshold
        self.window = float(window)
        self.block_for = float(block_for)
        self.prefix = prefix
        self.clock = clock or default_clock()
        self.observers = observers if isinstance(observers, Observers) else Observers(observers)
        self.target = target
        self._fail = redis.register_script(_FAIL)
        self._blocked = redis.register_script(_BLOCKED)
        self._unique = _Unique()

    async def arecord_failure(self, ip: str) -> bool:
        now = round(self.clock.wall() * _US)
        window_us = round(self.window * _US)
        until = now + round(self.block_for * _US)
        blocked_now, _ = await self._fail(
            keys=[f"{self.prefix}:block:{ip}", f"{self.prefix}:fail:{ip}"],
            args=[
                now,
                window_us,
                self.threshold,
                until,
                self._unique(now),
                math.ceil(window_us / 1000) + _GRACE_MS,
                math.ceil(self.block_for * 1000) + _GRACE_MS,
            ],
        )
        if blocked_now and self.observers:
            self.observers.emit(
                IpBlocked(
                    target=self.target,
                    at=self.clock.now(),
                    ip=ip,
                    failures=self.threshold,
                    window=self.window,
                    duration=self.block_for,
                )
            )
        return bool(blocked_now)

    async def ablocked_for(self, ip: str) -> float | None:
        now = round(self.clock.wall() * _US)
        left = await self._blocked(keys=[f"{self.prefix}:block:{ip}"], args=[now])
        return float(left) / _US if left and int(left) > 0 else None

    async def unblock(self, ip: str) -> None:
        await self.redis.delete(f"{self.prefix}:block:{ip}", f"{self.prefix}:fail:{ip}")
