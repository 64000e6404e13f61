"""Calling a dependency through its pipeline when some of its errors are permanent.

A catalog's retry retries every error. An invalid manifest or a missing asset will fail
the same way however often it is tried, so it must not be retried (content.fm.1.1: "transient
only"). :func:`call` runs ``fn`` through ``pipeline`` and carries a permanent error *out* of
the pipeline as a value, so neither the retry nor the breaker counts it, and raises it
again outside.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

__all__ = ["PermanentError", "call"]


class PermanentError(Exception):
    """Marks an error as permanent: raise it (or wrap one) inside a call; never retried."""


class _Carried:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


async def call(
    pipeline: Any,
    fn: Callable[..., Any],
    *args: Any,
    permanent: tuple[type[BaseException], ...] = (PermanentError,),
    **kwargs: Any,
) -> Any:
    """``fn(*args, **kwargs)`` through ``pipeline``; errors of ``permanent`` types skip retries."""

    async def attempt() -> Any:
        try:
            result = fn(*args, **kwargs)
            if inspect.isawaitable(result):
                result = await result
            return result
        except permanent as exc:
            return _Carried(exc)

    result = await pipeline.acall(attempt)
    if isinstance(result, _Carried):
        raise result.error
    return result
