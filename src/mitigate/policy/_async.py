"""The async driver: the general loop of :meth:`Pipeline.acall` (private).

Waits are ``await clock.asleep``; an attempt that waits is raced against its deadline by
the clock's watchdog, so timeouts pre-empt it, in virtual time too.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Generator
from typing import Any, TypeVar, cast

from mitigate.errors import AttemptTimeoutError, BulkheadFullError, ConfigError
from mitigate.observe.events import AttemptStarted
from mitigate.policy._decisions import _Core, _Coroutine
from mitigate.policy.breaker import _BreakerState
from mitigate.policy.bulkhead import _BulkheadState
from mitigate.policy.fallback import _arguments, _name
from mitigate.policy.injection import NO_RESULT, Injector
from mitigate.policy.timeout import _DEADLINE, _FIRED, _TASK, _Watchdog, _watchdog

R = TypeVar("R")


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


class _Awaiting:
    """Awaits an iterator already taken from an awaitable's ``__await__``."""

    __slots__ = ("_it",)

    def __init__(self, it: Generator[Any, Any, Any]) -> None:
        self._it = it

    def __await__(self) -> Generator[Any, Any, Any]:
        return self._it


class _AsyncDriver(_Core):
    __slots__ = ()

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
        if isinstance(error, ConfigError):
            raise error  # a misuse (acall given a plain function): never retried
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
                attempt, error, at, deadline, start, previous, self._breaker_of(args, kwargs)
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
                    step = fn(*args, **kwargs)
                    if type(step) is not _Coroutine:
                        step = _Awaiting(self._awaiting(fn, step))
                    result = await step
                else:
                    result = await self._ainject(injector, fn, args, kwargs, attempt)
            finally:
                if entry is not None:
                    entry[_TASK] = None
                if token is not None:
                    _DEADLINE.reset(token)
            t1 = now()
            late = limit is not None and t1 > limit
            if entry is not None and entry[_FIRED]:
                assert task is not None
                task.uncancel()  # the call swallowed our cancellation and still answered
                late = True
        except asyncio.CancelledError:
            if entry is not None and entry[_FIRED] and task is not None and task.uncancel() == 0:
                assert limit is not None
                timed_out = self._timed_out(attempt, t0, limit, deadline)
            else:
                if brk is not None:
                    brk.release(gen)
                raise
        except Exception as exc:
            if entry is not None and entry[_FIRED] and task is not None:
                task.uncancel()  # our cancellation was swallowed: it must not linger
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
        if late:
            assert limit is not None
            self._late(attempt, t0, limit)  # an answer is returned, even a late one
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
                raise self._timed_out(attempt, t0, deadline, deadline) from None
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
            return await self._aonce(fn, args, kwargs)
        self._injected(decision, attempt)
        if decision.delay > 0:
            await self._clock.asleep(decision.delay)
        if decision.error is not None:
            raise decision.error
        if decision.result is not NO_RESULT:
            return cast(R, decision.result)
        result = await self._aonce(fn, args, kwargs)
        return decision.corrupt(result) if decision.corrupt is not None else result

    async def _aonce(
        self, fn: Callable[..., Awaitable[R]], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> R:
        step = fn(*args, **kwargs)
        if type(step) is _Coroutine:
            return cast(R, await step)
        return cast(R, await _Awaiting(self._awaiting(fn, step)))

    async def _afall_back(
        self, error: Exception, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
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
            dog = _watchdog(self._clock, loop)
            self._dog = dog  # type: ignore[misc]  # the slot is Pipeline's
        return dog
