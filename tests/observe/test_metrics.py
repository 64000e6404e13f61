"""Prometheus metrics: sample values after a pipeline ran, on a registry the test owns."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from mitigate import Breaker, BreakerOpenError, Pipeline, Retry, VirtualClock
from mitigate.observe.metrics import PrometheusObserver
from mitigate.testing import FlakyDependency


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def test_counters_and_histograms_by_target_event_and_outcome() -> None:
    registry = CollectorRegistry()
    clock = VirtualClock()
    policy = Pipeline(
        "kms.sign",
        Retry(3, schedule=(0.05, 0.2, 0.5)),
        Breaker(10, 30, 60),
        clock=clock,
        observers=[PrometheusObserver(registry)],
    )

    def flaky_slow() -> str:
        clock.advance(0.1)
        return dep()

    dep = FlakyDependency(fail_times=2, then="sig")
    assert policy.call(flaky_slow) == "sig"

    events = "mitigate_events_total"
    assert (
        sample(registry, events, target="kms.sign", event="attempt.started", outcome="started") == 3
    )
    assert (
        sample(registry, events, target="kms.sign", event="attempt.failed", outcome="failure") == 2
    )
    assert (
        sample(registry, events, target="kms.sign", event="attempt.succeeded", outcome="success")
        == 1
    )
    assert (
        sample(registry, events, target="kms.sign", event="retry.scheduled", outcome="retry") == 2
    )

    duration = "mitigate_attempt_duration_seconds"
    labels = {"target": "kms.sign", "event": "attempt.failed", "outcome": "failure"}
    assert sample(registry, f"{duration}_count", **labels) == 2
    assert sample(registry, f"{duration}_sum", **labels) == pytest.approx(0.2)
    waits = {"target": "kms.sign", "event": "retry.scheduled", "outcome": "retry"}
    assert sample(registry, "mitigate_wait_seconds_sum", **waits) == pytest.approx(0.25)
    assert sample(registry, "mitigate_wait_seconds_bucket", le="0.1", **waits) == 1


def test_breaker_gauge_and_rejections() -> None:
    registry = CollectorRegistry()
    clock = VirtualClock()
    policy = Pipeline(
        "s3.put", Breaker(2, 30, 60), clock=clock, observers=[PrometheusObserver(registry)]
    )
    dep = FlakyDependency(fail_times=99)
    for _ in range(2):
        with pytest.raises(ConnectionError):
            policy.call(dep)
    assert sample(registry, "mitigate_breaker_open", target="s3.put") == 1
    with pytest.raises(BreakerOpenError):
        policy.call(dep)
    rejected = {"target": "s3.put", "event": "breaker.rejected", "outcome": "rejected"}
    assert sample(registry, "mitigate_events_total", **rejected) == 1
    assert sample(registry, "mitigate_wait_seconds_sum", **rejected) == pytest.approx(60.0)
    assert (
        sample(
            registry,
            "mitigate_events_total",
            target="s3.put",
            event="breaker.opened",
            outcome="open",
        )
        == 1
    )
    policy.breaker().reset()
    assert sample(registry, "mitigate_breaker_open", target="s3.put") == 0


def test_observers_share_one_registry() -> None:
    registry = CollectorRegistry()
    a, b = PrometheusObserver(registry), PrometheusObserver(registry)  # no duplicate error
    clock = VirtualClock()
    Pipeline("x", Retry(1, schedule=(0,)), clock=clock, observers=[a]).call(lambda: 1)
    Pipeline("y", Retry(1, schedule=(0,)), clock=clock, observers=[b]).call(lambda: 1)
    text = generate_latest(registry).decode()
    assert (
        'mitigate_events_total{event="attempt.succeeded",outcome="success",target="x"} 1.0' in text
    )
    assert 'target="y"' in text
    other = CollectorRegistry()
    Pipeline(
        "z",
        Retry(1, schedule=(0,)),
        clock=clock,
        observers=[PrometheusObserver(other, namespace="svc")],
    ).call(lambda: 1)
    labels = {"target": "z", "event": "attempt.succeeded", "outcome": "success"}
    assert other.get_sample_value("svc_events_total", labels) == 1
    assert registry.get_sample_value("mitigate_events_total", labels) is None
