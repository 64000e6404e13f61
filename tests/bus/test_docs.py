"""docs/messaging.md: its example runs, and it names every messaging event and metric."""

from __future__ import annotations

import doctest
from pathlib import Path

from mitigate.durable import _outbox_metrics
from mitigate.observe import events

DOC = Path(__file__).resolve().parents[2] / "docs" / "messaging.md"


def test_examples_run() -> None:
    result = doctest.testfile(str(DOC), module_relative=False, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 6
    assert result.failed == 0


def test_every_messaging_event_is_documented() -> None:
    text = DOC.read_text()
    for cls in (
        events.OutboxBacklog,
        events.OutboxPublished,
        events.OutboxPublishFailed,
        events.DeadLettered,
        events.DeadLetterReplayed,
        events.InboxDuplicate,
        events.IdempotentReplay,
        events.IdempotencyConflict,
    ):
        assert f"| `{cls.__name__}` | `{cls.name}` |" in text, cls.name


def test_every_outbox_metric_is_documented() -> None:
    from prometheus_client import CollectorRegistry

    metrics = _outbox_metrics.for_registry(CollectorRegistry())
    text = DOC.read_text()
    for metric in (metrics.backlog, metrics.oldest_age, metrics.lag_p95, metrics.lag):
        assert f"`{metric._name}{{outbox}}`" in text, metric._name
    assert "`mitigate_outbox_published_total{outbox}`" in text
    assert "`mitigate_outbox_dead_lettered_total{outbox}`" in text
