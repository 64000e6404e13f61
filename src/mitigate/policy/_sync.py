"""The sync driver: the general loop of :meth:`Pipeline.call` (private).

Waits are ``clock.sleep``; a sync call cannot be pre-empted, so a late result is
returned and its lateness reported (``timeout.fired`` without an error).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar, cast

from mitigate.errors import BulkheadFullError, CallStyleError, ConfigError
from mitigate.observe.events import AttemptStarted
from mitigate.policy._decisions import _Core, _Coroutine
from mitigate.policy.breaker import _BreakerState
from mitigate.policy.bulkhead import _BulkheadState
from mitigate.policy.fallback import _arguments, _name
from mitigate.policy.injection import NO_RESULT, Injector
from mitigate.policy.timeout import _SYNC

R = TypeVar("R")


class _SyncDriver(_Core):
    __slots__ = ()

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
        if isinstance(error, ConfigError):
            raise error  # a misuse (call given a coroutine function): never retried
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
                attempt, error, at, deadline, start, previous, self._breaker_of(args, kwargs)
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
                    result = self._inject(injector, fn, args, kwargs, attempt, t0, deadline)
            finally:
                sync.deadline = outer
            if type(result) is _Coroutine:
                raise self._coroutine_given(fn, result)
            t1 = now()
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
        if limit is not None and t1 > limit:
            self._late(attempt, t0, limit)  # not pre-empted: the answer still counts
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
        t0: float,
        deadline: float | None,
    ) -> R:
        now = self._now()
        decision = injector.decide(self.target, now)
        if decision is None:
            return fn(*args, **kwargs)
        self._injected(decision, attempt)
        if decision.delay > 0:
            # Injected latency is the dependency not answering yet: like an async
            # attempt, it is cut at the deadline and the call is never made.
            limit = _SYNC.deadline
            if limit is not None and now + decision.delay > limit:
                self._clock.sleep(max(limit - now, 0.0))
                raise self._timed_out(attempt, t0, limit, deadline)
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
        if isinstance(error, ConfigError) or not fallback._answers(error):
            raise error
        found, value, _ = self._cached(error, args, kwargs)
        if found:
            return value
        tried: list[str] = []
        for index, alternative in enumerate(fallback.alternatives):
            try:
                value = alternative(*args, **_arguments(fallback, index, error, args, kwargs))
            except Exception as exc:
                tried.append(f"{_name(alternative)} raised {type(exc).__name__}: {exc}")
                continue
            if inspect.isawaitable(value):
                if inspect.iscoroutine(value):
                    value.close()
                raise CallStyleError(
                    self.target,
                    f"fallback {_name(alternative)} is async but the call is sync",
                    hint="call the pipeline with acall, or give a plain function",
                )
            self._fell_back(error, _name(alternative))
            return value
        return self._last_resort(error, tried)
