"""Worker instances per tenant, with cold starts and a pre-warmed minimum (the Worker cold
start and Provisioned Concurrency roles).

A request served by no warm instance pays a cold start (``init`` seconds on the clock,
the simulated initialisation) and leaves a warm instance, which goes cold after ``idle``
seconds without requests. Production-tier tenants keep ``min_warm`` instances warm: warmed
before the process reports ready, and re-warmed by the keep-warm loop after a scale to
zero. Latency per request feeds ``latency_ms_histogram`` and a p99 over the last 100.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from prometheus_client import CollectorRegistry, Histogram

from .events import LatencyP99

__all__ = ["WorkerPool"]


class WorkerPool:
    def __init__(
        self,
        runtime: Any,
        *,
        init: float,
        idle: float,
        min_warm: int,
        registry: CollectorRegistry,
    ) -> None:
        self.rt = runtime
        self.init = init
        self.idle = idle
        self.min_warm = min_warm
        self._warm: dict[str, float] = {}  # tenant -> last use of its warm instance
        self._recent: deque[float] = deque(maxlen=100)
        self.latency = Histogram(
            "latency_ms_histogram",
            "Worker latency per request (ms)",
            buckets=(5, 25, 100, 250, 500, 1000, 2500, 5000),
            registry=registry,
        )

    def _is_warm(self, tenant: str) -> bool:
        last = self._warm.get(tenant)
        return last is not None and self.rt.clock.now() - last < self.idle

    async def _start(self, tenant: str) -> None:
        await self.rt.clock.asleep(self.init)  # the instance's initialisation
        self._warm[tenant] = self.rt.clock.now()

    async def serve(self, tenant: str, plan: str) -> bool:
        """Route one request to a warm instance of ``tenant`` (a cold start if none);
        True when it paid a cold start."""
        start = self.rt.clock.now()
        cold = not self._is_warm(tenant)
        if cold:
            await self._start(tenant)
        self._warm[tenant] = self.rt.clock.now()
        ms = (self.rt.clock.now() - start) * 1000.0
        self.latency.observe(ms)
        self._recent.append(ms)
        ranked = sorted(self._recent)
        p99 = ranked[min(len(ranked) - 1, int(0.99 * len(ranked)))]
        self.rt.emit(LatencyP99(target=plan, at=self.rt.clock.now(), p99_ms=p99, cold=cold))
        return cold

    def scale_to_zero(self) -> None:
        self._warm.clear()

    async def warm(self, tenants: list[str]) -> None:
        """Warm every production-tier tenant with no warm instance."""
        if not self.rt.switches.enabled("edge.switch.prewarm") or self.min_warm < 1:
            return
        await asyncio.gather(*(self._start(t) for t in tenants if not self._is_warm(t)))

    def warm_for(self, tenants: list[str]) -> bool:
        return all(self._is_warm(t) for t in tenants)

    async def keep_warm(self, tenants: Any, stop: asyncio.Event, *, every: float = 10.0) -> None:
        """Re-warm the production tenants every ``every`` seconds until ``stop``."""
        while not stop.is_set():
            await self.warm(await tenants())
            await self.rt.clock.asleep(every)
