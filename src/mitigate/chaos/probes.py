"""Probes: the checks an experiment records, and the ledger that proves nothing was lost.

A :class:`Check` is one named verdict with the phase it ran in (``steady``, ``during``,
``after``). The :class:`Ledger` counts what was sent and what arrived, by key: ``lost``
is what was sent and never arrived, ``duplicated`` what arrived more than once.

>>> ledger = Ledger()
>>> for key in ("a", "b", "c"):
...     ledger.sent(key)
>>> for key in ("a", "b", "b"):
...     ledger.received(key)
>>> ledger.lost, ledger.duplicated, ledger.missing()
(1, 1, ['c'])

.. versionadded:: 0.1
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Literal

__all__ = ["Check", "Ledger", "Phase", "ProbeFailedError", "SteadyStateError"]

Phase = Literal["steady", "during", "after"]


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    passed: bool
    phase: Phase
    at: float
    detail: str = ""


class ProbeFailedError(AssertionError):
    """A probe that must hold did not; the experiment's verdict is ``failed``."""


class SteadyStateError(ProbeFailedError):
    """The system was not healthy before any fault: the experiment stops there."""


class Ledger:
    """Counts keys sent and received, to prove no loss and no duplicates."""

    __slots__ = ("_received", "_sent")

    def __init__(self) -> None:
        self._sent: Counter[Hashable] = Counter()
        self._received: Counter[Hashable] = Counter()

    def sent(self, key: Hashable) -> None:
        self._sent[key] += 1

    def received(self, key: Hashable) -> None:
        self._received[key] += 1

    @property
    def used(self) -> bool:
        return bool(self._sent or self._received)

    @property
    def sent_count(self) -> int:
        return len(self._sent)

    @property
    def received_count(self) -> int:
        return sum(self._received.values())

    @property
    def lost(self) -> int:
        return sum(1 for key in self._sent if key not in self._received)

    @property
    def duplicated(self) -> int:
        return sum(n - 1 for n in self._received.values() if n > 1)

    def missing(self) -> list[Hashable]:
        return [key for key in self._sent if key not in self._received]
