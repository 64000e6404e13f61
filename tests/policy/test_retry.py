"""Retry: the options, the delays, and both drivers on a virtual clock."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import pytest

from mitigate import (
    AttemptTimeoutError,
    BreakerOpenError,
    ConfigError,
    Pipeline,
    RateLimitedError,
    Recorder,
    Retry,
    Timeout,
    VirtualClock,
)
from mitigate.errors import BUDGET_EXHAUSTED_NOTE, RETRY_EXHAUSTED_NOTE
from mitigate.testing import FlakyDependency


def always_fails(*args: Any, **kwargs: Any) -> Any:
    raise ConnectionError("down")


async def always_fails_async(*args: Any, **kwargs: Any) -> Any:
    raise ConnectionError("down")


def notes(error: BaseException) -> list[str]:
    return list(getattr(error, "__notes__", []))


# -- options ---------------------------------------------------------------------------


def test_options_are_validated_at_construction() -> None:
    with pytest.raises(ConfigError, match="no delays given"):
        Retry(2)
    with pytest.raises(ConfigError, match="not both"):
        Retry(2, schedule=(1,), base=1)
    with pytest.raises(ConfigError, match="cap"):
        Retry(2, base=5, cap=1)
    with pytest.raises(ConfigError, match="factor"):
        Retry(2, base=1, factor=0.5)
    with pytest.raises(ConfigError, match="jitter"):
        Retry(2, base=1, jitter="some")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="Exception subclasses"):
        Retry(2, base=1, retry_on=(KeyboardInterrupt,))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="lists 3 delays"):
        Retry(2, schedule=(1, 2, 3))
    with pytest.raises(ConfigError, match="budget"):
        Retry(2, base=1, budget=-1)


def test_timedelta_and_equality() -> None:
    a = Retry(3, schedule=(timedelta(milliseconds=50), 0.2, 0.5), budget=timedelta(seconds=1))
    b = Retry(3, schedule=(0.05, 0.2, 0.5), budget=1.0)
    assert a == b and a.schedule == (0.05, 0.2, 0.5) and a.budget == 1.0


def test_exponential_delays_with_cap() -> None:
    assert Retry(5, base=0.1, cap=10).delays() == pytest.approx((0.1, 0.2, 0.4, 0.8, 1.6))
    assert Retry(8, base=1, cap=10).delays()[-3:] == (10.0, 10.0, 10.0)
    assert Retry(3, base=1, factor=3).delays() == (1.0, 3.0, 9.0)
    # huge retry numbers do not overflow
    assert Retry(2000, base=1, cap=5).delays()[-1] == 5.0


def test_full_jitter_stays_under_the_nominal_delay() -> None:
    values = iter([0.5, 0.25, 1.0])
    retry = Retry(3, base=1, cap=10, jitter="full", random=lambda: next(values))
    assert [retry._delay(k, 0.0) for k in (1, 2, 3)] == [0.5, 0.5, 4.0]


def test_decorrelated_jitter_grows_from_the_previous_delay_and_is_capped() -> None:
    retry = Retry(5, base=1, cap=10, jitter="decorrelated", random=lambda: 1.0)
    previous, seen = 0.0, []
    for k in range(1, 6):
        previous = retry._delay(k, previous)
        seen.append(previous)
    assert seen == [3.0, 9.0, 10.0, 10.0, 10.0]
    low = Retry(3, base=1, cap=10, jitter="decorrelated", random=lambda: 0.0)
    assert low._delay(2, 5.0) == 1.0  # never below base


# -- the drivers -------------------------------------------------------------------------


def test_retries_on_the_schedule_until_success_sync() -> None:
    clock, rec = VirtualClock(), Recorder()
    fetch = FlakyDependency(fail_times=3, then=b"asset")
    policy = Pipeline(
        "asset.fetch",
        Retry.from_table("3", "500ms, 2s, 5s", "10s"),
        clock=clock,
        observers=[rec],
    )
    assert policy.call(fetch) == b"asset"
    assert rec.values("retry.scheduled", "delay") == [0.5, 2.0, 5.0]
    assert rec.values("attempt.started", "attempt") == [1, 2, 3, 4]
    assert clock.now() == 7.5
    assert {e.target for e in rec.events} == {"asset.fetch"}


async def test_retries_on_the_schedule_until_success_async() -> None:
    clock, rec = VirtualClock(), Recorder()
    fetch = FlakyDependency(fail_times=3, then=b"asset")
    policy = Pipeline(
        "asset.fetch", Retry.from_table("3", "500ms, 2s, 5s", "10s"), clock=clock, observers=[rec]
    )
    assert await policy.acall(fetch.acall) == b"asset"
    assert rec.values("retry.scheduled", "delay") == [0.5, 2.0, 5.0]
    assert clock.now() == 7.5


def test_exhausted_reraises_the_last_error_unchanged_with_a_note() -> None:
    clock, rec = VirtualClock(), Recorder()
    errors: list[Exception] = []

    def fails() -> None:
        errors.append(ConnectionError(f"down {len(errors)}"))
        raise errors[-1]

    policy = Pipeline("kms.sign", Retry(3, schedule=(0.05, 0.2, 0.5)), clock=clock, observers=[rec])
    with pytest.raises(ConnectionError) as info:
        policy.call(fails)
    assert info.value is errors[-1] and len(errors) == 4
    assert str(info.value) == "down 3" and info.value.args == ("down 3",)
    (note,) = notes(info.value)
    assert note.startswith(RETRY_EXHAUSTED_NOTE) and "4 attempts" in note
    assert rec.count("retry.exhausted") == 1
    assert rec.first("retry.exhausted").error is errors[-1]  # type: ignore[union-attr]


def test_budget_is_never_overrun_and_is_marked() -> None:
    # Postgres write: max 3, 10ms/50ms/200ms, 300ms budget; each attempt takes 100ms.
    clock, rec = VirtualClock(), Recorder()

    def slow_failure() -> None:
        clock.advance(0.1)
        raise ConnectionError("reset")

    policy = Pipeline(
        "store.write",
        Retry.from_table("3", "10ms, 50ms, 200ms", "300ms"),
        clock=clock,
        observers=[rec],
    )
    with pytest.raises(ConnectionError) as info:
        policy.call(slow_failure)
    # Attempts start at 0, 0.11 and 0.26; the 3rd fails at 0.36 and the next retry
    # (after 200ms) would start past the 300ms budget, so it is not taken.
    starts = [e.at for e in rec.named("attempt.started")]
    assert starts == pytest.approx([0.0, 0.11, 0.26])
    assert all(start < 0.3 for start in starts)
    assert any(n.startswith(BUDGET_EXHAUSTED_NOTE) for n in notes(info.value))
    (event,) = rec.named("budget.exhausted")
    assert event.budget == pytest.approx(0.3)  # type: ignore[attr-defined]
    assert event.delay == pytest.approx(0.2)  # type: ignore[attr-defined]
    assert rec.count("retry.exhausted") == 0


def test_a_delay_that_would_reach_the_budget_is_not_taken() -> None:
    clock, rec = VirtualClock(), Recorder()
    policy = Pipeline("t", Retry(3, schedule=(0.5,), budget=1.0), clock=clock, observers=[rec])
    with pytest.raises(ConnectionError):
        policy.call(always_fails)
    # retry at 0.5, the next would start at 1.0 = the budget: not taken
    assert rec.values("retry.scheduled", "delay") == [0.5]
    assert clock.now() == 0.5


def test_s3_upload_in_virtual_time_obeys_schedule_and_budget() -> None:
    """S3 upload: max 5, exp 100ms–10s, 30s budget, against an always-failing call."""
    clock, rec = VirtualClock(), Recorder()
    policy = Pipeline(
        "objects.put", Retry.from_table("5", "exp 100ms–10s", "30s"), clock=clock, observers=[rec]
    )
    started = time.perf_counter()
    with pytest.raises(ConnectionError) as info:
        policy.call(always_fails)
    assert time.perf_counter() - started < 0.5
    delays = rec.values("retry.scheduled", "delay")
    assert delays == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6])
    assert all(0.1 <= d <= 10.0 for d in delays)
    assert rec.count("attempt.started") == 6
    assert clock.now() <= 30.0
    assert notes(info.value)[0].startswith(RETRY_EXHAUSTED_NOTE)


async def test_s3_upload_slow_variant_never_exceeds_the_budget_async() -> None:
    # 8 s latency per attempt: attempts are cut by the budget, never run past 30 s.
    clock, rec = VirtualClock(), Recorder()

    async def slow() -> None:
        await clock.asleep(8)
        raise ConnectionError("timeout from S3")

    policy = Pipeline(
        "objects.put", Retry.from_table("5", "exp 100ms–10s", "30s"), clock=clock, observers=[rec]
    )
    started = time.perf_counter()
    with pytest.raises(AttemptTimeoutError) as info:
        await policy.acall(slow)
    assert time.perf_counter() - started < 0.5
    assert clock.now() == pytest.approx(30.0)  # the 4th attempt was cut at the deadline
    assert "total deadline" in str(info.value)
    assert all(e.at < 30.0 for e in rec.named("attempt.started"))
    assert any(n.startswith(BUDGET_EXHAUSTED_NOTE) for n in notes(info.value))


def test_retry_on_types_and_predicates() -> None:
    clock = VirtualClock()
    policy = Pipeline("t", Retry(3, schedule=(0.1,), retry_on=ConnectionError), clock=clock)
    dep = FlakyDependency(fail_times=5, error=lambda: ValueError("constraint violated"))
    with pytest.raises(ValueError) as info:
        policy.call(dep)
    assert dep.calls == 1 and notes(info.value) == []  # not retryable: no note

    only_503 = Pipeline(
        "t",
        Retry(3, schedule=(0.1,), retry_if=lambda e: "503" in str(e)),
        clock=clock,
    )
    dep = FlakyDependency(fail_times=1, then="ok", error=lambda: OSError("503 unavailable"))
    assert only_503.call(dep) == "ok"
    dep = FlakyDependency(fail_times=1, then="ok", error=lambda: OSError("404 not found"))
    with pytest.raises(OSError, match="404"):
        only_503.call(dep)


def test_retry_on_results_returns_the_last_result() -> None:
    clock, rec = VirtualClock(), Recorder()
    answers = iter([503, 503, 200])
    policy = Pipeline(
        "http.get",
        Retry(3, schedule=(0.1,), retry_if_result=lambda status: status >= 500),
        clock=clock,
        observers=[rec],
    )
    assert policy.call(lambda: next(answers)) == 200
    assert rec.values("attempt.failed", "result") == [503, 503]
    always = Pipeline(
        "http.get", Retry(2, schedule=(0.1,), retry_if_result=lambda s: s >= 500), clock=clock
    )
    assert always.call(lambda: 503) == 503


class ThrottledError(Exception):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"slow down for {retry_after}s")
        self.retry_after = retry_after


def test_server_directed_delay_is_honoured() -> None:
    clock, rec = VirtualClock(), Recorder()
    calls = iter([ThrottledError(3.0), ThrottledError(0.01)])

    def dep() -> str:
        error = next(calls, None)
        if error is not None:
            raise error
        return "ok"

    policy = Pipeline("t", Retry(3, schedule=(0.1,)), clock=clock, observers=[rec])
    assert policy.call(dep) == "ok"
    assert rec.values("retry.scheduled", "delay") == [3.0, 0.1]
    assert rec.values("retry.scheduled", "server_directed") == [True, False]
    ignoring = Pipeline("t", Retry(1, schedule=(0.1,), honor_retry_after=False), clock=clock)
    before = clock.now()
    with pytest.raises(ThrottledError):
        ignoring.call(lambda: (_ for _ in ()).throw(ThrottledError(3.0)))
    assert clock.now() - before == pytest.approx(0.1)


def test_server_directed_delay_past_the_budget_gives_up_at_once() -> None:
    clock, rec = VirtualClock(), Recorder()

    def limited() -> None:
        raise RateLimitedError("api", "quota spent", retry_after=60.0)

    policy = Pipeline("api", Retry(3, schedule=(0.1,), budget=5), clock=clock, observers=[rec])
    with pytest.raises(RateLimitedError) as info:
        policy.call(limited)
    assert clock.now() == 0.0  # no hot loop, no useless sleep
    assert rec.values("budget.exhausted", "delay") == [60.0]
    assert any(n.startswith(BUDGET_EXHAUSTED_NOTE) for n in notes(info.value))


def test_base_exceptions_are_never_retried() -> None:
    clock = VirtualClock()
    calls = []

    def interrupted() -> None:
        calls.append(1)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Pipeline("t", Retry(3, schedule=(0.1,)), clock=clock).call(interrupted)
    assert calls == [1]


async def test_cancellation_is_never_retried() -> None:
    clock = VirtualClock()
    calls = []

    async def cancelled() -> None:
        calls.append(1)
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await Pipeline("t", Retry(3, schedule=(0.1,)), clock=clock).acall(cancelled)
    assert calls == [1]


def test_breaker_rejection_waits_for_half_open_within_the_budget() -> None:
    clock = VirtualClock()
    waited: list[float] = []

    def open_breaker() -> str:
        if not waited:
            waited.append(clock.now())
            raise BreakerOpenError("kms", "open", retry_after=2.0)
        return "ok"

    policy = Pipeline("kms", Retry(3, schedule=(0.05,), budget=10), clock=clock)
    assert policy.call(open_breaker) == "ok"
    assert clock.now() == 2.0


async def test_attempt_timeout_is_retried() -> None:
    clock, rec = VirtualClock(), Recorder()
    durations = iter([1.0, 0.1])

    async def sometimes_slow() -> str:
        await clock.asleep(next(durations))
        return "done"

    policy = Pipeline("t", Retry(2, schedule=(0.1,)), Timeout(0.5), clock=clock, observers=[rec])
    assert await policy.acall(sometimes_slow) == "done"
    assert rec.count("timeout.fired") == 1 and rec.count("attempt.succeeded") == 1
    assert rec.values("retry.scheduled", "delay") == [0.1]


# -- an open breaker is never waited out past the budget, nor at all without one --------


def tripping_pipeline(budget: float | None, **retry: Any) -> tuple[Pipeline, VirtualClock]:
    from mitigate import Breaker

    clock = VirtualClock()
    policy = Pipeline(
        "kms.sign",
        Retry(3, base=0.1, budget=budget, **retry),
        Breaker(2, 30, 120),
        clock=clock,
    )
    return policy, clock


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("honor", [True, False])
async def test_without_a_budget_an_open_breaker_fails_fast_with_its_error(
    mode: str, honor: bool
) -> None:
    policy, clock = tripping_pipeline(None, honor_retry_after=honor)
    dep = FlakyDependency(fail_times=99)
    with pytest.raises(BreakerOpenError) as info:
        if mode == "sync":
            policy.call(dep)
        else:
            await policy.acall(dep.acall)
    # two failures open the breaker for 120 s: no sleeping it out, no third call
    assert dep.calls == 2 and clock.now() == pytest.approx(0.1)
    assert info.value.retry_after == pytest.approx(120)
    assert isinstance(info.value.__cause__, ConnectionError)  # what tripped it
    assert any("no total budget" in note for note in notes(info.value))


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_an_open_breaker_is_not_waited_out_past_the_budget(mode: str) -> None:
    policy, clock = tripping_pipeline(10.0)
    dep = FlakyDependency(fail_times=99)
    with pytest.raises(ConnectionError) as info:
        if mode == "sync":
            policy.call(dep)
        else:
            await policy.acall(dep.acall)
    assert dep.calls == 2 and clock.now() == pytest.approx(0.1)
    assert any(note.startswith(BUDGET_EXHAUSTED_NOTE) for note in notes(info.value))


def test_an_open_breaker_is_waited_out_when_the_budget_allows() -> None:
    policy, clock = tripping_pipeline(200.0)
    dep = FlakyDependency(fail_times=2, then="signed")
    assert policy.call(dep) == "signed"  # the probe after 120 s succeeds
    assert dep.calls == 3 and clock.now() == pytest.approx(120.1)  # opened at 0.1


def test_a_forced_open_breaker_fails_fast_even_with_a_budget() -> None:
    policy, clock = tripping_pipeline(1000.0)
    policy.breaker().force_open()
    dep = FlakyDependency(fail_times=0, then="signed")
    with pytest.raises(BreakerOpenError, match="forced open"):
        policy.call(dep)
    assert dep.calls == 0 and clock.now() == 0.0  # no retries spent on a kill switch


def test_a_breaker_error_from_below_is_not_waited_out_without_a_budget() -> None:
    clock = VirtualClock()
    calls: list[float] = []

    def inner_breaker_open() -> str:
        calls.append(clock.now())
        raise BreakerOpenError("kms", "open", retry_after=120.0)

    policy = Pipeline("publish", Retry(3, schedule=(0.05,)), clock=clock)
    with pytest.raises(BreakerOpenError):
        policy.call(inner_breaker_open)
    assert calls == [0.0] and clock.now() == 0.0
