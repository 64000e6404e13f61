"""Prometheus metrics of the outbox relay, created once per registry."""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["OutboxMetrics", "Registry", "for_registry"]

Registry = CollectorRegistry
_LAG_BUCKETS = (0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
_lock = threading.Lock()
_by_registry: weakref.WeakKeyDictionary[CollectorRegistry, OutboxMetrics] = (
    weakref.WeakKeyDictionary()
)


@dataclass(frozen=True, slots=True)
class OutboxMetrics:
    """Gauges and counters labelled by outbox name."""

    backlog: Gauge
    oldest_age: Gauge
    lag_p95: Gauge
    lag: Histogram
    published: Counter
    dead_lettered: Counter


def for_registry(registry: CollectorRegistry | None = None) -> OutboxMetrics:
    """The outbox metrics registered on ``registry`` (the default registry when None)."""
    registry = REGISTRY if registry is None else registry
    with _lock:
        found = _by_registry.get(registry)
        if found is None:
            found = OutboxMetrics(
                backlog=Gauge(
                    "mitigate_outbox_backlog",
                    "Outbox rows not yet published.",
                    ["outbox"],
                    registry=registry,
                ),
                oldest_age=Gauge(
                    "mitigate_outbox_oldest_age_seconds",
                    "Age of the oldest unpublished outbox row.",
                    ["outbox"],
                    registry=registry,
                ),
                lag_p95=Gauge(
                    "mitigate_outbox_lag_p95_seconds",
                    "95th percentile of publish lag (created to acked) over the lag window.",
                    ["outbox"],
                    registry=registry,
                ),
                lag=Histogram(
                    "mitigate_outbox_lag_seconds",
                    "Publish lag of each outbox row, from its commit to the broker's ack.",
                    ["outbox"],
                    buckets=_LAG_BUCKETS,
                    registry=registry,
                ),
                published=Counter(
                    "mitigate_outbox_published",
                    "Outbox rows published and marked sent.",
                    ["outbox"],
                    registry=registry,
                ),
                dead_lettered=Counter(
                    "mitigate_outbox_dead_lettered",
                    "Outbox rows moved to the DLQ as poison.",
                    ["outbox"],
                    registry=registry,
                ),
            )
            _by_registry[registry] = found
        return found
