"""Prometheus metrics from events: an observer that counts and times every decision.

Exports, labelled by ``target`` (the pipeline's name), ``event`` (the event's dotted
name) and ``outcome`` (what it meant: ``success``, ``failure``, ``timeout``, ``retry``,
``rejected``, ``exhausted``, ``open``, ...):

- ``mitigate_events_total``: a counter of every event (alert rules read it);
- ``mitigate_attempt_duration_seconds``: a histogram of attempt durations;
- ``mitigate_wait_seconds``: a histogram of waits decided (retry delays, Retry-After of
  a breaker or a rate limit, the delay a budget refused);
- ``mitigate_breaker_open``: a gauge, 1 while a target's breaker is open.

Metrics live on the registry you pass (the global one by default) and are created once
per registry, so several observers can share it.

>>> from prometheus_client import CollectorRegistry
>>> from mitigate.observe.events import AttemptFailed
>>> registry = CollectorRegistry()
>>> metrics = PrometheusObserver(registry)
>>> metrics(AttemptFailed(target="kms.sign", at=0.0, attempt=1, duration=0.25))
>>> registry.get_sample_value(
...     "mitigate_events_total",
...     {"target": "kms.sign", "event": "attempt.failed", "outcome": "failure"})
1.0

.. versionadded:: 0.1
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from typing import Final

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from mitigate.observe.events import (
    AttemptFailed,
    AttemptSucceeded,
    BreakerRejected,
    BreakerStateChanged,
    BudgetExhausted,
    Event,
    FaultInjected,
    LimitHit,
    RetryScheduled,
)

__all__ = ["PrometheusObserver", "exported_metric_names", "outcome"]

_DURATION_BUCKETS: Final = (
    0.001,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)
_WAIT_BUCKETS: Final = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)
_LABELS: Final = ("target", "event", "outcome")

# What each event means, for the outcome label (events not listed: their last name part).
_OUTCOMES: Final = {
    "attempt.started": "started",
    "attempt.succeeded": "success",
    "attempt.failed": "failure",
    "timeout.fired": "timeout",
    "retry.scheduled": "retry",
    "retry.exhausted": "exhausted",
    "budget.exhausted": "exhausted",
    "breaker.rejected": "rejected",
    "bulkhead.full": "rejected",
    "ratelimit.hit": "rejected",
    "fallback.used": "fallback",
    "alert.raised": "alert",
}


def outcome(event: Event) -> str:
    """The ``outcome`` label of an event.

    >>> from mitigate.observe.events import BreakerOpened, RetryScheduled
    >>> outcome(BreakerOpened(target="t", at=0.0, to_state="open"))
    'open'
    >>> outcome(RetryScheduled(target="t", at=0.0))
    'retry'
    """
    if isinstance(event, BreakerStateChanged):
        return event.to_state or "changed"
    if isinstance(event, FaultInjected):
        return event.fault or "fault"
    found = _OUTCOMES.get(event.name)
    if found is not None:
        return found
    return event.name.rsplit(".", 1)[-1]


@dataclass(frozen=True, slots=True)
class _Metrics:
    events: Counter
    attempt_seconds: Histogram
    wait_seconds: Histogram
    breaker_open: Gauge


_lock = threading.Lock()
_by_registry: weakref.WeakKeyDictionary[CollectorRegistry, dict[str, _Metrics]] = (
    weakref.WeakKeyDictionary()
)


def _metrics(registry: CollectorRegistry, namespace: str) -> _Metrics:
    with _lock:
        per_namespace = _by_registry.setdefault(registry, {})
        found = per_namespace.get(namespace)
        if found is None:
            found = per_namespace[namespace] = _Metrics(
                events=Counter(
                    "events",
                    "Policy decisions (attempts, retries, rejections, fallbacks, faults)",
                    _LABELS,
                    namespace=namespace,
                    registry=registry,
                ),
                attempt_seconds=Histogram(
                    "attempt_duration_seconds",
                    "How long each attempt took",
                    _LABELS,
                    namespace=namespace,
                    registry=registry,
                    buckets=_DURATION_BUCKETS,
                ),
                wait_seconds=Histogram(
                    "wait_seconds",
                    "Waits decided by policies: retry delays, Retry-After, refused delays",
                    _LABELS,
                    namespace=namespace,
                    registry=registry,
                    buckets=_WAIT_BUCKETS,
                ),
                breaker_open=Gauge(
                    "breaker_open",
                    "1 while the target's circuit breaker is open (forced or not)",
                    ("target",),
                    namespace=namespace,
                    registry=registry,
                ),
            )
        return found


_SUFFIXES: Final = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "gauge": ("",),
}


def exported_metric_names(namespace: str = "mitigate") -> frozenset[str]:
    """Every sample name mitigate exports (what a PromQL expression can read): this
    observer's metrics and the outbox relay's.

    >>> names = exported_metric_names()
    >>> "mitigate_events_total" in names, "mitigate_breaker_open" in names
    (True, True)
    >>> "mitigate_outbox_backlog" in names, "mitigate_events" in names
    (True, False)
    """
    # Imported here: the outbox's metrics live with the outbox, which imports nothing back.
    from mitigate.durable._outbox_metrics import for_registry

    registry = CollectorRegistry()
    _metrics(registry, namespace)
    for_registry(registry)
    return frozenset(
        family.name + suffix
        for family in registry.collect()
        for suffix in _SUFFIXES.get(family.type, ("",))
    )


class PrometheusObserver:
    """An observer that turns every event into Prometheus samples.

    Pass it to a pipeline (``observers=[PrometheusObserver(registry)]``) or a catalog
    (``catalog.observe(...)``).

    .. versionadded:: 0.1
    """

    __slots__ = ("_metrics", "registry")

    def __init__(
        self, registry: CollectorRegistry | None = None, *, namespace: str = "mitigate"
    ) -> None:
        self.registry = REGISTRY if registry is None else registry
        self._metrics = _metrics(self.registry, namespace)

    def __call__(self, event: Event) -> None:
        metrics = self._metrics
        kind = outcome(event)
        labels = (event.target, event.name, kind)
        metrics.events.labels(*labels).inc()
        if isinstance(event, AttemptSucceeded | AttemptFailed):
            metrics.attempt_seconds.labels(*labels).observe(event.duration)
        elif isinstance(event, RetryScheduled | BudgetExhausted):
            metrics.wait_seconds.labels(*labels).observe(event.delay)
        elif isinstance(event, BreakerRejected | LimitHit):
            metrics.wait_seconds.labels(*labels).observe(event.retry_after)
        elif isinstance(event, BreakerStateChanged):
            is_open = event.to_state in ("open", "forced_open")
            metrics.breaker_open.labels(event.target).set(1.0 if is_open else 0.0)
