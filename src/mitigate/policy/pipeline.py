"""Pipeline: the policies of one target, composed in one fixed order.

Outermost first: fallback -> total budget -> retry -> circuit breaker -> rate limit /
bulkhead -> attempt timeout -> fault injection point -> the call. The order does not
depend on the order the strategies are given in; :meth:`Pipeline.describe` shows it.

>>> from mitigate.clock import VirtualClock
>>> from mitigate.observe.observers import Recorder
>>> from mitigate.testing import FlakyDependency
>>> clock, recorder = VirtualClock(), Recorder()
>>> sign = Pipeline(
...     "kms.sign",
...     Retry.from_table(retries="3", backoff="50ms, 200ms, 500ms", budget="1s"),
...     Breaker(failures=10, window=30.0, reset=60.0),
...     Timeout(0.5),
...     clock=clock,
...     observers=[recorder],
... )
>>> sign.call(FlakyDependency(fail_times=2, then=b"signature"))
b'signature'
>>> recorder.values("retry.scheduled", "delay"), clock.now()
([0.05, 0.2], 0.25)

One driver loop runs the whole pipeline, reading each strategy's state inline: on the
success path there is no per-strategy closure or coroutine, no lock, no allocation and
no event unless an observer listens. Sync (:meth:`Pipeline.call`) and async
(:meth:`Pipeline.acall`) drivers share every decision (admission, outcome, retry delay,
budget) and differ only in how they wait.

.. versionadded:: 0.1
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import types
from collections.abc import Awaitable, Callable, Hashable, Iterable
from contextvars import Token
from typing import Any, Final, ParamSpec, TypeVar, cast

from mitigate.clock import Clock, default_clock
from mitigate.errors import CallStyleError, ConfigError
from mitigate.observe.observers import Observer, Observers
from mitigate.policy._async import _AsyncDriver, _Awaiting, _Resume
from mitigate.policy._sync import _SyncDriver
from mitigate.policy.breaker import Breaker, BreakerControl, _BreakerState
from mitigate.policy.bulkhead import Bulkhead, _BulkheadState
from mitigate.policy.fallback import Fallback, _LastKnownGood
from mitigate.policy.injection import Injector
from mitigate.policy.keyed import Keyed, _PerKey
from mitigate.policy.ratelimit import RateLimit, RateLimiter
from mitigate.policy.retry import Retry
from mitigate.policy.timeout import (
    _DEADLINE,
    _FIRED,
    _SYNC,
    _TASK,
    Timeout,
    _Watchdog,
    _watchdog,
)
from mitigate.runscope import current_scope

__all__ = ["Pipeline", "Strategy"]

P = ParamSpec("P")
R = TypeVar("R")

Strategy = Retry | Breaker | Timeout | Fallback | Bulkhead | RateLimit | Keyed
"""Anything a :class:`Pipeline` composes."""

_ORDER: Final = {Fallback: 0, Retry: 2, Breaker: 3, RateLimit: 4, Bulkhead: 5, Timeout: 6}


_Coroutine: Final = types.CoroutineType
_MISSING: Final = Token.MISSING


def _rank(strategy: Strategy) -> int:
    policy = strategy.policy if isinstance(strategy, Keyed) else strategy
    return _ORDER[type(policy)]


class Pipeline(_SyncDriver, _AsyncDriver):
    """The policies of one target, run around a call.

    ``target`` names the dependency (``kms.sign``) in every event, error and metric.
    Give at most one of each strategy (rate limits may repeat, e.g. per token and per
    tenant). ``observers`` receive every event; more can be added later through
    :attr:`observers`. An ``injector`` (chaos) may be attached and detached at run time.

    .. versionadded:: 0.1
    """

    __slots__ = (
        "_alone",
        "_attempt_timeout",
        "_brk",
        "_brk_key",
        "_brk_keyed",
        "_budget",
        "_bulk",
        "_bulk_key",
        "_bulk_keyed",
        "_call_fast",
        "_clock",
        "_dog",
        "_fallback",
        "_fast",
        "_first_limit",
        "_injector",
        "_limits",
        "_lkg",
        "_max_attempts",
        "_now",
        "_obs",
        "_retry",
        "_retry_if_result",
        "_structural_fast",
        "_timed",
        "strategies",
        "target",
    )

    def __init__(
        self,
        target: str,
        *strategies: Strategy,
        clock: Clock | None = None,
        observers: Observers | Iterable[Observer] = (),
        injector: Injector | None = None,
    ) -> None:
        if not isinstance(target, str) or not target:
            raise ConfigError(None, f"a pipeline needs a target name, got {target!r}")
        # Built inside an experiment run: take its clock, injector and observers (read
        # once here, never per call); a target the mutation check removed passes through.
        scope = current_scope()
        if scope is not None:
            clock = scope.lend_clock(target, clock)
            injector = scope.injector if injector is None else injector
            strategies = () if target in scope.passthrough else strategies
        for strategy in strategies:
            if not isinstance(strategy, Strategy):
                raise ConfigError(
                    target,
                    f"{strategy!r} is not a strategy",
                    hint="compose Retry, Breaker, Timeout, Fallback, Bulkhead, RateLimit, Keyed",
                )
        ordered = sorted(strategies, key=_rank)
        kinds = [type(s.policy if isinstance(s, Keyed) else s) for s in ordered]
        for kind in set(kinds):
            if kind is not RateLimit and kinds.count(kind) > 1:
                raise ConfigError(
                    target,
                    f"more than one {kind.__name__}",
                    hint="give each strategy once",
                )
        self.target = target
        self.strategies: tuple[Strategy, ...] = tuple(ordered)
        self._clock: Clock = clock if clock is not None else default_clock()
        self._now = self._clock.now
        self._obs = observers if isinstance(observers, Observers) else Observers(observers)
        if scope is not None:
            missing = scope.missing_observers(self._obs)
            if missing:  # a new fan-out: a shared one must not keep the run's observers
                self._obs = Observers((*self._obs, *missing))
            scope.joined(target, self)
        self._injector = injector
        self._dog: _Watchdog | None = None

        self._retry: Retry | None = None
        self._brk: _BreakerState | None = None
        self._brk_keyed: _PerKey[_BreakerState] | None = None
        self._brk_key: Callable[..., Hashable] | None = None
        self._bulk: _BulkheadState | None = None
        self._bulk_keyed: _PerKey[_BulkheadState] | None = None
        self._bulk_key: Callable[..., Hashable] | None = None
        self._fallback: Fallback | None = None
        self._lkg: _LastKnownGood | None = None
        limits: list[tuple[RateLimiter, Callable[..., Hashable] | None]] = []
        self._attempt_timeout: float | None = None
        budgets: list[float] = []
        for strategy in ordered:
            self._take(strategy, limits, budgets)
        self._limits = tuple(limits)
        self._budget = min(budgets) if budgets else None
        self._max_attempts = self._retry.max_attempts if self._retry is not None else 1
        self._retry_if_result = self._retry.retry_if_result if self._retry is not None else None
        bounds = [b for b in (self._attempt_timeout, self._budget) if b is not None]
        self._timed = bool(bounds)
        self._first_limit = min(bounds) if bounds else 0.0
        # The success path of the first attempt can skip the general loop when nothing
        # but retry, a count-based breaker, timeouts and a plain fallback is configured.
        brk = self._brk
        self._structural_fast = (
            self._brk_keyed is None
            and self._bulk is None
            and self._bulk_keyed is None
            and not self._limits
            and self._lkg is None
            and self._retry_if_result is None
            and (
                brk is None
                or (not brk.options.rate_based and brk.options.failure_if_result is None)
            )
        )
        self._fast = self._structural_fast and injector is None
        self._call_fast = self._fast and self._sync_refusal() is None
        # A breaker with no retry or fallback around it: an open one refuses straight away.
        self._alone = self._retry is None and self._fallback is None

    def _take(
        self,
        strategy: Strategy,
        limits: list[tuple[RateLimiter, Callable[..., Hashable] | None]],
        budgets: list[float],
    ) -> None:
        target, clock, obs = self.target, self._clock, self._obs
        if isinstance(strategy, Keyed):
            policy, key = strategy.policy, strategy.key
            if isinstance(policy, Breaker):
                breaker = policy

                def new_breaker(k: Hashable) -> _BreakerState:
                    return _BreakerState(breaker, target, clock, obs, key=str(k))

                self._brk_keyed = _PerKey(
                    new_breaker, strategy.max_keys, now=clock.now, every=max(breaker.window, 1.0)
                )
                self._brk_key = key
            elif isinstance(policy, Bulkhead):
                bulkhead = policy
                self._bulk_keyed = _PerKey(
                    lambda k: _BulkheadState(bulkhead, target), strategy.max_keys, now=clock.now
                )
                self._bulk_key = key
            else:
                limits.append((policy.limiter(clock, max_keys=strategy.max_keys), key))
        elif isinstance(strategy, Retry):
            self._retry = strategy
            if strategy.budget is not None:
                budgets.append(strategy.budget)
        elif isinstance(strategy, Breaker):
            self._brk = _BreakerState(strategy, target, clock, obs)
        elif isinstance(strategy, Timeout):
            self._attempt_timeout = strategy.seconds
            if strategy.total is not None:
                budgets.append(strategy.total)
        elif isinstance(strategy, Fallback):
            self._fallback = strategy
            if strategy.last_known_good is not None:
                self._lkg = _LastKnownGood(strategy.last_known_good)
        elif isinstance(strategy, Bulkhead):
            self._bulk = _BulkheadState(strategy, target)
        else:
            limits.append((strategy.limiter(clock), None))

    # -- reading -------------------------------------------------------------------------
    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def observers(self) -> Observers:
        """The observers every event goes to; ``.add()`` more at any time."""
        return self._obs

    @property
    def injector(self) -> Injector | None:
        return self._injector

    @injector.setter
    def injector(self, injector: Injector | None) -> None:
        self._injector = injector
        self._fast = self._structural_fast and injector is None
        self._call_fast = self._fast and self._sync_refusal() is None

    def attach(self, injector: Injector) -> None:
        """Let ``injector`` decide, before each call, whether a fault acts on it."""
        self.injector = injector

    def detach(self) -> None:
        """Remove the injector: calls go straight through again."""
        self.injector = None

    def breaker(self, key: Hashable | None = None) -> BreakerControl:
        """The running breaker (of ``key`` for a keyed breaker): state and switches.

        >>> p = Pipeline("ai.call", Breaker(5, 30, 60))
        >>> p.breaker().force_open(); p.breaker().state
        'forced_open'
        """
        if self._brk_keyed is not None:
            if key is None:
                raise ConfigError(self.target, "the breaker is keyed; pass the key")
            return self._brk_keyed.get(key)
        if self._brk is None:
            raise ConfigError(self.target, "this pipeline has no breaker")
        return self._brk

    def describe(self) -> tuple[str, ...]:
        """The pipeline's parts, outermost first, for tests, lint and rendered docs.

        >>> p = Pipeline("kms.sign", Timeout(0.5), Breaker(10, 30, 60),
        ...              Retry.from_table("3", "50ms, 200ms, 500ms", "1s"))
        >>> for part in p.describe():
        ...     print(part)
        budget 1s
        retry max 3: 50ms, 200ms, 500ms
        breaker 10 fail / 30s, reset 60s
        timeout 500ms per attempt
        """
        from mitigate.policy.notation import format_duration as fmt

        parts: list[str] = []
        for strategy in self.strategies:
            keyed = isinstance(strategy, Keyed)
            policy = strategy.policy if isinstance(strategy, Keyed) else strategy
            if isinstance(policy, Fallback):
                parts.append(f"fallback {policy.describe()}")
                if self._budget is not None:
                    parts.append(f"budget {fmt(self._budget)}")
            elif isinstance(policy, Retry):
                if self._budget is not None and self._fallback is None:
                    parts.append(f"budget {fmt(self._budget)}")
                parts.append(f"retry max {policy.max_retries}: {policy.to_table()[1]}")
            elif isinstance(policy, Breaker):
                trip, reset = policy.to_table()
                rates = []
                if policy.failure_rate is not None:
                    rates.append(f"failure rate {policy.failure_rate:.0%}")
                if policy.slow_call_rate is not None:
                    rates.append(f"slow-call rate {policy.slow_call_rate:.0%}")
                parts.append(f"breaker {', '.join(filter(None, [trip, *rates]))}, reset {reset}")
            elif isinstance(policy, RateLimit):
                parts.append(f"rate limit {policy.describe()}")
            elif isinstance(policy, Bulkhead):
                parts.append(f"bulkhead {policy.max_concurrent} + {policy.max_queued} queued")
            elif isinstance(policy, Timeout):
                if policy.seconds is not None:
                    parts.append(f"timeout {fmt(policy.seconds)} per attempt")
                if self._retry is None and self._fallback is None and self._budget is not None:
                    parts.insert(0, f"budget {fmt(self._budget)}")
            if keyed:
                parts[-1] += " per key"
        return tuple(parts)

    def __repr__(self) -> str:
        return f"<Pipeline {self.target}: {' -> '.join(self.describe()) or 'no strategies'}>"

    def _sync_refusal(self) -> CallStyleError | None:
        """Why this pipeline cannot serve a sync call (an async fallback), if it cannot."""
        fallback = self._fallback
        if fallback is None or fallback._async is None:
            return None
        return CallStyleError(
            self.target,
            f"fallback {fallback._async} is async, so a sync call could never fall back",
            hint="call the pipeline with acall (or wrap a coroutine function), "
            "or give a plain function as the fallback",
        )

    # -- decorating ----------------------------------------------------------------------
    def wrap(self, fn: Callable[P, R]) -> Callable[P, R]:
        """Decorate ``fn``: coroutine functions go through :meth:`acall`, others :meth:`call`.

        >>> p = Pipeline("t", Retry(1, schedule=(0,)))
        >>> @p.wrap
        ... def answer() -> int:
        ...     return 42
        >>> answer()
        42
        """
        if inspect.iscoroutinefunction(fn):
            afn = cast(Callable[P, Awaitable[Any]], fn)

            acall = self.acall

            @functools.wraps(fn)
            async def run_async(*args: P.args, **kwargs: P.kwargs) -> Any:
                return await acall(afn, *args, **kwargs)

            return cast(Callable[P, R], run_async)
        refusal = self._sync_refusal()
        if refusal is not None:
            raise refusal

        call = self.call  # bound once: no bound-method object per call

        @functools.wraps(fn)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            return call(fn, *args, **kwargs)

        return run

    # -- the sync driver -------------------------------------------------------------------
    def call(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run ``fn(*args, **kwargs)`` through the pipeline (a plain function)."""
        if (
            self._call_fast
            and not self._obs._observers
            and _SYNC.deadline is None
            and _DEADLINE.get() is None
        ):
            brk = self._brk
            gen = 0
            if brk is not None:
                gen = brk._gen  # read before _quiet: a transition in between makes it stale
                if not brk._quiet:
                    if self._alone and brk.open_for(self._now()) > 0:
                        brk.release(brk.acquire(self._now()))  # raises: fail fast, few frames
                    return self._call(fn, args, kwargs)
            if not self._timed:
                try:
                    result = fn(*args, **kwargs)
                except Exception as exc:
                    error: Exception = exc
                else:
                    if result.__class__ is not _Coroutine:
                        return result
                    raise self._coroutine_given(fn, result)
                return self._resume(fn, args, kwargs, None, brk, gen, error)
            start = self._now()
            sync = _SYNC
            sync.deadline = start + self._first_limit
            try:
                result = fn(*args, **kwargs)
            except Exception as exc:
                error = exc
            else:
                if result.__class__ is not _Coroutine:
                    return result  # even a late one: it was not pre-empted, it answered
                raise self._coroutine_given(fn, result)
            finally:
                sync.deadline = None
            return self._resume(fn, args, kwargs, start, brk, gen, error)
        if self._fallback is not None and not self._call_fast:
            refusal = self._sync_refusal()
            if refusal is not None:
                raise refusal  # before the dependency is called, not during an outage
        return self._call(fn, args, kwargs)

    # -- the async driver ------------------------------------------------------------------
    async def acall(self, fn: Callable[P, Awaitable[R]], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Await ``fn(*args, **kwargs)`` through the pipeline (a coroutine function)."""
        if self._fast and not self._obs._observers and _SYNC.deadline is None:
            brk = self._brk
            gen = 0
            if brk is not None:
                gen = brk._gen
                if not brk._quiet:
                    if self._alone and brk.open_for(self._now()) > 0:
                        brk.release(brk.acquire(self._now()))  # raises: fail fast, few frames
                    return await self._acall(fn, args, kwargs)
            if not self._timed:
                if _DEADLINE.get() is not None:
                    return await self._acall(fn, args, kwargs)  # an outer deadline applies
                try:
                    called: Any = fn(*args, **kwargs)
                    if called.__class__ is not _Coroutine:
                        called = _Awaiting(self._awaiting(fn, called))
                    return await called  # type: ignore[no-any-return]
                except Exception as exc:
                    error: Exception = exc
                return await self._aresume(fn, args, kwargs, None, brk, gen, error)
            now = self._now
            start = now()
            limit = start + self._first_limit
            token = _DEADLINE.set(limit)
            if token.old_value is not _MISSING:  # (only floats are ever set)
                _DEADLINE.reset(token)  # an outer deadline applies: the general path
                return await self._acall(fn, args, kwargs)
            entry: list[Any] | None = None
            task: asyncio.Task[Any] | None = None
            try:
                # Step the call once by hand: most calls finish without suspending,
                # and those need no timer at all (nothing to pre-empt).
                step: Any = fn(*args, **kwargs)
                if type(step) is not _Coroutine:
                    step = self._awaiting(fn, step)
                try:
                    suspended = step.send(None)
                except StopIteration as finished:
                    return finished.value  # type: ignore[no-any-return]
                else:
                    # It waits on something: arm the deadline, then keep driving it.
                    loop = asyncio.get_running_loop()
                    task = cast("asyncio.Task[Any]", asyncio.current_task(loop))
                    dog = self._dog
                    if dog is None or dog._loop is not loop:
                        dog = self._dog = _watchdog(self._clock, loop)
                    entry = dog.arm(limit, task)
                    result = await _Resume(step, suspended)
                    entry[_TASK] = None
                    if entry[_FIRED]:
                        task.uncancel()  # our cancellation was swallowed; it still answered
                    return result  # type: ignore[no-any-return]
            except asyncio.CancelledError:
                if entry is None or task is None:
                    raise
                entry[_TASK] = None
                if not entry[_FIRED] or task.uncancel() > 0:
                    raise
                error = self._timed_out(1, start, limit, self._budget_deadline(start))
            except Exception as exc:
                if entry is not None and entry[_FIRED] and task is not None:
                    task.uncancel()  # our cancellation was swallowed: it must not linger
                error = exc
            finally:
                if entry is not None:
                    entry[_TASK] = None
                _DEADLINE.reset(token)
            return await self._aresume(fn, args, kwargs, start, brk, gen, error)
        return await self._acall(fn, args, kwargs)
