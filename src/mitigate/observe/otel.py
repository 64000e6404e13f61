"""OpenTelemetry traces from events: attempts as spans, decisions as span events.

Needs the ``otel`` extra (``opentelemetry-api``; an SDK or agent to export). Each attempt
(``attempt.started`` until ``attempt.succeeded`` / ``failed`` / ``timed_out``) becomes a
span ``mitigate.attempt`` (child of the span current when the call began, e.g. the
request's), with ``mitigate.target`` and ``mitigate.attempt``; a failure records the
exception and sets the status to error. Every other event (a retry scheduled, a breaker
opening, a fallback used, a job dead-lettered, ...) becomes a span event named after the
event (``retry.scheduled``) on the current span, or, with no span recording, a short span
of its own named ``mitigate.<event>``. Attribute keys are ``mitigate.<field>``.

>>> from opentelemetry.sdk.trace import TracerProvider
>>> from opentelemetry.sdk.trace.export import SimpleSpanProcessor
>>> from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
>>> from mitigate.observe.events import AttemptStarted, AttemptFailed
>>> exporter = InMemorySpanExporter()
>>> provider = TracerProvider()
>>> provider.add_span_processor(SimpleSpanProcessor(exporter))
>>> otel = OpenTelemetryObserver(provider)
>>> otel(AttemptStarted(target="kms.sign", at=0.0, attempt=1))
>>> otel(AttemptFailed(target="kms.sign", at=0.1, attempt=1, error=TimeoutError("slow")))
>>> (span,) = exporter.get_finished_spans()
>>> span.name, span.attributes["mitigate.target"], span.status.status_code.name
('mitigate.attempt', 'kms.sign', 'ERROR')

.. versionadded:: 0.1
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode, TracerProvider

from mitigate.observe.events import (
    AttemptFailed,
    AttemptStarted,
    AttemptSucceeded,
    AttemptTimedOut,
    Event,
)

__all__ = ["OpenTelemetryObserver", "attributes"]

_ENDS = (AttemptSucceeded, AttemptFailed, AttemptTimedOut)
_SKIP = frozenset({"name", "target", "error"})


def attributes(event: Event) -> dict[str, str | bool | int | float]:
    """The event's fields as span attributes (``mitigate.<field>``; ``None`` left out).

    >>> from mitigate.observe.events import RetryScheduled
    >>> a = attributes(RetryScheduled(target="kms.sign", at=1.5, attempt=1, delay=0.05))
    >>> a["mitigate.target"], a["mitigate.attempt"], a["mitigate.delay"], a["mitigate.severity"]
    ('kms.sign', 1, 0.05, 'info')
    """
    out: dict[str, str | bool | int | float] = {"mitigate.target": event.target}
    for key, value in event.fields().items():
        if key in _SKIP or value is None:
            continue
        if isinstance(value, str | bool | int | float):
            out[f"mitigate.{key}"] = value
        else:
            out[f"mitigate.{key}"] = str(value)
    if event.error is not None:
        out["mitigate.error"] = f"{type(event.error).__name__}: {event.error}"
    return out


class OpenTelemetryObserver:
    """An observer that turns events into spans and span events.

    ``tracer_provider`` defaults to the global one (``opentelemetry.trace``).
    """

    def __init__(self, tracer_provider: TracerProvider | None = None) -> None:
        from mitigate import __version__

        self.tracer = trace.get_tracer("mitigate", __version__, tracer_provider=tracer_provider)
        # Open attempt spans, per task (or thread) and target: concurrent calls never mix.
        self._open: dict[tuple[int, str, int], Span] = {}
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        if isinstance(event, AttemptStarted):
            span = self.tracer.start_span("mitigate.attempt", attributes=attributes(event))
            with self._lock:
                self._open[_key(event)] = span
            return
        if isinstance(event, _ENDS):
            with self._lock:
                ended: Span | None = self._open.pop(_key(event), None)
            if ended is not None:
                self._end(ended, event)
                return
        self._decision(event)

    def _end(self, span: Span, event: Event) -> None:
        span.set_attributes(attributes(event))
        if isinstance(event, AttemptSucceeded):
            span.set_status(Status(StatusCode.OK))
        else:
            if event.error is not None:
                span.record_exception(event.error)
            span.set_status(Status(StatusCode.ERROR, event.name))
        span.end()

    def _decision(self, event: Event) -> None:
        current = trace.get_current_span()
        if current.is_recording():
            current.add_event(event.name, attributes(event))
            return
        span = self.tracer.start_span(f"mitigate.{event.name}", attributes=attributes(event))
        if event.error is not None:
            span.record_exception(event.error)
        span.end()


def _key(event: Event) -> tuple[int, str, int]:
    try:
        task: Any = asyncio.current_task()
    except RuntimeError:
        task = None
    owner = id(task) if task is not None else threading.get_ident()
    return owner, event.target, event.attempt
