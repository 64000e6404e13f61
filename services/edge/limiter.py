"""The rate-limiter actor (the ``RateLimiter`` Durable Object role), sharded when hot.

One limiter actor is single-threaded: its calls queue and each costs ``work`` seconds
(the per-call CPU time of the seed's CPU-limit row, modelled on the run's clock). A hot
key through one actor queues until calls blow the per-call budget; split into N shards
by hash (key plus the caller), each shard holds ceil(limit / N) tokens, so the load
spreads and the global limit still holds within N - 1 tokens.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Histogram

from .events import LimiterCall

__all__ = ["Limiters"]


@dataclass
class _Actor:
    tokens: int
    window_start: float
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class Limiters:
    def __init__(
        self,
        runtime: Any,
        *,
        shards: int,
        work: float,
        window: float,
        registry: CollectorRegistry,
    ) -> None:
        self.rt = runtime
        self.shards = shards
        self.work = work
        self.window = window
        self._actors: dict[str, _Actor] = {}
        self.cpu_ms = Histogram(
            "durable_object_cpu_time_ms",
            "Time a limiter call spent queued and working in its actor (ms)",
            buckets=(1, 5, 10, 25, 50, 100, 250, 500, 1000, 5000),
            registry=registry,
        )

    def shard_count(self) -> int:
        return self.shards if self.rt.switches.enabled("edge.switch.limiter-sharding") else 1

    def actor_id(self, key: str, caller: str) -> tuple[str, int]:
        n = self.shard_count()
        digest = hashlib.sha256(f"{key}\x00{caller}".encode()).digest()
        shard = int.from_bytes(digest[:8], "big") % n
        return f"{key}#{shard}", n

    async def take(self, key: str, caller: str, limit: int) -> dict[str, Any]:
        arrived = self.rt.clock.now()
        actor_id, n = self.actor_id(key, caller)
        capacity = math.ceil(limit / n)
        actor = self._actors.get(actor_id)
        if actor is None:
            actor = self._actors[actor_id] = _Actor(capacity, arrived)
        async with actor.lock:
            await self.rt.clock.asleep(self.work)  # the call's CPU time, single-threaded
            now = self.rt.clock.now()
            if now - actor.window_start >= self.window:
                actor.tokens, actor.window_start = capacity, now
            allowed = actor.tokens > 0
            if allowed:
                actor.tokens -= 1
        busy_ms = (self.rt.clock.now() - arrived) * 1000.0
        self.cpu_ms.observe(busy_ms)
        self.rt.emit(LimiterCall(target=actor_id, at=self.rt.clock.now(), busy_ms=busy_ms))
        return {"allowed": allowed, "shard": actor_id, "shards": n, "busyMs": round(busy_ms, 3)}
