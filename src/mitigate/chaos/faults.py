"""Faults: what goes wrong at a named target, and when.

A fault is a frozen value: the target it acts on (``kms.sign``, or a pattern such as
``kms.*``), its effect, and its trigger. Every fault takes the same trigger fields:

- ``rate``: the fraction of matching calls it acts on (drawn from the injector's random);
- ``start`` / ``duration``: a window in seconds after the fault is attached;
- ``after`` / ``times``: let the first ``after`` calls through, then act on ``times``
  calls ("fail 3 times, then succeed" is ``times=3``);
- ``pattern``: a cyclic on/off sequence (``"xx."`` fails twice, lets one through);
- ``when``: a predicate over the :class:`FaultContext`.

Faults do nothing alone: attach them to a :class:`~mitigate.chaos.FaultInjector`, and the
injector to a pipeline. Effects follow the pipeline's injection point: a delay, then an
error, or a result returned without calling, or the real result passed through a
corruption.

>>> Failure("kms.sign", times=2).kind, Latency("kms.sign", delay=0.5).kind
('error', 'latency')
>>> Drop("bus.publish", rate=1.5)
Traceback (most recent call last):
...
mitigate.ConfigError: [MITIGATE.CONFIG.FAULT] bus.publish: rate must be within 0..1, got 1.5; \
fix the fault definition

.. versionadded:: 0.1
"""

from __future__ import annotations

import random as _random
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, ClassVar

from mitigate.errors import ConfigError, InjectedError
from mitigate.policy.injection import NO_RESULT, FaultDecision

__all__ = [
    "ClockSkew",
    "Corrupt",
    "Drop",
    "Failure",
    "Fault",
    "FaultContext",
    "Latency",
    "Outage",
    "Partition",
    "flip_bytes",
]

ErrorSpec = BaseException | type[BaseException] | Callable[[], BaseException] | None


@dataclass(frozen=True, slots=True)
class FaultContext:
    """What a trigger predicate sees about the call it may act on."""

    target: str
    now: float
    elapsed: float  # seconds since the fault was attached
    call: int  # 1 for the first matching call since the fault was attached
    party: str | None = None  # the injector's party (who is calling)


@dataclass(frozen=True, slots=True)
class Fault:
    """The common part of every fault: where it acts and when.

    >>> f = Failure("db.write", pattern="x.")
    >>> [f.triggers(FaultContext("db.write", 0.0, 0.0, n), lambda: 0.0) for n in (1, 2, 3)]
    [True, False, True]
    """

    kind: ClassVar[str] = "fault"

    target: str = "*"
    _: KW_ONLY
    rate: float = 1.0
    start: float = 0.0
    duration: float | None = None
    after: int = 0
    times: int | None = None
    pattern: str | None = None
    when: Callable[[FaultContext], bool] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            self._bad(f"rate must be within 0..1, got {self.rate!r}")
        if self.start < 0 or (self.duration is not None and self.duration < 0):
            self._bad("start and duration must be >= 0 seconds")
        if self.after < 0 or (self.times is not None and self.times < 0):
            self._bad("after and times must be >= 0 calls")
        if self.pattern is not None and (not self.pattern or set(self.pattern) - {"x", "."}):
            self._bad(f"pattern {self.pattern!r} must be made of 'x' (act) and '.' (pass)")

    def _bad(self, message: str) -> None:
        raise ConfigError(
            self.target, message, hint="fix the fault definition", code="MITIGATE.CONFIG.FAULT"
        )

    @property
    def end(self) -> float | None:
        """When the window closes, in seconds after attaching (None: never)."""
        return None if self.duration is None else self.start + self.duration

    def matches(self, target: str, party: str | None) -> bool:
        """Whether this fault can act on calls to ``target`` made by ``party``."""
        return _match(self.target, target)

    def triggers(self, ctx: FaultContext, draw: Callable[[], float]) -> bool:
        """Whether the fault acts on this call (``draw`` gives uniform numbers in [0, 1))."""
        if ctx.elapsed < self.start:
            return False
        end = self.end
        if end is not None and ctx.elapsed >= end:
            return False
        n = ctx.call - self.after
        if n < 1:
            return False
        if self.times is not None and n > self.times:
            return False
        if self.pattern is not None and self.pattern[(n - 1) % len(self.pattern)] != "x":
            return False
        if self.when is not None and not self.when(ctx):
            return False
        return self.rate >= 1.0 or draw() < self.rate

    def decide(self, ctx: FaultContext, draw: Callable[[], float]) -> FaultDecision | None:
        """The effect on this call (called once :meth:`triggers` said yes)."""
        return None

    def describe(self) -> str:
        """A short human description for reports (``error on kms.sign``)."""
        return f"{self.kind} on {self.target}"


def _match(pattern: str, target: str) -> bool:
    if pattern == "*" or pattern == target:
        return True
    if pattern.endswith(".*"):
        return target.startswith(pattern[:-1])
    return False


def _make_error(spec: ErrorSpec, target: str) -> BaseException:
    if spec is None:
        return InjectedError(target)
    if isinstance(spec, BaseException):
        return spec
    return spec()


@dataclass(frozen=True, slots=True)
class Failure(Fault):
    """Fail the call: raise ``error`` (an exception, its type, or a factory; by default
    :class:`~mitigate.InjectedError`), or return ``result`` instead of calling, as a
    dependency that answers with an error value (a 503 response) would.

    >>> Failure("kms.sign", error=TimeoutError).error
    <class 'TimeoutError'>
    """

    kind: ClassVar[str] = "error"

    _: KW_ONLY
    error: ErrorSpec = field(default=None, compare=False)
    result: Any = NO_RESULT

    def decide(self, ctx: FaultContext, draw: Callable[[], float]) -> FaultDecision:
        if self.result is not NO_RESULT:
            return FaultDecision(fault=self.kind, result=self.result)
        if self.error is None:
            return FaultDecision(fault=self.kind, error=self._default_error(ctx.target))
        return FaultDecision(fault=self.kind, error=_make_error(self.error, ctx.target))

    def _default_error(self, target: str) -> BaseException:
        return InjectedError(target)


@dataclass(frozen=True, slots=True)
class Outage(Failure):
    """The dependency is gone for a window: every call in ``[start, start + duration)``
    fails (a connection error by default), then it is back.

    >>> Outage("kms.sign", start=5, duration=30).end
    35
    """

    kind: ClassVar[str] = "outage"

    def _default_error(self, target: str) -> BaseException:
        return ConnectionError(f"{target}: dependency unavailable (outage)")

    def describe(self) -> str:
        span = f" for {self.duration:g}s" if self.duration is not None else ""
        return f"outage of {self.target}{span}"


@dataclass(frozen=True, slots=True)
class Latency(Fault):
    """Delay the call by ``delay`` seconds plus a uniform draw in ``[-jitter, +jitter]``;
    the call then runs (or times out under the pipeline's attempt timeout)."""

    kind: ClassVar[str] = "latency"

    _: KW_ONLY
    delay: float = 0.0
    jitter: float = 0.0

    def __post_init__(self) -> None:
        Fault.__post_init__(self)
        if self.delay < 0 or self.jitter < 0:
            self._bad("delay and jitter must be >= 0 seconds")

    def decide(self, ctx: FaultContext, draw: Callable[[], float]) -> FaultDecision:
        delay = self.delay
        if self.jitter:
            delay = max(0.0, delay + (draw() * 2 - 1) * self.jitter)
        return FaultDecision(fault=self.kind, delay=delay)

    def describe(self) -> str:
        return f"latency {self.delay:g}s on {self.target}"


@dataclass(frozen=True, slots=True)
class Drop(Fault):
    """Lose the call silently: the dependency is not called and the caller gets
    ``result`` (None by default), as a message dropped on the wire looks to a sender
    that does not wait for an acknowledgement."""

    kind: ClassVar[str] = "drop"

    _: KW_ONLY
    result: Any = None

    def decide(self, ctx: FaultContext, draw: Callable[[], float]) -> FaultDecision:
        return FaultDecision(fault=self.kind, result=self.result)

    def describe(self) -> str:
        return f"drop {self.rate:.0%} on {self.target}"


def flip_bytes(value: Any, draw: Callable[[], float] = _random.random) -> Any:
    """Flip one bit in one byte of ``value`` (bytes, bytearray or str); other values
    come back unchanged. The position is drawn from ``draw``.

    >>> flip_bytes(b"abc", lambda: 0.0)
    b'`bc'
    >>> flip_bytes("abc", lambda: 0.99)
    'abb'
    """
    if isinstance(value, str):
        return flip_bytes(value.encode(), draw).decode("utf-8", "replace")
    if not isinstance(value, bytes | bytearray) or not value:
        return value
    data = bytearray(value)
    at = min(int(draw() * len(data)), len(data) - 1)
    data[at] ^= 0x01
    return bytes(data) if isinstance(value, bytes) else data


@dataclass(frozen=True, slots=True)
class Corrupt(Fault):
    """Call the dependency, then corrupt what it returns (a stored object read back):
    ``corrupt(value, draw)`` gives the damaged value; one flipped bit by default.

    For data at rest, see :func:`mitigate.chaos.corrupt_file`.
    """

    kind: ClassVar[str] = "corrupt"

    _: KW_ONLY
    corrupt: Callable[[Any, Callable[[], float]], Any] = field(default=flip_bytes, compare=False)

    def decide(self, ctx: FaultContext, draw: Callable[[], float]) -> FaultDecision:
        damage = self.corrupt
        return FaultDecision(fault=self.kind, corrupt=lambda value: damage(value, draw))


@dataclass(frozen=True, slots=True)
class Partition(Fault):
    """Cut the link between parties ``a`` and ``b``: a call from one to the other fails.

    The caller is the injector's ``party``; the callee is the first word of the target
    (``catalog`` in ``catalog.register``). With ``hang`` the call waits that long before
    failing, as a black-holed connection does (attempt timeouts fire first).

    >>> p = Partition(a="content", b="catalog")
    >>> p.matches("catalog.register", "content"), p.matches("catalog.register", "theme")
    (True, False)
    """

    kind: ClassVar[str] = "partition"

    _: KW_ONLY
    a: str = ""
    b: str = ""
    hang: float = 0.0

    def __post_init__(self) -> None:
        Fault.__post_init__(self)
        if not self.a or not self.b or self.a == self.b:
            self._bad("a partition needs two different parties a and b")

    def matches(self, target: str, party: str | None) -> bool:
        callee = target.split(".", 1)[0]
        return {party, callee} == {self.a, self.b}

    def decide(self, ctx: FaultContext, draw: Callable[[], float]) -> FaultDecision:
        error = ConnectionError(f"{ctx.party} cannot reach {ctx.target}: network partition")
        return FaultDecision(fault=self.kind, delay=self.hang, error=error)

    def describe(self) -> str:
        return f"partition {self.a} | {self.b}"


@dataclass(frozen=True, slots=True)
class ClockSkew(Fault):
    """Move ``party``'s wall clock by ``offset`` seconds (ahead when positive).

    Calls are untouched; the skew shows through :meth:`FaultInjector.clock`, the clock
    view a party reads its wall time from. ``target`` is unused.
    """

    kind: ClassVar[str] = "clock_skew"

    _: KW_ONLY
    party: str | None = None
    offset: float = 0.0

    def matches(self, target: str, party: str | None) -> bool:
        return False

    def describe(self) -> str:
        who = self.party or "every party"
        return f"clock skew {self.offset:+g}s on {who}"
