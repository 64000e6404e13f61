"""Fallback: answer from somewhere else when the primary cannot.

Outermost in a pipeline: it acts once retries, breaker and timeouts have given up. In
order it tries the last known good result (when ``last_known_good`` gives a maximum age
and one is recent enough), then each alternative (called with the call's own arguments),
then ``value``. An alternative with a parameter named ``error`` receives the error it
replaces (``error=...``). Whatever answers is recorded in a ``FallbackUsed`` event with the reason
(the error's code or type) and the source. When nothing answers, the primary's error is
re-raised unchanged, with a note listing what was tried.

>>> fb = Fallback(lambda key: "default config", last_known_good=300)
>>> fb.last_known_good, len(fb.alternatives)
(300.0, 1)

.. versionadded:: 0.1
"""

from __future__ import annotations

import inspect
import sys
import threading
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from mitigate.errors import BUDGET_EXHAUSTED_NOTE, RETRY_EXHAUSTED_NOTE, MitigateError
from mitigate.policy._values import Seconds, exception_types, invalid, optional_seconds
from mitigate.policy.injection import NO_RESULT

__all__ = ["NO_VALUE", "Fallback"]

FALLBACK_FAILED_NOTE: Final = "MITIGATE.FALLBACK.FAILED"

NO_VALUE: Final[Any] = NO_RESULT
"""Marks a :class:`Fallback` without a constant ``value``."""


@dataclass(frozen=True, slots=True, init=False)
class Fallback:
    """A chain of alternatives, a last-known-good cache and a constant value.

    Alternatives are given positionally (or as ``alternatives=``, which
    ``dataclasses.replace`` uses). ``on`` (types) and ``when`` (a predicate) choose the
    errors it answers (default:
    every ``Exception``). ``key`` maps the call's arguments to a cache key for the
    last-known-good results (default: one result per pipeline).

    >>> Fallback()  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    mitigate.ConfigError: [MITIGATE.CONFIG.INVALID] Fallback: nothing to fall back on; give ...

    .. versionadded:: 0.1
    """

    alternatives: tuple[Callable[..., Any], ...]
    value: Any
    last_known_good: float | None
    on: tuple[type[Exception], ...]
    when: Callable[[Exception], bool] | None
    key: Callable[..., Hashable] | None
    # Per alternative, read once here: does it take ``error=``; the first async one.
    _error_slots: tuple[int | None, ...] = field(init=False, compare=False, repr=False)
    _async: str | None = field(init=False, compare=False, repr=False)

    def __init__(
        self,
        *chain: Callable[..., Any],
        alternatives: Iterable[Callable[..., Any]] = (),
        value: Any = NO_VALUE,
        last_known_good: Seconds | None = None,
        on: type[Exception] | tuple[type[Exception], ...] = (Exception,),
        when: Callable[[Exception], bool] | None = None,
        key: Callable[..., Hashable] | None = None,
    ) -> None:
        name = "Fallback"
        alternatives = (*chain, *alternatives)
        for alternative in alternatives:
            if not callable(alternative):
                raise invalid(name, f"alternatives must be callables, got {alternative!r}")
        put = object.__setattr__
        put(self, "alternatives", tuple(alternatives))
        put(self, "_error_slots", tuple(_error_slot(a) for a in alternatives))
        put(self, "_async", next((_name(a) for a in alternatives if _is_async(a)), None))
        put(self, "value", value)
        put(
            self,
            "last_known_good",
            optional_seconds(last_known_good, name, "last_known_good", positive=True),
        )
        put(self, "on", exception_types(on, name, "on"))
        put(self, "when", when)
        put(self, "key", key)
        if not alternatives and value is NO_VALUE and self.last_known_good is None:
            raise invalid(
                name, "nothing to fall back on", "give alternatives, value= or last_known_good="
            )

    def _answers(self, error: Exception) -> bool:
        if not isinstance(error, self.on):
            return False
        return self.when is None or bool(self.when(error))

    def describe(self) -> str:
        parts = []
        if self.last_known_good is not None:
            from mitigate.policy.notation import format_duration

            parts.append(f"last known good < {format_duration(self.last_known_good)}")
        parts.extend(_name(a) for a in self.alternatives)
        if self.value is not NO_VALUE:
            parts.append(f"value {self.value!r}")
        return " -> ".join(parts)


def _name(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__qualname__", None) or repr(fn)


def _error_slot(fn: Callable[..., Any]) -> int | None:
    """Where ``fn`` takes ``error``: how many positional arguments come before it
    (a keyword-only one counts as unlimited), or None when it takes no ``error``."""
    try:
        parameters = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):  # some builtins have no signature
        return None
    for position, parameter in enumerate(parameters):
        if parameter.name != "error":
            continue
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY:
            return sys.maxsize
        if parameter.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD:
            return position
    return None


def _is_async(fn: Callable[..., Any]) -> bool:
    """A coroutine function, or an object whose ``__call__`` is one."""
    if inspect.iscoroutinefunction(fn):
        return True
    if inspect.isfunction(fn) or inspect.ismethod(fn):
        return False
    return inspect.iscoroutinefunction(type(fn).__call__)  # e.g. an async handler object


def _arguments(
    fallback: Fallback, index: int, error: Exception, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, Any]:
    """The keyword arguments for alternative ``index``: the call's, plus ``error`` when
    it takes one the call's own arguments do not already fill."""
    slot = fallback._error_slots[index]
    if slot is not None and len(args) <= slot and "error" not in kwargs:
        return {**kwargs, "error": error}
    return kwargs


def reason(error: BaseException) -> str:
    """Why a fallback answered: the error's stable code (or type) and how retry ended.

    >>> from mitigate.errors import BreakerOpenError
    >>> reason(BreakerOpenError("kms.sign", retry_after=3.0))
    'MITIGATE.BREAKER.OPEN'
    >>> e = ConnectionError("down"); e.add_note("MITIGATE.RETRY.EXHAUSTED: gave up")
    >>> reason(e)
    'ConnectionError (MITIGATE.RETRY.EXHAUSTED)'
    """
    text = error.code if isinstance(error, MitigateError) else type(error).__name__
    for note in getattr(error, "__notes__", ()):
        for code in (RETRY_EXHAUSTED_NOTE, BUDGET_EXHAUSTED_NOTE):
            if isinstance(note, str) and note.startswith(code):
                return f"{text} ({code})"
    return text


class _LastKnownGood:
    """The last good result per key, with the clock time it was stored."""

    __slots__ = ("_entries", "_lock", "max_age")

    def __init__(self, max_age: float) -> None:
        self.max_age = max_age
        self._entries: dict[Hashable, tuple[Any, float]] = {}
        self._lock = threading.Lock()

    def store(self, key: Hashable, value: Any, now: float) -> None:
        self._entries[key] = (value, now)  # one atomic dict store

    def fresh(self, key: Hashable, now: float) -> tuple[bool, Any, float]:
        """(found, value, age) for ``key`` when younger than ``max_age``."""
        entry = self._entries.get(key)
        if entry is None:
            return False, None, 0.0
        value, stamp = entry
        age = now - stamp
        return age <= self.max_age, value, age
