"""Observers: plain callables that receive events, and the ones mitigate ships.

An observer never raises into the call path: :class:`Observers` catches what one
raises, logs it once per observer, and goes on.

>>> from mitigate.observe.events import RetryScheduled
>>> rec = Recorder()
>>> obs = Observers([rec])
>>> obs.emit(RetryScheduled(target="kms.sign", at=0.0, attempt=1, delay=0.05))
>>> rec.values("retry.scheduled", "delay")
[0.05]

.. versionadded:: 0.1
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from mitigate.observe.events import Event

__all__ = ["Observer", "Observers", "Recorder"]

Observer = Callable[[Event], None]
E = TypeVar("E", bound=Event)

_log = logging.getLogger("mitigate.observe")


class Observers:
    """A fan-out of observers; falsy when empty so callers can skip building events.

    >>> bool(Observers())
    False
    """

    __slots__ = ("_failed", "_observers")

    def __init__(self, observers: Iterable[Observer] = ()) -> None:
        self._observers: tuple[Observer, ...] = tuple(observers)
        self._failed: set[int] = set()

    def __bool__(self) -> bool:
        return bool(self._observers)

    def __len__(self) -> int:
        return len(self._observers)

    def __iter__(self) -> Iterator[Observer]:
        return iter(self._observers)

    def add(self, observer: Observer) -> None:
        # Copy-on-write: emit() iterates a tuple that is never mutated in place.
        self._observers = (*self._observers, observer)

    def remove(self, observer: Observer) -> None:
        self._observers = tuple(o for o in self._observers if o is not observer)

    def emit(self, event: Event) -> None:
        for observer in self._observers:
            try:
                observer(event)
            except Exception:
                key = id(observer)
                if key not in self._failed:
                    self._failed.add(key)
                    _log.exception("observer %r failed; further failures are not logged", observer)


class Recorder:
    """Keeps every event in memory, for tests and experiments to assert on.

    >>> from mitigate.observe.events import AttemptStarted, AttemptFailed
    >>> rec = Recorder()
    >>> rec(AttemptStarted(target="a", at=0.0, attempt=1))
    >>> rec(AttemptFailed(target="a", at=0.1, attempt=1))
    >>> rec.names()
    ['attempt.started', 'attempt.failed']
    >>> len(rec.of(AttemptFailed)), rec.count("attempt.started")
    (1, 1)
    """

    def __init__(self, limit: int | None = None) -> None:
        self.events: list[Event] = []
        self.limit = limit
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        with self._lock:
            self.events.append(event)
            if self.limit is not None and len(self.events) > self.limit:
                del self.events[0]

    def __len__(self) -> int:
        return len(self.events)

    def __iter__(self) -> Iterator[Event]:
        return iter(list(self.events))

    def clear(self) -> None:
        with self._lock:
            self.events.clear()

    def names(self, target: str | None = None) -> list[str]:
        return [e.name for e in self.events if target is None or e.target == target]

    def named(self, name: str, target: str | None = None) -> list[Event]:
        return [e for e in self.events if e.name == name and (target is None or e.target == target)]

    def of(self, kind: type[E], target: str | None = None) -> list[E]:
        return [
            e for e in self.events if isinstance(e, kind) and (target is None or e.target == target)
        ]

    def values(self, name: str, field: str, target: str | None = None) -> list[Any]:
        return [getattr(e, field) for e in self.named(name, target)]

    def count(self, name: str, target: str | None = None) -> int:
        return len(self.named(name, target))

    def first(self, name: str, target: str | None = None) -> Event | None:
        found = self.named(name, target)
        return found[0] if found else None
