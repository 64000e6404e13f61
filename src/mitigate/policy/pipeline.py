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
from collections.abc import Awaitable, Callable, Generator, Hashable, Iterable
from contextvars import Token
from typing import Any, Final, ParamSpec, TypeVar, cast

from mitigate.clock import Clock, default_clock
from mitigate.errors import (
    BUDGET_EXHAUSTED_NOTE,
    RETRY_EXHAUSTED_NOTE,
    AttemptTimeoutError,
    BudgetExhaustedError,
    BulkheadFullError,
    ConfigError,
    RateLimitedError,
)
from mitigate.observe.events import (
    AttemptFailed,
    AttemptStarted,
    AttemptSucceeded,
    AttemptTimedOut,
    BudgetExhausted,
    BulkheadFull,
    FallbackUsed,
    FaultInjected,
    LimitHit,
    RetryExhausted,
    RetryScheduled,
)
from mitigate.observe.observers import Observer, Observers
from mitigate.policy._values import INVALID
from mitigate.policy.breaker import Breaker, BreakerControl, _BreakerState
from mitigate.policy.bulkhead import Bulkhead, _BulkheadState
from mitigate.policy.fallback import Fallback, _LastKnownGood, _name, reason
from mitigate.policy.injection import NO_RESULT, FaultDecision, Injector
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
    current_deadline,
)

__all__ = ["Pipeline", "Strategy"]

P = ParamSpec("P")
R = TypeVar("R")

Strategy = Retry | Breaker | Timeout | Fallback | Bulkhead | RateLimit | Keyed
"""Anything a :class:`Pipeline` composes."""

_FALLBACK_FAILED_NOTE: Final = "MITIGATE.FALLBACK.FAILED"
_ORDER: Final = {Fallback: 0, Retry: 2, Breaker: 3, RateLimit: 4, Bulkhead: 5, Timeout: 6}


_Coroutine: Final = types.CoroutineType
_MISSING: Final = Token.MISSING


class _Resume:
    """Drives a call that suspended after its first step (PEP 380's ``yield from``,
    written out because the first step already ran)."""

    __slots__ = ("_first", "_step")

    def __init__(self, step: Any, first: Any) -> None:
        self._step = step
        self._first = first

    def __await__(self) -> Generator[Any, Any, Any]:
        step = self._step
        value = self._first
        while True:
            try:
                sent = yield value
            except GeneratorExit:
                close = getattr(step, "close", None)
                if close is not None:
                    close()
                raise
            except BaseException as thrown:  # cancellation goes into the call
                try:
                    value = step.throw(thrown)
                except StopIteration as finished:
                    return finished.value
            else:
                try:
                    value = step.send(sent)
                except StopIteration as finished:
                    return finished.value


def _rank(strategy: Strategy) -> int:
    policy = strategy.policy if isinstance(strategy, Keyed) else strategy
    return _ORDER[type(policy)]


def _add_note(error: BaseException, note: str) -> None:
    if note not in getattr(error, "__notes__", ()):
        error.add_note(note)


class Pipeline:
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
            raise ConfigError(None, f"a pipeline needs a target name, got {target!r}", code=INVALID)
        for strategy in strategies:
            if not isinstance(strategy, Strategy):
                raise ConfigError(
                    target,
                    f"{strategy!r} is not a strategy",
                    hint="compose Retry, Breaker, Timeout, Fallback, Bulkhead, RateLimit, Keyed",
                    code=INVALID,
                )
        ordered = sorted(strategies, key=_rank)
        kinds = [type(s.policy if isinstance(s, Keyed) else s) for s in ordered]
        for kind in set(kinds):
            if kind is not RateLimit and kinds.count(kind) > 1:
                raise ConfigError(
                    target,
                    f"more than one {kind.__name__}",
                    hint="give each strategy once",
                    code=INVALID,
                )
        self.target = target
        self.strategies: tuple[Strategy, ...] = tuple(ordered)
        self._clock: Clock = clock if clock is not None else default_clock()
        self._now = self._clock.now
        self._obs = observers if isinstance(observers, Observers) else Observers(observers)
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

                self._brk_keyed = _PerKey(new_breaker, strategy.max_keys)
                self._brk_key = key
            elif isinstance(policy, Bulkhead):
                bulkhead = policy
                self._bulk_keyed = _PerKey(
                    lambda k: _BulkheadState(bulkhead, target), strategy.max_keys
                )
                self._bulk_key = key
            else:
                limits.append((policy.limiter(clock), key))
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
                raise ConfigError(self.target, "the breaker is keyed; pass the key", code=INVALID)
            return self._brk_keyed.get(key)
        if self._brk is None:
            raise ConfigError(self.target, "this pipeline has no breaker", code=INVALID)
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

            @functools.wraps(fn)
            async def run_async(*args: P.args, **kwargs: P.kwargs) -> Any:
                return await self.acall(afn, *args, **kwargs)

            return cast(Callable[P, R], run_async)

        @functools.wraps(fn)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            return self.call(fn, *args, **kwargs)

        return run

    # -- the sync driver -------------------------------------------------------------------
    def call(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run ``fn(*args, **kwargs)`` through the pipeline (a plain function)."""
        sync = _SYNC
        if (
            self._fast
            and not self._obs._observers
            and sync.deadline is None
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
                    return fn(*args, **kwargs)
                except Exception as exc:
                    error: Exception = exc
                return self._resume(fn, args, kwargs, None, brk, gen, error)
            now = self._now
            start = now()
            limit = start + self._first_limit
            sync.deadline = limit
            try:
                result = fn(*args, **kwargs)
            except Exception as exc:
                error = exc
            else:
                if now() <= limit:
                    return result
                error = self._timed_out(1, start, limit, self._budget_deadline(start), late=True)
            finally:
                sync.deadline = None
            return self._resume(fn, args, kwargs, start, brk, gen, error)
        return self._call(fn, args, kwargs)

    def _resume(
        self,
        fn: Callable[..., R],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        start: float | None,
        brk: _BreakerState | None,
        gen: int,
        error: Exception,
    ) -> R:
        # The fast first attempt failed: count it, then go on in the general loop.
        now = self._now()
        if brk is not None:
            brk.on_error(gen, now, 0.0 if start is None else now - start, error)
        return self._call(fn, args, kwargs, now if start is None else start, error)

    def _call(
        self,
        fn: Callable[..., R],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        start: float | None = None,
        error: Exception | None = None,
    ) -> R:
        if self._fallback is None:
            return self._attempts(fn, args, kwargs, start, error)
        try:
            result = self._attempts(fn, args, kwargs, start, error)
        except Exception as exc:
            failed: Exception = exc
        else:
            if self._lkg is not None:
                self._lkg.store(self._lkg_key(args, kwargs), result, self._now())
            return result
        return cast(R, self._fall_back(failed, args, kwargs))

    def _attempts(
        self,
        fn: Callable[..., R],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        start: float | None,
        error: Exception | None,
    ) -> R:
        now = self._now
        if start is None:
            start = now()
        deadline = self._deadline(start)
        if self._retry is None:  # one attempt: nothing to decide after it
            if error is not None:
                raise error
            return self._attempt(fn, args, kwargs, 1, deadline)[0]
        attempt = 0 if error is None else 1
        previous = 0.0
        while True:
            if error is None:
                attempt += 1
                try:
                    result, bad = self._attempt(fn, args, kwargs, attempt, deadline)
                except Exception as exc:
                    error = exc
                else:
                    if not bad:
                        return result
                    delay = self._next_delay(attempt, None, now(), deadline, start, previous)
                    if delay is None:
                        return result
                    previous = delay
                    self._clock.sleep(delay)
                    continue
            at = now()
            delay = self._next_delay(
                attempt, error, at, deadline, start, previous, self._held(at, args, kwargs)
            )
            if delay is None:
                raise error
            error = None
            previous = delay
            self._clock.sleep(delay)

    def _attempt(
        self,
        fn: Callable[..., R],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        attempt: int,
        deadline: float | None,
    ) -> tuple[R, bool]:
        """One attempt: admission, the call, its outcome. Returns (result, is it a
        result to retry on) or raises the attempt's error."""
        now = self._now
        t0 = now()
        brk, gen = self._admit(t0, attempt, args, kwargs)
        bulk = self._bulkhead(args, kwargs)
        if bulk is not None and not bulk.try_acquire():
            try:
                self._queue(bulk, deadline, attempt)
            except BaseException:
                if brk is not None:
                    brk.release(gen)
                raise
            t0 = now()
        limit = self._limit(t0, deadline)
        obs = self._obs
        if obs:
            obs.emit(AttemptStarted(target=self.target, at=t0, attempt=attempt))
        try:
            sync = _SYNC
            outer = sync.deadline
            if limit is not None:
                sync.deadline = limit
            try:
                injector = self._injector
                if injector is None:
                    result = fn(*args, **kwargs)
                else:
                    result = self._inject(injector, fn, args, kwargs, attempt)
            finally:
                sync.deadline = outer
            t1 = now()
            if limit is not None and t1 > limit:
                raise self._timed_out(attempt, t0, limit, deadline, late=True)
        except Exception as exc:
            self._failed(brk, gen, attempt, t0, now(), exc)
            raise
        except BaseException:
            if brk is not None:
                brk.release(gen)
            raise
        finally:
            if bulk is not None:
                bulk.release()
        return result, self._succeeded(brk, gen, attempt, t0, t1, result)

    def _queue(self, bulk: _BulkheadState, deadline: float | None, attempt: int) -> None:
        try:
            bulk.wait_sync(None if deadline is None else deadline - self._now())
        except BulkheadFullError as exc:
            self._bulkhead_full(bulk, attempt, exc)
            raise

    def _inject(
        self,
        injector: Injector,
        fn: Callable[..., R],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        attempt: int,
    ) -> R:
        decision = injector.decide(self.target, self._now())
        if decision is None:
            return fn(*args, **kwargs)
        self._injected(decision, attempt)
        if decision.delay > 0:
            self._clock.sleep(decision.delay)
        if decision.error is not None:
            raise decision.error
        if decision.result is not NO_RESULT:
            return cast(R, decision.result)
        result = fn(*args, **kwargs)
        return decision.corrupt(result) if decision.corrupt is not None else result

    def _fall_back(self, error: Exception, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        fallback = self._fallback
        assert fallback is not None
        if not fallback._answers(error):
            raise error
        found, value, _ = self._cached(error, args, kwargs)
        if found:
            return value
        tried: list[str] = []
        for alternative in fallback.alternatives:
            try:
                value = alternative(*args, **kwargs)
            except Exception as exc:
                tried.append(f"{_name(alternative)} raised {type(exc).__name__}: {exc}")
                continue
            if inspect.isawaitable(value):
                if inspect.iscoroutine(value):
                    value.close()
                raise ConfigError(
                    self.target,
                    f"fallback {_name(alternative)} is async but the call is sync",
                    hint="call the pipeline with acall, or give a plain function",
                    code=INVALID,
                )
            self._fell_back(error, _name(alternative))
            return value
        return self._last_resort(error, tried)

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
                    return await fn(*args, **kwargs)
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
                    step = step.__await__()
                try:
                    suspended = step.send(None)
                except StopIteration as finished:
                    if now() <= limit:
                        return finished.value  # type: ignore[no-any-return]
                    error = self._timed_out(
                        1, start, limit, self._budget_deadline(start), late=True
                    )
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
                    if not entry[_FIRED]:
                        return result  # type: ignore[no-any-return]
                    task.uncancel()  # the call swallowed our cancellation: its result is late
                    error = self._timed_out(
                        1, start, limit, self._budget_deadline(start), late=True
                    )
            except asyncio.CancelledError:
                if entry is None or task is None:
                    raise
                entry[_TASK] = None
                if not entry[_FIRED] or task.uncancel() > 0:
                    raise
                error = self._timed_out(1, start, limit, self._budget_deadline(start), late=False)
            except Exception as exc:
                error = exc
            finally:
                if entry is not None:
                    entry[_TASK] = None
                _DEADLINE.reset(token)
            return await self._aresume(fn, args, kwargs, start, brk, gen, error)
        return await self._acall(fn, args, kwargs)

    async def _aresume(
        self,
        fn: Callable[..., Awaitable[R]],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        start: float | None,
        brk: _BreakerState | None,
        gen: int,
        error: Exception,
    ) -> R:
        now = self._now()
        if brk is not None:
            brk.on_error(gen, now, 0.0 if start is None else now - start, error)
        return await self._acall(fn, args, kwargs, now if start is None else start, error)

    async def _acall(
        self,
        fn: Callable[..., Awaitable[R]],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        start: float | None = None,
        error: Exception | None = None,
    ) -> R:
        if self._fallback is None:
            return await self._aattempts(fn, args, kwargs, start, error)
        try:
            result = await self._aattempts(fn, args, kwargs, start, error)
        except Exception as exc:
            failed: Exception = exc
        else:
            if self._lkg is not None:
                self._lkg.store(self._lkg_key(args, kwargs), result, self._now())
            return result
        return cast(R, await self._afall_back(failed, args, kwargs))

    async def _aattempts(
        self,
        fn: Callable[..., Awaitable[R]],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        start: float | None,
        error: Exception | None,
    ) -> R:
        now = self._now
        if start is None:
            start = now()
        deadline = self._deadline(start)
        if self._retry is None:  # one attempt: nothing to decide after it
            if error is not None:
                raise error
            return (await self._aattempt(fn, args, kwargs, 1, deadline))[0]
        attempt = 0 if error is None else 1
        previous = 0.0
        while True:
            if error is None:
                attempt += 1
                try:
                    result, bad = await self._aattempt(fn, args, kwargs, attempt, deadline)
                except Exception as exc:
                    error = exc
                else:
                    if not bad:
                        return result
                    delay = self._next_delay(attempt, None, now(), deadline, start, previous)
                    if delay is None:
                        return result
                    previous = delay
                    await self._clock.asleep(delay)
                    continue
            at = now()
            delay = self._next_delay(
                attempt, error, at, deadline, start, previous, self._held(at, args, kwargs)
            )
            if delay is None:
                raise error
            error = None
            previous = delay
            await self._clock.asleep(delay)

    async def _aattempt(
        self,
        fn: Callable[..., Awaitable[R]],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        attempt: int,
        deadline: float | None,
    ) -> tuple[R, bool]:
        now = self._now
        t0 = now()
        brk, gen = self._admit(t0, attempt, args, kwargs)
        bulk = self._bulkhead(args, kwargs)
        if bulk is not None and not bulk.try_acquire():
            try:
                await self._aqueue(bulk, deadline, attempt, t0)
            except BaseException:
                if brk is not None:
                    brk.release(gen)
                raise
            t0 = now()
        limit = self._limit(t0, deadline)
        obs = self._obs
        if obs:
            obs.emit(AttemptStarted(target=self.target, at=t0, attempt=attempt))
        entry: list[Any] | None = None
        task: asyncio.Task[Any] | None = None
        timed_out: AttemptTimeoutError | None = None
        try:
            token = None
            if limit is not None:
                task = cast("asyncio.Task[Any]", asyncio.current_task())
                entry = self._watch(task).arm(limit, task)
                token = _DEADLINE.set(limit)
            try:
                injector = self._injector
                if injector is None:
                    result = await fn(*args, **kwargs)
                else:
                    result = await self._ainject(injector, fn, args, kwargs, attempt)
            finally:
                if entry is not None:
                    entry[_TASK] = None
                if token is not None:
                    _DEADLINE.reset(token)
            t1 = now()
            if entry is not None and entry[_FIRED]:
                assert task is not None and limit is not None
                task.uncancel()  # the call swallowed our cancellation: its result is late
                raise self._timed_out(attempt, t0, limit, deadline, late=True)
        except asyncio.CancelledError:
            if entry is not None and entry[_FIRED] and task is not None and task.uncancel() == 0:
                assert limit is not None
                timed_out = self._timed_out(attempt, t0, limit, deadline, late=False)
            else:
                if brk is not None:
                    brk.release(gen)
                raise
        except Exception as exc:
            self._failed(brk, gen, attempt, t0, now(), exc)
            raise
        except BaseException:
            if brk is not None:
                brk.release(gen)
            raise
        finally:
            if bulk is not None:
                bulk.release()
        if timed_out is not None:
            self._failed(brk, gen, attempt, t0, now(), timed_out)
            raise timed_out
        return result, self._succeeded(brk, gen, attempt, t0, t1, result)

    async def _aqueue(
        self, bulk: _BulkheadState, deadline: float | None, attempt: int, t0: float
    ) -> None:
        entry: list[Any] | None = None
        task: asyncio.Task[Any] | None = None
        if deadline is not None:
            task = cast("asyncio.Task[Any]", asyncio.current_task())
            entry = self._watch(task).arm(deadline, task)
        try:
            await bulk.wait_async()
        except asyncio.CancelledError:
            if entry is not None and entry[_FIRED] and task is not None and task.uncancel() == 0:
                assert deadline is not None
                raise self._timed_out(attempt, t0, deadline, deadline, late=False) from None
            raise
        except BulkheadFullError as exc:
            self._bulkhead_full(bulk, attempt, exc)
            raise
        finally:
            if entry is not None:
                entry[_TASK] = None

    async def _ainject(
        self,
        injector: Injector,
        fn: Callable[..., Awaitable[R]],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        attempt: int,
    ) -> R:
        decision = injector.decide(self.target, self._now())
        if decision is None:
            return await fn(*args, **kwargs)
        self._injected(decision, attempt)
        if decision.delay > 0:
            await self._clock.asleep(decision.delay)
        if decision.error is not None:
            raise decision.error
        if decision.result is not NO_RESULT:
            return cast(R, decision.result)
        result = await fn(*args, **kwargs)
        return decision.corrupt(result) if decision.corrupt is not None else result

    async def _afall_back(
        self, error: Exception, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        fallback = self._fallback
        assert fallback is not None
        if not fallback._answers(error):
            raise error
        found, value, _ = self._cached(error, args, kwargs)
        if found:
            return value
        tried: list[str] = []
        for alternative in fallback.alternatives:
            try:
                value = alternative(*args, **kwargs)
                if inspect.isawaitable(value):
                    value = await value
            except Exception as exc:
                tried.append(f"{_name(alternative)} raised {type(exc).__name__}: {exc}")
                continue
            self._fell_back(error, _name(alternative))
            return value
        return self._last_resort(error, tried)

    def _watch(self, task: asyncio.Task[Any]) -> _Watchdog:
        loop = task.get_loop()
        dog = self._dog
        if dog is None or dog._loop is not loop:
            dog = self._dog = _watchdog(self._clock, loop)
        return dog

    # -- decisions shared by both drivers ------------------------------------------------------
    def _held(self, now: float, args: tuple[Any, ...], kwargs: dict[str, Any]) -> float:
        """How long this call's breaker stays open from ``now`` (0 when not open)."""
        brk = self._brk
        if brk is None:
            if self._brk_keyed is None:
                return 0.0
            assert self._brk_key is not None
            brk = self._brk_keyed.get(self._brk_key(*args, **kwargs))
        held = brk.open_for(now)
        return 0.0 if held == float("inf") else held  # forced open: nothing to wait for

    def _budget_deadline(self, start: float) -> float | None:
        return None if self._budget is None else start + self._budget

    def _deadline(self, start: float) -> float | None:
        """The call's absolute deadline: its own budget, or an outer pipeline's deadline
        when that is earlier. Raises BudgetExhaustedError when it already passed."""
        deadline = self._budget_deadline(start)
        outer = current_deadline()
        if outer is not None:
            if outer <= start:
                error = BudgetExhaustedError(
                    self.target, "the caller's deadline passed before the first attempt"
                )
                if self._obs:
                    self._obs.emit(
                        BudgetExhausted(
                            target=self.target, at=start, error=error, remaining=outer - start
                        )
                    )
                raise error
            if deadline is None or outer < deadline:
                deadline = outer
        return deadline

    def _limit(self, t0: float, deadline: float | None) -> float | None:
        """An attempt's deadline: the earlier of its own timeout and the call's deadline."""
        timeout = self._attempt_timeout
        if timeout is None:
            return deadline
        own = t0 + timeout
        return own if deadline is None or own < deadline else deadline

    def _admit(
        self, now: float, attempt: int, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[_BreakerState | None, int]:
        """Breaker, then rate limits: admit the attempt or raise a RejectedError."""
        brk = self._brk
        if brk is None and self._brk_keyed is not None:
            assert self._brk_key is not None
            brk = self._brk_keyed.get(self._brk_key(*args, **kwargs))
        gen = 0
        if brk is not None:
            gen = brk._gen
            if not brk._quiet:
                gen = brk.acquire(now)
        if self._limits:
            try:
                self._permits(now, attempt, args, kwargs)
            except BaseException:
                if brk is not None:
                    brk.release(gen)
                raise
        return brk, gen

    def _permits(
        self, now: float, attempt: int, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        taken: list[tuple[RateLimiter, Hashable]] = []
        for limiter, key_of in self._limits:
            key = self.target if key_of is None else key_of(*args, **kwargs)
            permit = limiter.try_acquire(key)
            if permit.allowed:
                taken.append((limiter, key))
                continue
            for done, done_key in taken:  # the call will not happen: give earlier permits back
                done.refund(done_key)
            error = RateLimitedError(
                self.target,
                f"{limiter.options.describe()} spent for {key!r}",
                retry_after=permit.retry_after,
            )
            if self._obs:
                self._obs.emit(
                    LimitHit(
                        target=self.target,
                        at=now,
                        attempt=attempt,
                        error=error,
                        key=str(key),
                        retry_after=permit.retry_after,
                    )
                )
            raise error

    def _bulkhead(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _BulkheadState | None:
        if self._bulk is not None or self._bulk_keyed is None:
            return self._bulk
        assert self._bulk_key is not None
        return self._bulk_keyed.get(self._bulk_key(*args, **kwargs))

    def _bulkhead_full(self, bulk: _BulkheadState, attempt: int, error: BulkheadFullError) -> None:
        if self._obs:
            self._obs.emit(
                BulkheadFull(
                    target=self.target,
                    at=self._now(),
                    attempt=attempt,
                    error=error,
                    in_flight=bulk.in_flight,
                    queued=bulk.queued,
                )
            )

    def _failed(
        self,
        brk: _BreakerState | None,
        gen: int,
        attempt: int,
        t0: float,
        t1: float,
        error: Exception,
    ) -> None:
        if self._obs:
            self._obs.emit(
                AttemptFailed(
                    target=self.target, at=t1, attempt=attempt, error=error, duration=t1 - t0
                )
            )
        if brk is not None:
            brk.on_error(gen, t1, t1 - t0, error)

    def _succeeded(
        self,
        brk: _BreakerState | None,
        gen: int,
        attempt: int,
        t0: float,
        t1: float,
        result: Any,
    ) -> bool:
        """Record a returned value; return whether retry should treat it as a failure."""
        retry_on_result = self._retry_if_result
        bad = retry_on_result is not None and bool(retry_on_result(result))
        broken = False
        if brk is not None:
            predicate = brk.options.failure_if_result
            broken = predicate is not None and bool(predicate(result))
        obs = self._obs
        if obs:
            if bad or broken:
                obs.emit(
                    AttemptFailed(
                        target=self.target, at=t1, attempt=attempt, duration=t1 - t0, result=result
                    )
                )
            else:
                obs.emit(
                    AttemptSucceeded(target=self.target, at=t1, attempt=attempt, duration=t1 - t0)
                )
        if brk is not None:
            if broken:
                brk.on_failed_result(gen, t1, t1 - t0)
            elif not brk._quiet:
                brk.on_success(gen, t1, t1 - t0)
        return bad

    def _timed_out(
        self, attempt: int, t0: float, limit: float, deadline: float | None, *, late: bool
    ) -> AttemptTimeoutError:
        """The error (and event) for an attempt that ran past its deadline."""
        budget_cut = (
            deadline is not None
            and limit >= deadline
            and (self._attempt_timeout is None or t0 + self._attempt_timeout > deadline)
        )
        from mitigate.policy.notation import format_duration as fmt

        span = fmt(max(limit - t0, 0.0))
        if budget_cut:
            what = f"attempt {attempt} cut at the total deadline ({span} after it started)"
        else:
            what = f"attempt {attempt} ran past its {span} timeout"
        if late:
            what += "; a sync call cannot be pre-empted, so its late result was discarded"
        error = AttemptTimeoutError(self.target, what)
        if budget_cut:
            _add_note(error, f"{BUDGET_EXHAUSTED_NOTE}: {self.target} reached its total deadline")
        if self._obs:
            self._obs.emit(
                AttemptTimedOut(
                    target=self.target,
                    at=self._now(),
                    attempt=attempt,
                    error=error,
                    timeout=limit - t0,
                )
            )
        return error

    def _next_delay(
        self,
        attempt: int,
        error: Exception | None,
        now: float,
        deadline: float | None,
        start: float,
        previous: float,
        held: float = 0.0,
    ) -> float | None:
        """How long to wait before the next attempt, or None to give up (the caller
        then re-raises ``error`` or returns the result). Adds the exhausted note and
        emits the matching event."""
        retry = self._retry
        if retry is None:
            return None
        if error is not None and not retry._retries(error):
            return None
        obs = self._obs
        target = self.target
        if attempt >= self._max_attempts:
            if retry.max_retries == 0:
                return None  # a retry with no retries: nothing was exhausted
            if error is not None:
                _add_note(
                    error,
                    f"{RETRY_EXHAUSTED_NOTE}: {target} gave up after {attempt} attempts "
                    f"(max_retries={retry.max_retries}); this is the last error, unchanged",
                )
            if obs:
                obs.emit(RetryExhausted(target=target, at=now, attempt=attempt, error=error))
            return None
        delay = retry._delay(attempt, previous)
        server_directed = False
        if retry.honor_retry_after:
            after = getattr(error, "retry_after", None) if error is not None else None
            if not isinstance(after, int | float) or isinstance(after, bool):
                after = 0.0
            # An open breaker would reject the next attempt for sure: wait it out
            # instead of spending a retry on the rejection.
            after = max(after, held)
            if after > delay:
                delay = float(after)
                server_directed = True
        if deadline is not None and now + delay >= deadline:
            from mitigate.policy.notation import format_duration as fmt

            remaining = max(deadline - now, 0.0)
            if error is not None:
                _add_note(
                    error,
                    f"{BUDGET_EXHAUSTED_NOTE}: {target} stopped after {attempt} attempts; the next "
                    f"retry in {fmt(delay)} would pass the {fmt(deadline - start)} budget "
                    f"({fmt(remaining)} left); this is the last error, unchanged",
                )
            if obs:
                obs.emit(
                    BudgetExhausted(
                        target=target,
                        at=now,
                        attempt=attempt,
                        error=error,
                        budget=deadline - start,
                        remaining=remaining,
                        delay=delay,
                    )
                )
            return None
        if obs:
            obs.emit(
                RetryScheduled(
                    target=target,
                    at=now,
                    attempt=attempt,
                    error=error,
                    delay=delay,
                    server_directed=server_directed,
                )
            )
        return delay

    def _injected(self, decision: FaultDecision, attempt: int) -> None:
        if self._obs:
            self._obs.emit(
                FaultInjected(
                    target=self.target,
                    at=self._now(),
                    attempt=attempt,
                    error=decision.error,
                    fault=decision.fault,
                    detail=decision.describe(),
                )
            )

    def _lkg_key(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Hashable:
        assert self._fallback is not None
        key_of = self._fallback.key
        return None if key_of is None else key_of(*args, **kwargs)

    def _cached(
        self, error: Exception, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[bool, Any, str]:
        lkg = self._lkg
        if lkg is None:
            return False, None, ""
        found, value, age = lkg.fresh(self._lkg_key(args, kwargs), self._now())
        if found:
            from mitigate.policy.notation import format_duration as fmt

            source = f"last known good ({fmt(age)} old)"
            self._fell_back(error, source)
            return True, value, source
        return False, None, ""

    def _fell_back(self, error: Exception, source: str) -> None:
        if self._obs:
            self._obs.emit(
                FallbackUsed(
                    target=self.target,
                    at=self._now(),
                    error=error,
                    reason=reason(error),
                    source=source,
                )
            )

    def _last_resort(self, error: Exception, tried: list[str]) -> Any:
        fallback = self._fallback
        assert fallback is not None
        if fallback.value is not NO_RESULT:
            self._fell_back(error, "value")
            return fallback.value
        if tried:
            _add_note(error, f"{_FALLBACK_FAILED_NOTE}: {self.target}: " + "; ".join(tried))
        elif fallback.last_known_good is not None:
            _add_note(error, f"{_FALLBACK_FAILED_NOTE}: {self.target}: no last known good result")
        raise error
