"""Retry: try again on failure, on a schedule, within a total time budget.

``max_retries`` counts retries *after* the first attempt (the seed tables' "Max": three
delays are listed for max 3). Delays come from an explicit ``schedule`` (the last delay
repeats) or grow exponentially from ``base`` by ``factor`` up to ``cap``, with optional
``"full"`` or ``"decorrelated"`` jitter. ``budget`` is the total time over all attempts
and waits: a retry whose delay would reach past it is not taken. When retries run out
or the budget would be overrun, the caller gets the last error re-raised unchanged (so
its own ``except`` clauses keep working) with a note naming the reason.

>>> retry = Retry(max_retries=3, schedule=(0.05, 0.2, 0.5), budget=1.0)
>>> retry.delays()
(0.05, 0.2, 0.5)
>>> Retry(max_retries=5, base=0.1, cap=10.0).delays()
(0.1, 0.2, 0.4, 0.8, 1.6)
>>> Retry.from_table(retries="3", backoff="50ms, 200ms, 500ms", budget="1s") == retry
True

.. versionadded:: 0.1
"""

from __future__ import annotations

import random as _random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from mitigate.policy._values import (
    Seconds,
    count,
    exception_types,
    invalid,
    optional_seconds,
    seconds,
)

__all__ = ["DEFAULT_FACTOR", "DEFAULT_MAX_RETRIES", "Jitter", "Retry"]

Jitter = Literal["none", "full", "decorrelated"]

DEFAULT_MAX_RETRIES: Final = 3
DEFAULT_FACTOR: Final = 2.0
_JITTERS: Final = ("none", "full", "decorrelated")


@dataclass(frozen=True, slots=True, init=False)
class Retry:
    """How to retry: how often, how long to wait, what to retry on, within what budget.

    Give either an explicit ``schedule`` or an exponential ``base`` (a silent default
    would hide a decision the catalog should make):

    >>> Retry(max_retries=2)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    mitigate.ConfigError: [MITIGATE.CONFIG.INVALID] Retry: no delays given; pass ...

    ``retry_on`` lists exception types to retry (default: every ``Exception``, never a
    ``BaseException`` such as cancellation); ``retry_if`` narrows it with a predicate;
    ``retry_if_result`` retries on returned values (when retries run out the last result
    is returned). With ``honor_retry_after`` a ``retry_after`` attribute on the error (an
    open breaker's, a rate limit's, a server's Retry-After) lengthens the delay to it.

    .. versionadded:: 0.1
    """

    max_retries: int
    schedule: tuple[float, ...]
    base: float | None
    factor: float
    cap: float | None
    jitter: Jitter
    budget: float | None
    retry_on: tuple[type[Exception], ...]
    retry_if: Callable[[Exception], bool] | None
    retry_if_result: Callable[[Any], bool] | None
    honor_retry_after: bool
    random: Callable[[], float] = field(compare=False, repr=False)

    def __init__(
        self,
        max_retries: int = DEFAULT_MAX_RETRIES,
        *,
        schedule: Iterable[Seconds] = (),
        base: Seconds | None = None,
        factor: float = DEFAULT_FACTOR,
        cap: Seconds | None = None,
        jitter: Jitter = "none",
        budget: Seconds | None = None,
        retry_on: type[Exception] | tuple[type[Exception], ...] = (Exception,),
        retry_if: Callable[[Exception], bool] | None = None,
        retry_if_result: Callable[[Any], bool] | None = None,
        honor_retry_after: bool = True,
        random: Callable[[], float] = _random.random,
    ) -> None:
        name = "Retry"
        put = object.__setattr__
        put(self, "max_retries", count(max_retries, name, "max_retries"))
        put(self, "schedule", tuple(seconds(d, name, "schedule") for d in schedule))
        put(self, "base", optional_seconds(base, name, "base", positive=True))
        if not isinstance(factor, int | float) or isinstance(factor, bool) or factor < 1:
            raise invalid(name, f"factor must be a number >= 1, got {factor!r}")
        put(self, "factor", float(factor))
        put(self, "cap", optional_seconds(cap, name, "cap", positive=True))
        if jitter not in _JITTERS:
            raise invalid(name, f"jitter must be one of {', '.join(_JITTERS)}; got {jitter!r}")
        put(self, "jitter", jitter)
        put(self, "budget", optional_seconds(budget, name, "budget", positive=True))
        put(self, "retry_on", exception_types(retry_on, name, "retry_on"))
        put(self, "retry_if", retry_if)
        put(self, "retry_if_result", retry_if_result)
        put(self, "honor_retry_after", bool(honor_retry_after))
        put(self, "random", random)
        self._check()

    def _check(self) -> None:
        name = "Retry"
        if self.schedule and self.base is not None:
            raise invalid(name, "give either an explicit schedule or an exponential base, not both")
        if not self.schedule and self.base is None and self.max_retries > 0:
            raise invalid(
                name,
                "no delays given",
                "pass schedule=(0.05, 0.2) or base=0.1 (exponential)",
            )
        if self.cap is not None and self.base is not None and self.cap < self.base:
            raise invalid(name, f"cap {self.cap}s is below base {self.base}s")
        if len(self.schedule) > max(self.max_retries, 1):
            raise invalid(
                name,
                f"schedule lists {len(self.schedule)} delays but max_retries is {self.max_retries}",
                "list one delay per retry (the last one repeats), or raise max_retries",
            )
        if self.cap is not None and self.schedule:
            raise invalid(name, "cap applies to exponential delays; trim the schedule instead")
        if self.jitter == "decorrelated" and self.base is None:
            raise invalid(name, "decorrelated jitter needs an exponential base")

    # -- building ------------------------------------------------------------------
    @classmethod
    def from_table(
        cls,
        retries: str | int,
        backoff: str,
        budget: str | None = None,
        *,
        base: str | float | None = None,
        factor: float | None = None,
        jitter: Jitter = "none",
        target: str | None = None,
    ) -> Retry:
        """Build from a seed table row: "Max", "Backoff", "Budget".

        >>> Retry.from_table("5", "exp 100ms–10s", "30s").cap
        10.0
        >>> Retry.from_table("2", "1s", "5s").delays()
        (1.0, 1.0)
        """
        from mitigate.policy.notation import parse_retry

        return parse_retry(
            max=retries,
            backoff=backoff,
            budget=budget,
            base=base,
            factor=factor,
            jitter=jitter,
            target=target,
        )

    # -- reading -------------------------------------------------------------------
    @property
    def max_attempts(self) -> int:
        """Attempts in all: the first one plus ``max_retries``.

        >>> Retry(3, base=1).max_attempts
        4
        """
        return self.max_retries + 1

    def delays(self) -> tuple[float, ...]:
        """The nominal delay before each retry (no jitter), one per retry.

        >>> Retry(5, base=4, cap=30).delays()
        (4.0, 8.0, 16.0, 30.0, 30.0)
        """
        return tuple(self._nominal(k) for k in range(1, self.max_retries + 1))

    def to_table(self) -> tuple[str, str, str]:
        """The seed-table notation ("Max", "Backoff", "Budget") this retry reads as.

        >>> Retry.from_table("3", "50ms, 200ms, 500ms", "1s").to_table()
        ('3', '50ms, 200ms, 500ms', '1s')
        >>> Retry.from_table("5", "exp cap 30s", "15min", base="4s").to_table()
        ('5', 'exp 4s–30s', '15m')
        """
        from mitigate.policy.notation import format_duration

        if self.schedule:
            shown = self.schedule
            # A constant delay repeated for every retry reads as one value ("1s").
            if len(set(shown)) == 1:
                shown = shown[:1]
            backoff = ", ".join(format_duration(d) for d in shown)
        else:
            assert self.base is not None  # enforced by _check when there are retries
            backoff = f"exp {format_duration(self.base)}"
            if self.cap is not None:
                backoff += f"–{format_duration(self.cap)}"
        budget = "" if self.budget is None else format_duration(self.budget)
        return str(self.max_retries), backoff, budget

    # -- deciding (used by the pipeline drivers) ----------------------------------------
    def _nominal(self, retry: int) -> float:
        """The delay before retry number ``retry`` (1-based), without jitter."""
        schedule = self.schedule
        if schedule:
            return schedule[min(retry, len(schedule)) - 1]
        base = self.base if self.base is not None else 0.0
        try:
            delay = base * self.factor ** (retry - 1)
        except OverflowError:
            delay = float("inf")
        cap = self.cap
        return delay if cap is None or delay < cap else cap

    def _delay(self, retry: int, previous: float) -> float:
        """The delay before retry number ``retry``, with jitter; ``previous`` is the
        delay chosen before the last retry (decorrelated jitter grows from it)."""
        jitter = self.jitter
        if jitter == "none":
            return self._nominal(retry)
        if jitter == "full":
            return self.random() * self._nominal(retry)
        # Decorrelated (AWS): uniform between base and 3x the previous delay, capped.
        base = self.base if self.base is not None else 0.0
        upper = max(base, 3.0 * (previous if previous > 0 else base))
        delay = base + self.random() * (upper - base)
        cap = self.cap
        return delay if cap is None or delay < cap else cap

    def _retries(self, error: Exception) -> bool:
        """Whether ``error`` is one this policy retries."""
        if not isinstance(error, self.retry_on):
            return False
        predicate = self.retry_if
        return predicate is None or bool(predicate(error))
