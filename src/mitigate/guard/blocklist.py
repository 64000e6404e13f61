"""Auto-block: an address with ``threshold`` failures inside ``window`` seconds is blocked.

theme.fm.2.13: 100 failed requests (401/404) from one IP within one minute block it, 99 do
not; the block lasts ``block_for`` seconds, a catalog value the seed leaves open (so it has
no default here). Each address keeps at most ``threshold`` timestamps, and at most
``max_tracked`` addresses are tracked (least recently failing dropped first), so a flood
of spoofed sources cannot grow memory without bound. :class:`~mitigate.IpBlocked` is sent
when an address is blocked. The Redis twin (shared by many processes) is
:class:`mitigate.guard.redis_limits.RedisIpBlocker`.

>>> from mitigate.clock import VirtualClock
>>> clock = VirtualClock()
>>> blocker = IpBlocker(threshold=3, window=60, block_for=600, clock=clock)
>>> [blocker.record_failure("198.51.100.7") for _ in range(3)]
[False, False, True]
>>> blocker.blocked_for("198.51.100.7")
600.0
>>> clock.advance(600); blocker.blocked_for("198.51.100.7") is None
True

.. versionadded:: 0.1
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Iterable
from typing import Protocol

from mitigate.clock import Clock, default_clock
from mitigate.errors import ConfigError
from mitigate.guard.errors import IpBlockedError
from mitigate.observe.events import IpBlocked
from mitigate.observe.observers import Observer, Observers

__all__ = ["AsyncBlocker", "IpBlocker"]


class AsyncBlocker(Protocol):
    """What the rate-limit middleware needs from a blocker (in process or in Redis)."""

    async def ablocked_for(self, ip: str) -> float | None: ...
    async def arecord_failure(self, ip: str) -> bool: ...


class IpBlocker:
    """In-process failure counter and block list."""

    def __init__(
        self,
        *,
        threshold: int = 100,
        window: float = 60.0,
        block_for: float,
        clock: Clock | None = None,
        observers: Iterable[Observer] = (),
        max_tracked: int = 100_000,
        target: str = "ip.block",
    ) -> None:
        if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 1:
            raise ConfigError(target, f"threshold must be an integer >= 1, not {threshold!r}")
        if not window > 0 or not block_for > 0 or max_tracked < 1:
            raise ConfigError(target, "window and block_for must be > 0, max_tracked >= 1")
        self.threshold = threshold
        self.window = float(window)
        self.block_for = float(block_for)
        self.clock = clock or default_clock()
        self.observers = observers if isinstance(observers, Observers) else Observers(observers)
        self.max_tracked = max_tracked
        self.target = target
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._blocked: dict[str, float] = {}
        self._lock = threading.Lock()

    def record_failure(self, ip: str) -> bool:
        """Count one failure; True when this one blocked the address."""
        now = self.clock.now()
        with self._lock:
            if self._until(ip, now) is not None:
                return False
            stamps = self._failures.get(ip)
            if stamps is None:
                stamps = self._failures[ip] = deque(maxlen=self.threshold)
                if len(self._failures) > self.max_tracked:
                    self._failures.popitem(last=False)
            else:
                self._failures.move_to_end(ip)
            stamps.append(now)
            # threshold failures with the oldest still inside the window: block.
            if len(stamps) < self.threshold or now - stamps[0] >= self.window:
                return False
            del self._failures[ip]
            self._blocked[ip] = now + self.block_for
            if len(self._blocked) > self.max_tracked:  # drop blocks that have run out
                self._blocked = {k: u for k, u in self._blocked.items() if u > now}
        if self.observers:
            self.observers.emit(
                IpBlocked(
                    target=self.target,
                    at=now,
                    ip=ip,
                    failures=self.threshold,
                    window=self.window,
                    duration=self.block_for,
                )
            )
        return True

    def blocked_for(self, ip: str) -> float | None:
        """Seconds the address stays blocked, or None when it is not blocked."""
        with self._lock:
            return self._until(ip, self.clock.now())

    def require_not_blocked(self, ip: str) -> None:
        """Raise :class:`~mitigate.guard.errors.IpBlockedError` while ``ip`` is blocked."""
        left = self.blocked_for(ip)
        if left is not None:
            raise IpBlockedError(
                f"ip {ip}", "blocked after repeated failed requests", retry_after=left
            )

    def failures(self, ip: str) -> int:
        """Failures counted inside the current window."""
        now = self.clock.now()
        with self._lock:
            stamps = self._failures.get(ip, ())
            return sum(1 for t in stamps if now - t < self.window)

    def unblock(self, ip: str) -> None:
        with self._lock:
            self._blocked.pop(ip, None)
            self._failures.pop(ip, None)

    async def ablocked_for(self, ip: str) -> float | None:
        return self.blocked_for(ip)

    async def arecord_failure(self, ip: str) -> bool:
        return self.record_failure(ip)

    def _until(self, ip: str, now: float) -> float | None:
        until = self._blocked.get(ip)
        if until is None:
            return None
        if now >= until:
            del self._blocked[ip]
            return None
        return until - now
