"""Circuit breaker: trip boundaries, open/half-open/closed, switches, rates, classification."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

from mitigate import (
    Breaker,
    BreakerOpenError,
    BulkheadFullError,
    ConfigError,
    Pipeline,
    Recorder,
    VirtualClock,
)


class Dependency:
    """Counts calls; fails while ``failing``."""

    def __init__(self) -> None:
        self.calls = 0
        self.failing = True

    def __call__(self, *args: Any) -> str:
        self.calls += 1
        if self.failing:
            raise ConnectionError("down")
        return "ok"


def fail_times(policy: Pipeline, dep: Dependency, n: int, clock: VirtualClock, step: float) -> None:
    for _ in range(n):
        with pytest.raises(ConnectionError):
            policy.call(dep)
        clock.advance(step)


def make(
    trip: str = "10 fail / 30s", reset: str = "60s"
) -> tuple[Pipeline, VirtualClock, Recorder]:
    clock, rec = VirtualClock(), Recorder()
    return (
        Pipeline("kms.sign", Breaker.from_table(trip, reset), clock=clock, observers=[rec]),
        clock,
        rec,
    )


def test_nine_failures_in_the_window_keep_it_closed_the_tenth_opens_it() -> None:
    policy, clock, rec = make()
    dep = Dependency()
    fail_times(policy, dep, 9, clock, 3.0)  # 9 failures at 0, 3, ..., 24
    assert policy.breaker().state == "closed"
    with pytest.raises(ConnectionError):
        policy.call(dep)  # the 10th at 27 s: 10 failures within 30 s
    assert policy.breaker().state == "open"
    (opened,) = rec.named("breaker.opened")
    assert opened.failures == 10 and opened.target == "kms.sign"  # type: ignore[attr-defined]
    assert "10 failures in 30s" in opened.reason  # type: ignore[attr-defined]


def test_ten_failures_spread_over_more_than_the_window_stay_closed() -> None:
    policy, clock, _ = make()
    dep = Dependency()
    fail_times(policy, dep, 30, clock, 3.5)  # any 10 consecutive span 31.5 s
    assert policy.breaker().state == "closed"


def test_exactly_the_window_still_trips() -> None:
    policy, clock, _ = make("5 / 30s")
    fail_times(policy, Dependency(), 5, clock, 7.5)  # span exactly 30 s
    assert policy.breaker().state == "open"


def test_successes_in_between_do_not_reset_the_count() -> None:
    policy, clock, _ = make("5 / 30s")
    dep = Dependency()
    for _ in range(4):
        fail_times(policy, dep, 1, clock, 1.0)
        dep.failing = False
        policy.call(dep)
        dep.failing = True
    fail_times(policy, dep, 1, clock, 1.0)
    assert policy.breaker().state == "open"


def test_open_rejects_without_calling_then_one_probe_decides() -> None:
    policy, clock, rec = make()
    dep = Dependency()
    fail_times(policy, dep, 10, clock, 0.0)
    calls = dep.calls
    clock.advance(18.0)
    with pytest.raises(BreakerOpenError) as info:
        policy.call(dep)
    assert dep.calls == calls  # the key ring saw zero calls
    assert info.value.retry_after == pytest.approx(42.0)
    assert info.value.code == "MITIGATE.BREAKER.OPEN"
    assert "fail fast for 42.0s more" in str(info.value)
    assert rec.values("breaker.rejected", "retry_after") == [pytest.approx(42.0)]

    clock.advance(42.0)  # 60 s after opening
    fail_times(policy, dep, 1, clock, 0.0)  # the probe fails -> open for another 60 s
    assert policy.breaker().state == "open"
    assert dep.calls == calls + 1
    clock.advance(59.0)
    with pytest.raises(BreakerOpenError):
        policy.call(dep)
    clock.advance(1.0)
    dep.failing = False
    assert policy.call(dep) == "ok"  # the probe passes -> closed
    assert policy.breaker().state == "closed"
    assert rec.names()[-4:] == [
        "breaker.half_opened",
        "attempt.started",
        "attempt.succeeded",
        "breaker.closed",
    ]
    assert [
        e.name for e in rec.events if e.name.startswith("breaker.") and e.name != "breaker.rejected"
    ] == [
        "breaker.opened",
        "breaker.half_opened",
        "breaker.opened",
        "breaker.half_opened",
        "breaker.closed",
    ]


def test_half_open_admits_capped_probes_and_needs_successes_to_close() -> None:
    clock = VirtualClock()
    breaker = Breaker(2, 30, 10, half_open_probes=2, successes_to_close=3)
    policy = Pipeline("t", breaker, clock=clock)
    state = policy.breaker()
    brk: Any = state
    fail_times(policy, Dependency(), 2, clock, 0.0)
    clock.advance(10)
    g1 = brk.acquire(clock.now())
    g2 = brk.acquire(clock.now())
    assert state.state == "half_open"
    with pytest.raises(BreakerOpenError, match="probe"):
        brk.acquire(clock.now())  # a third concurrent probe is refused
    brk.on_success(g1, clock.now(), 0.1)
    g3 = brk.acquire(clock.now())  # a slot freed
    brk.on_success(g2, clock.now(), 0.1)
    assert state.state == "half_open"  # 2 of 3 successes
    brk.on_success(g3, clock.now(), 0.1)
    assert state.state == "closed"


def test_cancelled_probe_frees_its_slot() -> None:
    clock = VirtualClock()
    policy = Pipeline("t", Breaker(1, 30, 10), clock=clock)
    brk: Any = policy.breaker()
    fail_times(policy, Dependency(), 1, clock, 10.0)
    gen = brk.acquire(clock.now())
    brk.release(gen)
    brk.acquire(clock.now())  # the slot is free again


def test_outcomes_of_an_earlier_state_are_not_counted() -> None:
    clock = VirtualClock()
    policy = Pipeline("t", Breaker(2, 30, 10), clock=clock)
    brk: Any = policy.breaker()
    stale = brk.acquire(0.0)  # admitted while closed
    fail_times(policy, Dependency(), 2, clock, 0.0)  # opens
    clock.advance(10)
    probe = brk.acquire(clock.now())  # half-open
    brk.on_error(stale, clock.now(), 0.0, ConnectionError("late"))  # ignored
    assert policy.breaker().state == "half_open"
    brk.on_success(probe, clock.now(), 0.0)
    assert policy.breaker().state == "closed"


def test_operator_switches() -> None:
    policy, clock, rec = make("2 / 30s")
    dep = Dependency()
    dep.failing = False
    control = policy.breaker()
    control.force_open()
    with pytest.raises(BreakerOpenError, match="forced open"):
        policy.call(dep)
    assert dep.calls == 0 and control.state == "forced_open"
    clock.advance(3600)
    with pytest.raises(BreakerOpenError):
        policy.call(dep)  # a forced-open breaker never half-opens by itself
    control.force_close()
    dep.failing = True
    fail_times(policy, dep, 10, clock, 0.0)
    assert control.state == "forced_closed"  # never trips
    control.reset()
    assert control.state == "closed"
    fail_times(policy, dep, 2, clock, 0.0)
    assert control.state == "open"
    assert rec.values("breaker.state_changed", "reason")[:2] == [
        "forced open by an operator",
        "forced closed by an operator",
    ]


def test_failure_classification() -> None:
    clock = VirtualClock()
    breaker = Breaker(
        2,
        30,
        60,
        failure_on=(ConnectionError, TimeoutError),
        failure_if=lambda e: "permanent" not in str(e),
        failure_if_result=lambda r: r == "503",
    )
    policy = Pipeline("t", breaker, clock=clock)

    def raise_(error: Exception) -> Any:
        raise error

    for error in (
        ValueError("bad input"),
        ConnectionError("permanent"),
        BulkheadFullError("t", "full"),
    ):
        for _ in range(3):
            with pytest.raises(type(error)):
                policy.call(raise_, error)
    assert policy.breaker().state == "closed"  # none of these count
    assert policy.call(lambda: "503") == "503"
    assert policy.call(lambda: "503") == "503"
    assert policy.breaker().state == "open"  # a result counted as failure


def test_failure_rate_over_a_count_window() -> None:
    clock, rec = VirtualClock(), Recorder()
    breaker = Breaker(None, failure_rate=0.5, window_calls=10, minimum_calls=10)
    policy = Pipeline("t", breaker, clock=clock, observers=[rec])
    dep = Dependency()
    outcomes = [True, False] * 4 + [False]  # 9 calls: 4 failures
    for fail in outcomes:
        dep.failing = fail
        with contextlib.suppress(ConnectionError):
            policy.call(dep)
    assert policy.breaker().state == "closed"  # under minimum_calls
    dep.failing = True
    with pytest.raises(ConnectionError):
        policy.call(dep)  # 10 calls, 5 failures = 50 %
    assert policy.breaker().state == "open"
    assert "failure rate 50%" in rec.first("breaker.opened").reason  # type: ignore[union-attr]


def test_failure_rate_window_slides() -> None:
    clock = VirtualClock()
    policy = Pipeline(
        "t", Breaker(None, failure_rate=0.5, window_calls=4, minimum_calls=4), clock=clock
    )
    dep = Dependency()
    for fail in (True, False, False, False, True, False, False):
        dep.failing = fail
        with contextlib.suppress(ConnectionError):
            policy.call(dep)
    # windows of 4: [T F F F]=25%, [F F F T]=25%, [F F T F]=25%, [F T F F]=25%
    assert policy.breaker().state == "closed"


def test_failure_rate_over_a_time_window_forgets_old_calls() -> None:
    clock = VirtualClock()
    policy = Pipeline("t", Breaker(None, 10, 60, failure_rate=0.5, minimum_calls=4), clock=clock)
    dep = Dependency()
    fail_times(policy, dep, 3, clock, 1.0)  # 3 failures, below minimum_calls
    clock.advance(20)  # they leave the 10 s window
    dep.failing = False
    for _ in range(3):
        policy.call(dep)
    dep.failing = True
    fail_times(policy, dep, 1, clock, 0.0)  # 1 of 4 recent calls failed
    assert policy.breaker().state == "closed"
    fail_times(policy, dep, 1, clock, 0.0)  # 2 of 5 = 40 %
    assert policy.breaker().state == "closed"
    fail_times(policy, dep, 1, clock, 0.0)  # 3 of 6 = 50 %
    assert policy.breaker().state == "open"


def test_slow_call_rate() -> None:
    clock = VirtualClock()
    breaker = Breaker(
        None, slow_call_rate=0.5, slow_call_duration=1.0, window_calls=4, minimum_calls=4, reset=5
    )
    policy = Pipeline("t", breaker, clock=clock)

    def takes(seconds: float) -> str:
        clock.advance(seconds)
        return "ok"

    for seconds in (0.1, 2.0, 0.1):
        policy.call(takes, seconds)
    assert policy.breaker().state == "closed"
    policy.call(takes, 1.5)  # 2 of 4 slow
    assert policy.breaker().state == "open"
    clock.advance(5)
    policy.call(takes, 3.0)  # a slow probe is a failed probe
    assert policy.breaker().state == "open"


def test_options_are_validated() -> None:
    with pytest.raises(ConfigError, match="nothing trips it"):
        Breaker(None)
    with pytest.raises(ConfigError, match="slow_call_duration"):
        Breaker(5, slow_call_rate=0.5)
    with pytest.raises(ConfigError, match="fraction"):
        Breaker(5, failure_rate=1.5)
    with pytest.raises(ConfigError, match="window"):
        Breaker(5, window=0)
    with pytest.raises(ConfigError, match="failures"):
        Breaker(0)


def test_events_are_not_built_without_observers() -> None:
    clock = VirtualClock()
    policy = Pipeline("t", Breaker(1, 30, 60), clock=clock)
    fail_times(policy, Dependency(), 1, clock, 0.0)
    assert policy.breaker().state == "open"  # transitions work with nobody listening


async def test_async_calls_share_the_same_breaker() -> None:
    clock = VirtualClock()
    policy = Pipeline("t", Breaker(2, 30, 60), clock=clock)
    dep = Dependency()

    async def call() -> str:
        return dep()

    for _ in range(2):
        with pytest.raises(ConnectionError):
            await policy.acall(call)
    with pytest.raises(BreakerOpenError):
        policy.call(dep)
    with pytest.raises(BreakerOpenError):
        await policy.acall(call)
    assert dep.calls == 2
