"""One way to emit an event in mitigate.durable: built only when someone listens."""

from __future__ import annotations

from typing import Any

from mitigate.observe.events import Event
from mitigate.observe.observers import Observers

__all__ = ["emit"]


def emit(observers: Observers, kind: type[Event], **fields: Any) -> None:
    """Build ``kind(**fields)`` and emit it, unless nobody observes.

    >>> from mitigate.observe.events import SagaStarted
    >>> from mitigate.observe.observers import Recorder
    >>> rec = Recorder()
    >>> emit(Observers([rec]), SagaStarted, target="t", at=0.0, saga_id="s1")
    >>> emit(Observers(), SagaStarted, target="t", at=0.0, saga_id="s2")
    >>> rec.values("saga.started", "saga_id")
    ['s1']
    """
    if observers:
        observers.emit(kind(**fields))
