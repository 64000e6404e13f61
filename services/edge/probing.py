"""Tenant-resolution failures counted per client address; an address crossing the
catalog's probing threshold inside its window raises :class:`TenantProbing` once per
window (misconfiguration or malicious probing, seed 004 §2.2)."""

from __future__ import annotations

from collections import defaultdict, deque
from typing import Any

from prometheus_client import CollectorRegistry, Counter

from .events import TenantProbing

__all__ = ["ProbeCounter"]


class ProbeCounter:
    def __init__(
        self, runtime: Any, *, threshold: int, window: float, registry: CollectorRegistry
    ) -> None:
        self.rt = runtime
        self.threshold = threshold
        self.window = window
        self._seen: dict[str, deque[float]] = defaultdict(deque)
        self._alerted: dict[str, float] = {}
        self.failures = Counter(
            "edge_tenant_resolution_failures",
            "Requests refused because their tenant did not resolve",
            registry=registry,
        )

    def count(self, ip: str) -> int:
        return len(self._seen.get(ip, ()))

    def __call__(self, ip: str) -> None:
        now = self.rt.clock.now()
        self.failures.inc()
        seen = self._seen[ip]
        seen.append(now)
        while seen and seen[0] <= now - self.window:
            seen.popleft()
        last = self._alerted.get(ip)
        if len(seen) >= self.threshold and (last is None or now - last >= self.window):
            self._alerted[ip] = now
            self.rt.emit(TenantProbing(target=ip or "unknown", at=now, failures=len(seen)))
