"""What both pipeline drivers decide the same way (private).

Admission (breaker, rate limits, bulkhead), outcomes (breaker, events), the next retry
delay against the budget, timeouts, fallback sources. The sync and async drivers call
these and differ only in how they wait.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable, Generator, Hashable
from typing import Any, Final

from mitigate.clock import Clock
from mitigate.errors import (
    BUDGET_EXHAUSTED_NOTE,
    RETRY_EXHAUSTED_NOTE,
    AttemptTimeoutError,
    BreakerOpenError,
    BudgetExhaustedError,
    BulkheadFullError,
    CallStyleError,
    ConfigError,
    RateLimitedError,
)
from mitigate.observe.events import (
    AttemptFailed,
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
from mitigate.observe.observers import Observers
from mitigate.policy.breaker import _BreakerState
from mitigate.policy.bulkhead import _BulkheadState
from mitigate.policy.fallback import Fallback, _LastKnownGood, _name, reason
from mitigate.policy.injection import NO_RESULT, FaultDecision, Injector
from mitigate.policy.keyed import _PerKey
from mitigate.policy.ratelimit import RateLimiter
from mitigate.policy.retry import Retry
from mitigate.policy.timeout import _Watchdog, current_deadline

FALLBACK_FAILED_NOTE: Final = "MITIGATE.FALLBACK.FAILED"
BREAKER_OPEN_NOTE: Final = "MITIGATE.BREAKER.OPEN"

_Coroutine: Final = types.CoroutineType


def _add_note(error: BaseException, note: str) -> None:
    if note not in getattr(error, "__notes__", ()):
        error.add_note(note)


class _Core:
    """The pipeline's state (declared here, stored in :class:`Pipeline`'s slots) and
    the decisions both drivers share."""

    __slots__ = ()

    target: str
    _clock: Clock
    _now: Callable[[], float]
    _obs: Observers
    _injector: Injector | None
    _dog: _Watchdog | None
    _retry: Retry | None
    _max_attempts: int
    _retry_if_result: Callable[[Any], bool] | None
    _brk: _BreakerState | None
    _brk_keyed: _PerKey[_BreakerState] | None
    _brk_key: Callable[..., Hashable] | None
    _bulk: _BulkheadState | None
    _bulk_keyed: _PerKey[_BulkheadState] | None
    _bulk_key: Callable[..., Hashable] | None
    _limits: tuple[tuple[RateLimiter, Callable[..., Hashable] | None], ...]
    _fallback: Fallback | None
    _lkg: _LastKnownGood | None
    _attempt_timeout: float | None
    _budget: float | None

    def _breaker_of(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _BreakerState | None:
        """This call's breaker (its key's, for a keyed breaker), if any."""
        brk = self._brk
        if brk is None and self._brk_keyed is not None:
            assert self._brk_key is not None
            brk = self._brk_keyed.get(self._brk_key(*args, **kwargs))
        return brk

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
        if isinstance(error, ConfigError):  # a misuse, not the dependency failing
            if brk is not None:
                brk.release(gen)
            return
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

    def _late(self, attempt: int, t0: float, limit: float) -> None:
        """An attempt answered after its deadline: the answer is returned (its side
        effects happened; retrying would repeat them), the lateness is an event."""
        if self._obs:
            self._obs.emit(
                AttemptTimedOut(
                    target=self.target, at=self._now(), attempt=attempt, timeout=limit - t0
                )
            )

    def _timed_out(
        self, attempt: int, t0: float, limit: float, deadline: float | None
    ) -> AttemptTimeoutError:
        """The error (and event) for an attempt cut at its deadline without an answer."""
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
        brk: _BreakerState | None = None,
    ) -> float | None:
        """How long to wait before the next attempt, or None to give up (the caller
        then re-raises ``error`` or returns the result). Adds the exhausted note and
        emits the matching event. Raises the breaker's error when an open breaker
        would have to be waited out with no budget bounding the wait."""
        retry = self._retry
        if retry is None:
            return None
        if error is not None and (isinstance(error, ConfigError) or not retry._retries(error)):
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
        # How long a breaker (ours, or one below that refused) stays open.
        held = 0.0 if brk is None else brk.open_for(now)
        if isinstance(error, BreakerOpenError) and error.retry_after is not None:
            held = max(held, error.retry_after)
        if held > delay and (deadline is None or held == float("inf")):
            # Nothing bounds the wait (or an operator forced it open): fail fast with
            # the breaker's error rather than sleeping through its reset.
            refused = self._refused(brk, error, now, held)
            if refused is not None:
                raise refused from (None if refused is error else error)
        if retry.honor_retry_after:
            after = getattr(error, "retry_after", None) if error is not None else None
            if not isinstance(after, int | float) or isinstance(after, bool):
                after = 0.0
            # An open breaker would reject the next attempt for sure: wait it out
            # (inside the budget, checked below) instead of spending a retry on it.
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

    def _refused(
        self, brk: _BreakerState | None, error: Exception | None, now: float, held: float
    ) -> BreakerOpenError | None:
        """The breaker's error for a retry that will not wait ``held`` seconds for it
        (None when the breaker let a call through meanwhile: retry as usual)."""
        if isinstance(error, BreakerOpenError):
            refused = error
        else:
            assert brk is not None
            try:
                brk.release(brk.acquire(now))  # emits breaker.rejected
            except BreakerOpenError as exc:
                refused = exc
            else:
                return None
        from mitigate.policy.notation import format_duration as fmt

        why = (
            "it is forced open"
            if held == float("inf")
            else f"it stays open {fmt(held)} and no total budget bounds the wait"
        )
        _add_note(refused, f"{BREAKER_OPEN_NOTE}: {self.target} did not retry: {why}")
        return refused

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
            _add_note(error, f"{FALLBACK_FAILED_NOTE}: {self.target}: " + "; ".join(tried))
        elif fallback.last_known_good is not None:
            _add_note(error, f"{FALLBACK_FAILED_NOTE}: {self.target}: no last known good result")
        raise error

    # -- call and acall given the wrong kind of function --------------------------------
    def _coroutine_given(self, fn: Callable[..., Any], coroutine: Any) -> CallStyleError:
        """``call`` got a coroutine function: its body never ran (nothing to undo)."""
        coroutine.close()  # no "never awaited" warning: the error says it all
        return CallStyleError(
            self.target,
            f"{_name(fn)} is a coroutine function; call() would return its coroutine unrun",
            hint="await pipeline.acall(...) instead, or decorate with pipeline.wrap",
        )

    def _awaiting(self, fn: Callable[..., Any], result: Any) -> Generator[Any, Any, Any]:
        """What to drive for ``acall``: the awaitable's iterator, or a CallStyleError
        when ``fn`` is a plain function (it ran once; it is not retried)."""
        await_ = getattr(result, "__await__", None)
        if await_ is not None:
            return await_()  # type: ignore[no-any-return]
        if inspect.isawaitable(result):  # a generator-based coroutine drives itself
            return result  # type: ignore[return-value]
        raise CallStyleError(
            self.target,
            f"{_name(fn)} is a plain function (it returned {type(result).__name__}, "
            "not an awaitable); acall() awaits what the function returns",
            hint="use pipeline.call(...) for a plain function, or decorate with pipeline.wrap",
        )
