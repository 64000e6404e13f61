"""Timeouts: async pre-emption on the clock, sync late results, budgets, deadlines passed down."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from mitigate import (
    AttemptTimeoutError,
    BudgetExhaustedError,
    ConfigError,
    Pipeline,
    Recorder,
    Retry,
    Timeout,
    VirtualClock,
    current_deadline,
)
from mitigate.errors import BUDGET_EXHAUSTED_NOTE


def test_options() -> None:
    assert Timeout(0.5) == Timeout(seconds=0.5)
    assert Timeout(total=5).total == 5.0
    with pytest.raises(ConfigError):
        Timeout()
    with pytest.raises(ConfigError):
        Timeout(0)


async def test_async_attempt_is_preempted_in_virtual_time() -> None:
    clock, rec = VirtualClock(), Recorder()
    policy = Pipeline("ai.call", Timeout(0.5), clock=clock, observers=[rec])

    async def hangs() -> str:
        await clock.asleep(3600)
        return "never"

    started = time.perf_counter()
    with pytest.raises(AttemptTimeoutError) as info:
        await policy.acall(hangs)
    assert time.perf_counter() - started < 0.5
    assert clock.now() == 0.5
    assert "ran past its 500ms timeout" in str(info.value)
    assert rec.values("timeout.fired", "timeout") == [0.5]


async def test_async_attempt_hanging_on_a_plain_future_is_cut_too() -> None:
    clock = VirtualClock()
    policy = Pipeline("t", Timeout(2.0), clock=clock)
    with pytest.raises(AttemptTimeoutError):
        await policy.acall(asyncio.Event().wait)
    assert clock.now() == 2.0


async def test_fast_calls_are_not_disturbed_and_no_timer_lingers() -> None:
    clock = VirtualClock()
    policy = Pipeline("t", Timeout(1.0), clock=clock)

    async def quick(n: int) -> int:
        await clock.asleep(0.1)
        return n

    assert [await policy.acall(quick, n) for n in range(20)] == list(range(20))
    await clock.asleep(5)  # a watchdog waking later finds nothing to cancel
    assert await policy.acall(quick, 7) == 7


async def test_caller_cancellation_is_not_a_timeout() -> None:
    clock = VirtualClock()
    rec = Recorder()
    policy = Pipeline("t", Retry(3, schedule=(0.1,)), Timeout(10), clock=clock, observers=[rec])

    async def slow() -> None:
        await clock.asleep(5)

    task = asyncio.create_task(policy.acall(slow))
    await clock.aadvance(1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert rec.count("timeout.fired") == 0 and rec.count("retry.scheduled") == 0


# -- a late result is returned, never discarded and retried (Polly's choice) -------------
#
# The attempt's side effect happened (an SMS went out): throwing its result away and
# retrying would repeat it. A sync call cannot be pre-empted, and an async call that
# swallows its cancellation still answered; either way the caller gets the answer, and
# the timeout shows as a ``timeout.fired`` event without an error.


class Gateway:
    """An SMS gateway that answers after ``latency`` seconds on the clock."""

    def __init__(self, clock: VirtualClock, latency: float) -> None:
        self.clock, self.latency, self.sent = clock, latency, 0

    def send(self, text: str) -> str:
        self.clock.advance(self.latency)  # a sync call: nothing can interrupt it
        self.sent += 1
        return f"sent {text}"

    async def asend_stubborn(self, text: str) -> str:
        with contextlib.suppress(asyncio.CancelledError):
            await self.clock.asleep(self.latency)  # the request is on the wire: it finishes
        self.sent += 1
        return f"sent {text}"

    async def asend_blocking(self, text: str) -> str:
        return self.send(text)  # finishes without ever waiting


@pytest.mark.parametrize("observed", [False, True])
def test_sync_late_result_is_returned_not_retried(observed: bool) -> None:
    clock, rec = VirtualClock(), Recorder()
    gateway = Gateway(clock, latency=2.0)
    policy = Pipeline(
        "sms.send",
        Retry(3, schedule=(0.1,)),
        Timeout(0.5),
        clock=clock,
        observers=[rec] if observed else [],
    )
    assert policy.call(gateway.send, "code 1234") == "sent code 1234"
    assert gateway.sent == 1 and clock.now() == 2.0
    if observed:
        (fired,) = rec.named("timeout.fired")
        assert fired.error is None and fired.timeout == 0.5  # type: ignore[attr-defined]
        assert rec.values("attempt.succeeded", "duration") == [2.0]
        assert rec.count("retry.scheduled") == 0


@pytest.mark.parametrize("observed", [False, True])
async def test_async_result_after_a_swallowed_cancellation_is_returned(observed: bool) -> None:
    clock, rec = VirtualClock(), Recorder()
    gateway = Gateway(clock, latency=5.0)
    policy = Pipeline(
        "sms.send",
        Retry(3, schedule=(0.1,)),
        Timeout(1),
        clock=clock,
        observers=[rec] if observed else [],
    )
    assert await policy.acall(gateway.asend_stubborn, "code 1234") == "sent code 1234"
    assert gateway.sent == 1 and clock.now() == 1.0
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]
    if observed:
        assert rec.count("timeout.fired") == 1 and rec.count("retry.scheduled") == 0


@pytest.mark.parametrize("observed", [False, True])
async def test_async_result_that_never_waited_but_ran_late_is_returned(observed: bool) -> None:
    clock, rec = VirtualClock(), Recorder()
    gateway = Gateway(clock, latency=2.0)
    policy = Pipeline(
        "sms.send",
        Retry(3, schedule=(0.1,)),
        Timeout(0.5),
        clock=clock,
        observers=[rec] if observed else [],
    )
    assert await policy.acall(gateway.asend_blocking, "hi") == "sent hi"
    assert gateway.sent == 1
    if observed:
        assert rec.count("timeout.fired") == 1 and rec.count("attempt.succeeded") == 1


@pytest.mark.parametrize("observed", [False, True])
async def test_a_swallowed_cancellation_then_an_error_leaves_the_task_uncancelled(
    observed: bool,
) -> None:
    clock = VirtualClock()
    policy = Pipeline("t", Timeout(1), clock=clock, observers=[Recorder()] if observed else [])

    async def stubborn() -> None:
        try:
            await clock.asleep(5)
        except asyncio.CancelledError:
            raise ConnectionError("reset while cancelling") from None

    with pytest.raises(ConnectionError):
        await policy.acall(stubborn)
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


async def test_a_cancelled_attempt_without_a_result_is_still_a_timeout() -> None:
    clock, rec = VirtualClock(), Recorder()
    policy = Pipeline("t", Retry(1, schedule=(0.1,)), Timeout(1), clock=clock, observers=[rec])

    async def hangs() -> str:
        await clock.asleep(5)
        return "never"

    with pytest.raises(AttemptTimeoutError, match="ran past its 1s timeout"):
        await policy.acall(hangs)
    assert rec.count("timeout.fired") == 2 and rec.count("retry.scheduled") == 1


def test_injected_latency_past_the_deadline_times_out_sync_without_calling() -> None:
    from mitigate import FaultDecision

    class Slow:
        def decide(self, target: str, now: float) -> FaultDecision | None:
            return FaultDecision("latency", delay=2.0)

    clock, calls = VirtualClock(), []
    policy = Pipeline("t", Timeout(0.5), clock=clock, injector=Slow())
    with pytest.raises(AttemptTimeoutError, match="ran past its 500ms timeout"):
        policy.call(calls.append, 1)
    assert calls == [] and clock.now() == 0.5  # like async: cut at the deadline


def test_deadline_is_passed_down_sync() -> None:
    clock = VirtualClock(100.0)
    policy = Pipeline("t", Retry(1, schedule=(1,), budget=10), Timeout(2), clock=clock)
    assert policy.call(current_deadline) == 102.0
    assert current_deadline() is None
    budget_bound = Pipeline("t", Retry(1, schedule=(1,), budget=1.5), Timeout(2), clock=clock)
    assert budget_bound.call(current_deadline) == 101.5  # min(own timeout, time left)


async def test_deadline_is_passed_down_async() -> None:
    clock = VirtualClock(100.0)
    policy = Pipeline("t", Timeout(2), clock=clock)

    async def read() -> float | None:
        return current_deadline()

    assert await policy.acall(read) == 102.0
    assert current_deadline() is None


def test_each_attempt_gets_the_earlier_of_its_timeout_and_the_time_left() -> None:
    clock, rec = VirtualClock(), Recorder()
    policy = Pipeline(
        "t", Retry(5, schedule=(0.1,), budget=2.0), Timeout(0.8), clock=clock, observers=[rec]
    )
    seen: list[float | None] = []

    def attempt() -> None:
        seen.append(current_deadline())
        clock.advance(0.5)
        raise ConnectionError("down")

    with pytest.raises(ConnectionError):
        policy.call(attempt)
    # attempts start at 0, 0.6, 1.2, 1.8: the last two get only until the 2.0 budget
    assert seen == pytest.approx([0.8, 1.4, 2.0, 2.0])


async def test_total_timeout_cuts_a_hanging_attempt_and_marks_it() -> None:
    clock = VirtualClock()
    policy = Pipeline("saga.step", Retry(5, base=4, cap=30), Timeout(total=900), clock=clock)

    async def hangs() -> None:
        await asyncio.Event().wait()

    with pytest.raises(AttemptTimeoutError) as info:
        await policy.acall(hangs)
    assert clock.now() == 900.0
    assert any(n.startswith(BUDGET_EXHAUSTED_NOTE) for n in info.value.__notes__)


def test_nested_pipeline_never_runs_past_the_outer_deadline() -> None:
    clock, rec = VirtualClock(), Recorder()
    inner = Pipeline("kms.sign", Retry(10, schedule=(1.0,)), clock=clock, observers=[rec])
    outer = Pipeline("publish", Timeout(total=3.5), clock=clock)

    def sign() -> None:
        raise ConnectionError("kms down")

    with pytest.raises(ConnectionError) as info:
        outer.call(inner.call, sign)
    assert clock.now() == 3.0  # inner retries at 1, 2, 3; a 4th would start at 4 > 3.5
    assert rec.count("budget.exhausted") == 1
    assert any(n.startswith(BUDGET_EXHAUSTED_NOTE) for n in info.value.__notes__)


def test_budget_exhausted_error_when_no_attempt_can_start() -> None:
    clock, rec = VirtualClock(), Recorder()
    inner = Pipeline("kms.sign", Retry(1, schedule=(1,)), clock=clock, observers=[rec])
    outer = Pipeline("publish", Timeout(1.0), clock=clock)
    calls = []

    def late_inner() -> None:
        clock.advance(1.0)  # the outer deadline is now reached
        inner.call(calls.append, 1)

    with pytest.raises(BudgetExhaustedError) as info:
        outer.call(late_inner)
    assert calls == []
    assert info.value.code == "MITIGATE.BUDGET.EXHAUSTED"
    assert info.value.target == "kms.sign"
    assert rec.count("budget.exhausted") == 1


async def test_timeouts_on_a_real_clock_fire_too() -> None:
    policy = Pipeline("t", Timeout(0.05))
    started = time.monotonic()
    with pytest.raises(AttemptTimeoutError):
        await policy.acall(asyncio.sleep, 5)
    assert time.monotonic() - started < 1.0


# -- the unobserved async fast path (the call is stepped by hand) ------------------------


async def test_fast_path_preempts_a_call_that_waits() -> None:
    clock = VirtualClock()
    policy = Pipeline("t", Retry(1, schedule=(0.1,)), Timeout(0.5), clock=clock)  # no observers

    async def hangs() -> str:
        await clock.asleep(10)
        return "never"

    with pytest.raises(AttemptTimeoutError):
        await policy.acall(hangs)
    assert clock.now() == pytest.approx(1.1)  # two attempts of 0.5 s and a 0.1 s wait


async def test_fast_path_results_and_errors_before_and_after_waiting() -> None:
    clock = VirtualClock()
    policy = Pipeline("t", Timeout(5), clock=clock)

    async def at_once() -> str:
        return "now"

    async def after_wait() -> str:
        await clock.asleep(1)
        await asyncio.sleep(0)
        return "later"

    async def fails_at_once() -> None:
        raise KeyError("a")

    async def fails_later() -> None:
        await clock.asleep(1)
        raise KeyError("b")

    assert await policy.acall(at_once) == "now"
    assert await policy.acall(after_wait) == "later"
    with pytest.raises(KeyError, match="a"):
        await policy.acall(fails_at_once)
    with pytest.raises(KeyError, match="b"):
        await policy.acall(fails_later)
    loop = asyncio.get_running_loop()
    future: asyncio.Future[str] = loop.create_future()
    loop.call_soon(future.set_result, "from a future")
    assert await policy.acall(lambda: future) == "from a future"


async def test_fast_path_caller_cancellation_reaches_the_call() -> None:
    clock = VirtualClock()
    policy = Pipeline("t", Timeout(50), clock=clock)
    cleaned: list[str] = []

    async def slow() -> None:
        try:
            await clock.asleep(10)
        finally:
            cleaned.append("cleanup ran")

    task = asyncio.create_task(policy.acall(slow))
    await clock.aadvance(1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleaned == ["cleanup ran"]


async def test_fast_path_passes_the_deadline_down_after_waiting() -> None:
    clock = VirtualClock(10.0)
    policy = Pipeline("t", Timeout(2), clock=clock)

    async def read_twice() -> tuple[float | None, float | None]:
        first = current_deadline()
        await clock.asleep(1)
        return first, current_deadline()

    assert await policy.acall(read_twice) == (12.0, 12.0)
    assert current_deadline() is None
