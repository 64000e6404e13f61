"""Switches: named on/off points for mitigations that are not policies.

A guard, a dedupe, a compensation, a validation gate or a fallback path is code, not a
pipeline, so the mutation check cannot replace it by a pass-through. Instead the code
asks a :class:`Switches` whether its mitigation is on, by the id the catalog lists in
its top-level ``switches:`` section; ``mitigate verify --mutate`` turns each switch a
failure mode names off in turn, and the experiments covering it must then fail.

>>> switches = Switches()
>>> switches.enabled("content.guard.html")
True
>>> switches.disable("content.guard.html")
>>> switches.enabled("content.guard.html"), sorted(switches.disabled)
(False, ['content.guard.html'])
>>> sorted(switches.consulted)
['content.guard.html']

In production every switch is on (``Switches()``); in an experiment the service gets
``run.switches``.

.. versionadded:: 0.2
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

__all__ = ["Switches"]


class Switches:
    """Named on/off switches; every name is on unless disabled.

    :meth:`enabled` records the names it was asked about (:attr:`consulted`), so a
    mutation run can tell "the switch was off and nothing noticed" from "the code never
    asked the switch".

    .. versionadded:: 0.2
    """

    __slots__ = ("_consulted", "_disabled", "_lock")

    def __init__(self, disabled: Iterable[str] = ()) -> None:
        self._disabled: frozenset[str] = frozenset(disabled)
        self._consulted: frozenset[str] = frozenset()
        self._lock = threading.Lock()

    def enabled(self, name: str) -> bool:
        """Whether the mitigation ``name`` is on (and remember it was consulted)."""
        if name not in self._consulted:
            with self._lock:
                self._consulted = self._consulted | {name}
        return name not in self._disabled

    def disable(self, name: str) -> None:
        """Turn ``name`` off."""
        with self._lock:
            self._disabled = self._disabled | {name}

    def enable(self, name: str) -> None:
        """Turn ``name`` on again."""
        with self._lock:
            self._disabled = self._disabled - {name}

    @property
    def disabled(self) -> frozenset[str]:
        """The names turned off."""
        return self._disabled

    @property
    def consulted(self) -> frozenset[str]:
        """The names :meth:`enabled` was asked about so far."""
        return self._consulted

    def __repr__(self) -> str:
        off = ", ".join(sorted(self._disabled))
        return f"Switches(disabled=[{off}])" if off else "Switches()"
