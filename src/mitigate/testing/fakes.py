"""Small fakes for tests and examples."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["FlakyDependency"]


class FlakyDependency:
    """A callable that fails ``fail_times`` times, then returns ``then``.

    Works as a plain function and, through :meth:`acall`, as a coroutine function.

    >>> dep = FlakyDependency(fail_times=2, then="ok")
    >>> for _ in range(2):
    ...     try:
    ...         dep()
    ...     except ConnectionError:
    ...         pass
    >>> dep(), dep.calls
    ('ok', 3)
    """

    def __init__(
        self,
        fail_times: int,
        then: Any = None,
        *,
        error: Callable[[], BaseException] = lambda: ConnectionError("dependency unavailable"),
    ) -> None:
        self.fail_times = fail_times
        self.then = then
        self.error = error
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if self.calls <= self.fail_times:
            raise self.error()
        return self.then

    async def acall(self, *args: Any, **kwargs: Any) -> Any:
        return self(*args, **kwargs)
