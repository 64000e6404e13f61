"""The fault injection point: where chaos acts on a call, innermost in a pipeline.

A pipeline asks its :class:`Injector` (when one is attached) right before each call,
inside the attempt timeout, what a fault does to it. The answer is a
:class:`FaultDecision`: sleep ``delay`` on the clock, then raise ``error``, or answer
``result`` without calling, or call and pass the result through ``corrupt``. Because
the fault acts where the real dependency would fail, retry, breaker, timeout and
fallback react to it exactly as they would in production.

>>> decision = FaultDecision(fault="latency", delay=2.0)
>>> decision.delay, decision.error, decision.result is NO_RESULT
(2.0, None, True)

.. versionadded:: 0.1
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Protocol, runtime_checkable

__all__ = ["NO_RESULT", "FaultDecision", "Injector"]


class _NoResult:
    """The type of :data:`NO_RESULT`: "the fault does not answer the call itself"."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NO_RESULT"

    def __reduce__(self) -> str:
        return "NO_RESULT"


NO_RESULT: Final[Any] = _NoResult()
"""Marks a :class:`FaultDecision` that does not replace the call's result."""


@dataclass(frozen=True, slots=True)
class FaultDecision:
    """What one fault does to one call.

    In order: sleep ``delay`` seconds on the pipeline's clock; then raise ``error`` if
    set; else return ``result`` without calling when it is not :data:`NO_RESULT`; else
    call the dependency and pass its result through ``corrupt`` when set.

    >>> FaultDecision(fault="error", error=ConnectionError("down")).fault
    'error'
    >>> FaultDecision(fault="latency", delay=-1)
    Traceback (most recent call last):
    ...
    ValueError: a fault delay cannot be negative (got -1)
    """

    fault: str
    delay: float = 0.0
    error: BaseException | None = None
    result: Any = NO_RESULT
    corrupt: Callable[[Any], Any] | None = None

    def __post_init__(self) -> None:
        if self.delay < 0:
            raise ValueError(f"a fault delay cannot be negative (got {self.delay!r})")

    def describe(self) -> str:
        """A short text for the ``FaultInjected`` event's ``detail``.

        >>> FaultDecision(fault="latency", delay=2.0).describe()
        'delay 2.0s'
        >>> FaultDecision(fault="error", error=ConnectionError("down")).describe()
        'raise ConnectionError: down'
        """
        parts = []
        if self.delay:
            parts.append(f"delay {self.delay}s")
        if self.error is not None:
            parts.append(f"raise {type(self.error).__name__}: {self.error}")
        elif self.result is not NO_RESULT:
            parts.append(f"answer {self.result!r}")
        elif self.corrupt is not None:
            parts.append("corrupt the result")
        return ", ".join(parts) or "none"


@runtime_checkable
class Injector(Protocol):
    """Decides, right before each call, whether a fault acts on it.

    ``decide`` must be cheap when nothing is attached; returning ``None`` means "no
    fault": the call goes through untouched.
    """

    def decide(self, target: str, now: float) -> FaultDecision | None: ...
