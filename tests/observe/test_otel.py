"""OpenTelemetry observer: a real pipeline's attempts become spans, decisions span events."""

from __future__ import annotations

import asyncio

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import StatusCode

import mitigate
from mitigate.observe import OpenTelemetryObserver
from mitigate.observe.service_events import JobDeadLettered
from mitigate.testing import FlakyDependency


@pytest.fixture
def traced() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


async def test_attempts_are_child_spans_and_retries_are_events_on_the_request_span(
    traced: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = traced
    tracer = provider.get_tracer("content")
    otel = OpenTelemetryObserver(provider)
    sign = mitigate.Pipeline(
        "kms.sign",
        mitigate.Retry(3, schedule=(0.05, 0.2)),
        mitigate.Timeout(0.5),
        clock=mitigate.VirtualClock(),
        observers=[otel],
    )
    with tracer.start_as_current_span("POST /publish") as request:
        result = await sign.acall(FlakyDependency(fail_times=2, then=b"sig").acall)
    assert result == b"sig"
    spans = exporter.get_finished_spans()
    attempts = [s for s in spans if s.name == "mitigate.attempt"]
    assert [s.attributes["mitigate.attempt"] for s in attempts] == [1, 2, 3]
    assert [s.status.status_code for s in attempts] == [
        StatusCode.ERROR, StatusCode.ERROR, StatusCode.OK,
    ]  # fmt: skip
    assert all(s.parent.span_id == request.get_span_context().span_id for s in attempts)
    assert attempts[0].events[0].name == "exception"  # the failure is recorded on its span
    (parent,) = [s for s in spans if s.name == "POST /publish"]
    retries = [e for e in parent.events if e.name == "retry.scheduled"]
    assert [e.attributes["mitigate.delay"] for e in retries] == [0.05, 0.2]


async def test_concurrent_calls_to_one_target_keep_their_own_spans(
    traced: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = traced
    clock = mitigate.VirtualClock()
    pipe = mitigate.Pipeline("cdn.fetch", mitigate.Timeout(5.0), clock=clock,
                             observers=[OpenTelemetryObserver(provider)])  # fmt: skip

    async def slow(n: float) -> float:
        await clock.asleep(n)
        return n

    assert await asyncio.gather(pipe.acall(slow, 2.0), pipe.acall(slow, 1.0)) == [2.0, 1.0]
    attempts = [s for s in exporter.get_finished_spans() if s.name == "mitigate.attempt"]
    assert len(attempts) == 2 and all(s.status.status_code == StatusCode.OK for s in attempts)


def test_a_decision_outside_any_span_becomes_its_own_span(
    traced: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = traced
    otel = OpenTelemetryObserver(provider)
    otel(JobDeadLettered(target="content.thumbnails", at=3.0, job_id="j1", attempts=5,
                         error=ValueError("not a PNG")))  # fmt: skip
    (span,) = exporter.get_finished_spans()
    assert span.name == "mitigate.queue.dead_lettered"
    assert span.attributes["mitigate.job_id"] == "j1"
    assert span.attributes["mitigate.error"] == "ValueError: not a PNG"
