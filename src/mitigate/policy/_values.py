"""Validation helpers shared by the policy options (private)."""

from __future__ import annotations

import math
from datetime import timedelta

from mitigate.errors import ConfigError

Seconds = float | int | timedelta
"""A duration option: float seconds or a ``timedelta``."""


def invalid(policy: str, message: str, hint: str = "") -> ConfigError:
    """A ConfigError for a bad option value, raised at construction, never on a call."""
    return ConfigError(None, f"{policy}: {message}", hint=hint or None)


def seconds(value: object, policy: str, name: str, *, positive: bool = False) -> float:
    """``value`` as float seconds; a timedelta is converted; bad values are ConfigErrors.

    >>> seconds(timedelta(milliseconds=50), "Retry", "base")
    0.05
    >>> seconds(-1, "Retry", "base")
    Traceback (most recent call last):
    ...
    mitigate.ConfigError: [MITIGATE.CONFIG.INVALID] Retry: base must be a duration >= 0, got -1
    """
    if isinstance(value, timedelta):
        result = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        result = float(value)
    else:
        raise invalid(policy, f"{name} must be seconds (float) or a timedelta, got {value!r}")
    if math.isnan(result) or result < 0 or (positive and result == 0):
        bound = "> 0" if positive else ">= 0"
        raise invalid(policy, f"{name} must be a duration {bound}, got {value!r}")
    return result


def optional_seconds(
    value: object, policy: str, name: str, *, positive: bool = False
) -> float | None:
    return None if value is None else seconds(value, policy, name, positive=positive)


def count(value: object, policy: str, name: str, *, minimum: int = 0) -> int:
    """An integer option of at least ``minimum``.

    >>> count(0, "Bulkhead", "max_concurrent", minimum=1)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    mitigate.ConfigError: [MITIGATE.CONFIG.INVALID] Bulkhead: max_concurrent must be an ...
    """
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise invalid(policy, f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def fraction(value: object, policy: str, name: str) -> float | None:
    """A rate in (0, 1], or None."""
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 < value <= 1:
        raise invalid(policy, f"{name} must be a fraction in (0, 1], got {value!r}")
    return float(value)


def exception_types(value: object, policy: str, name: str) -> tuple[type[Exception], ...]:
    """A tuple of Exception subclasses (never BaseException: cancellation is not a failure)."""
    types = value if isinstance(value, tuple) else (value,)
    for item in types:
        if not (isinstance(item, type) and issubclass(item, Exception)):
            raise invalid(
                policy,
                f"{name} must hold Exception subclasses, got {item!r}",
                "BaseException (cancellation, KeyboardInterrupt) is never retried or counted",
            )
    return types  # checked item by item above
