"""The pipeline: order, description, events, the fault injection point, wrapping."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from mitigate import (
    NO_RESULT,
    AttemptTimeoutError,
    Breaker,
    BreakerOpenError,
    Bulkhead,
    ConfigError,
    Fallback,
    FaultDecision,
    InjectedError,
    Injector,
    Keyed,
    Pipeline,
    RateLimit,
    Recorder,
    Retry,
    Timeout,
    VirtualClock,
)
from mitigate.testing import FlakyDependency


class Script:
    """An injector that answers from a list of decisions, then stops."""

    def __init__(self, *decisions: FaultDecision | None) -> None:
        self.decisions = list(decisions)
        self.asked: list[tuple[str, float]] = []

    def decide(self, target: str, now: float) -> FaultDecision | None:
        self.asked.append((target, now))
        return self.decisions.pop(0) if self.decisions else None


def test_order_is_fixed_whatever_the_order_given() -> None:
    parts = (
        Timeout(0.5),
        Bulkhead(4),
        Breaker(10, 30, 60),
        Keyed(RateLimit(60, per=60), key=lambda *a: "k"),
        Retry(3, schedule=(0.05, 0.2, 0.5), budget=1),
        Fallback(value=None),
    )
    policy = Pipeline("kms.sign", *parts)
    assert [type(s).__name__ for s in policy.strategies] == [
        "Fallback",
        "Retry",
        "Breaker",
        "Keyed",
        "Bulkhead",
        "Timeout",
    ]
    assert policy.describe() == (
        "fallback value None",
        "budget 1s",
        "retry max 3: 50ms, 200ms, 500ms",
        "breaker 10 fail / 30s, reset 60s",
        "rate limit 60/min (gcra, burst 1) per key",
        "bulkhead 4 + 0 queued",
        "timeout 500ms per attempt",
    )
    assert "kms.sign" in repr(policy)


def test_bad_compositions_are_refused() -> None:
    with pytest.raises(ConfigError, match="more than one Retry"):
        Pipeline("t", Retry(1, base=1), Retry(2, base=1))
    with pytest.raises(ConfigError, match="not a strategy"):
        Pipeline("t", "retry please")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="target"):
        Pipeline("")
    with pytest.raises(ConfigError, match="no breaker"):
        Pipeline("t").breaker()


def test_every_event_carries_the_target() -> None:
    clock, rec = VirtualClock(), Recorder()
    policy = Pipeline(
        "objects.put",
        Fallback(value="queued"),
        Retry(2, schedule=(0.1,), budget=10),
        Breaker(2, 30, 60),
        Timeout(1),
        clock=clock,
        observers=[rec],
    )
    policy.call(FlakyDependency(fail_times=99))
    policy.call(FlakyDependency(fail_times=99))
    assert len(rec) > 5
    assert {e.target for e in rec.events} == {"objects.put"}


def test_observers_can_be_added_later() -> None:
    policy = Pipeline("t", Retry(1, schedule=(0,)), clock=VirtualClock())
    policy.call(lambda: 1)  # unobserved
    rec = Recorder()
    policy.observers.add(rec)
    policy.call(lambda: 1)
    assert rec.names() == ["attempt.started", "attempt.succeeded"]


def test_a_failing_observer_never_breaks_the_call() -> None:
    def broken(event: Any) -> None:
        raise RuntimeError("observer bug")

    policy = Pipeline("t", Retry(1, schedule=(0,)), clock=VirtualClock(), observers=[broken])
    assert policy.call(lambda: "fine") == "fine"


@pytest.mark.parametrize("observed", [False, True])
def test_fast_and_general_paths_agree(observed: bool) -> None:
    clock = VirtualClock()
    observers = [Recorder()] if observed else []
    policy = Pipeline(
        "t",
        Retry(3, schedule=(0.1,)),
        Breaker(3, 30, 60),
        Timeout(1),
        clock=clock,
        observers=observers,
    )
    assert policy.call(FlakyDependency(fail_times=2, then="ok")) == "ok"
    assert clock.now() == pytest.approx(0.2)
    dep = FlakyDependency(fail_times=99)
    with pytest.raises(BreakerOpenError):
        policy.call(dep)  # opens on its 1st failure; no budget: not waited out
    assert policy.breaker().state == "open"
    assert dep.calls == 1 and clock.now() == pytest.approx(0.2)


# -- fault injection ------------------------------------------------------------------------


def test_injected_error_flows_through_retry_and_breaker() -> None:
    clock, rec = VirtualClock(), Recorder()
    script = Script(FaultDecision("error", error=InjectedError("kms.sign")), None)
    policy = Pipeline(
        "kms.sign", Retry(2, schedule=(0.1,)), Breaker(5, 30, 60), clock=clock, observers=[rec]
    )
    policy.attach(script)
    calls: list[int] = []
    assert policy.call(lambda: calls.append(1) or "signed") == "signed"
    assert calls == [1]  # the first attempt never reached the dependency
    assert rec.values("fault.injected", "fault") == ["error"]
    assert rec.values("retry.scheduled", "delay") == [0.1]
    assert script.asked == [("kms.sign", 0.0), ("kms.sign", 0.1)]
    policy.detach()
    assert policy.injector is None
    policy.call(lambda: "x")
    assert len(script.asked) == 2


def test_injected_latency_counts_against_the_attempt_timeout() -> None:
    clock = VirtualClock()
    policy = Pipeline(
        "t", Timeout(0.5), clock=clock, injector=Script(FaultDecision("latency", delay=2.0))
    )
    with pytest.raises(AttemptTimeoutError):
        policy.call(lambda: "slow")
    assert clock.now() == 0.5  # cut at the deadline, as an async call would be


async def test_injected_latency_is_preempted_async() -> None:
    clock = VirtualClock()
    policy = Pipeline(
        "t", Timeout(0.5), clock=clock, injector=Script(FaultDecision("latency", delay=2.0))
    )

    async def call() -> str:
        return "never"

    with pytest.raises(AttemptTimeoutError):
        await policy.acall(call)
    assert clock.now() == 0.5


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_injected_result_and_corruption(mode: str) -> None:
    calls: list[int] = []

    def dep() -> str:
        calls.append(1)
        return "payload"

    async def adep() -> str:
        return dep()

    script = Script(
        FaultDecision("answer", result="stale"),
        FaultDecision("corrupt", corrupt=str.upper),
        FaultDecision("noop", result=NO_RESULT),
    )
    policy = Pipeline("t", clock=VirtualClock(), injector=script)
    run = (lambda: policy.call(dep)) if mode == "sync" else None
    results = []
    for _ in range(3):
        results.append(run() if run is not None else await policy.acall(adep))
    assert results == ["stale", "PAYLOAD", "payload"]
    assert len(calls) == 2  # the answered call never reached the dependency


def test_injector_protocol() -> None:
    assert isinstance(Script(), Injector)


# -- wrapping -------------------------------------------------------------------------------


async def test_wrap_detects_sync_and_async() -> None:
    clock = VirtualClock()
    policy = Pipeline("t", Retry(2, schedule=(0.1,)), clock=clock)
    flaky = FlakyDependency(fail_times=1, then="sync ok")
    aflaky = FlakyDependency(fail_times=1, then="async ok")

    @policy.wrap
    def get(x: int) -> str:
        return f"{flaky()} {x}"

    @policy.wrap
    async def aget(x: int) -> str:
        return f"{await aflaky.acall()} {x}"

    assert get(1) == "sync ok 1"
    assert await aget(2) == "async ok 2"
    assert get.__name__ == "get" and asyncio.iscoroutinefunction(aget)


def test_options_are_frozen_values_that_replace_keeps_valid() -> None:
    import dataclasses

    options = [
        (Retry(3, base=1), {"honor_retry_after": False}),
        (Breaker(5, 30, 60), {"half_open_probes": 2}),
        (Timeout(1), {"total": 5}),
        (Fallback(len, value=1), {"value": 2}),
        (Bulkhead(2), {"max_queued": 3}),
        (RateLimit(5), {"burst": 2}),
        (Keyed(Breaker(), key=str), {"max_keys": 5}),
    ]
    for option, change in options:
        changed = dataclasses.replace(option, **change)
        assert (
            changed != option
            and dataclasses.replace(changed, **{k: getattr(option, k) for k in change}) == option
        )
        with pytest.raises(dataclasses.FrozenInstanceError):
            option.__setattr__(next(iter(change)), None)
    assert dataclasses.replace(Fallback(len, value=1), value=2).alternatives == (len,)
    with pytest.raises(ConfigError):
        dataclasses.replace(Retry(3, base=1), base=-1.0)  # replace validates too


# -- call and acall given the wrong kind of function ----------------------------------------
#
# A misuse of the pipeline, not a failure of the dependency: a ConfigError at the call
# (MITIGATE.CONFIG.CALL_STYLE), never retried, never counted by the breaker, never
# answered by the fallback.


def misuse_pipeline(observed: bool, timed: bool) -> Pipeline:
    strategies: list[Any] = [
        Fallback(value="fallback answer"),
        Retry(3, schedule=(0.1,)),
        Breaker(1, 30, 60),
    ]
    if timed:
        strategies.append(Timeout(1))
    return Pipeline(
        "t", *strategies, clock=VirtualClock(), observers=[Recorder()] if observed else []
    )


@pytest.mark.parametrize("observed", [False, True])
@pytest.mark.parametrize("timed", [False, True])
async def test_acall_on_a_plain_function_is_a_config_error(observed: bool, timed: bool) -> None:
    policy = misuse_pipeline(observed, timed)
    calls: list[int] = []

    def plain() -> int:
        calls.append(1)
        return 42

    with pytest.raises(ConfigError, match="plain function") as info:
        await policy.acall(plain)
    assert info.value.code == "MITIGATE.CONFIG.CALL_STYLE"
    assert calls == [1]  # it ran once (there was no telling before); it was not retried
    assert policy.breaker().state == "closed"
    assert policy.clock.now() == 0.0


@pytest.mark.parametrize("observed", [False, True])
@pytest.mark.parametrize("timed", [False, True])
def test_call_on_a_coroutine_function_is_a_config_error(observed: bool, timed: bool) -> None:
    import gc
    import warnings

    policy = misuse_pipeline(observed, timed)
    ran: list[int] = []

    async def send() -> str:
        ran.append(1)
        return "sent"

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ConfigError, match="coroutine function") as info:
            policy.call(send)
        gc.collect()
    assert info.value.code == "MITIGATE.CONFIG.CALL_STYLE"
    assert ran == []  # its body never ran
    assert not [w for w in caught if "never awaited" in str(w.message)]
    assert policy.breaker().state == "closed"


async def test_call_style_is_checked_with_an_injector_attached_too() -> None:
    policy = Pipeline("t", Retry(2, schedule=(0.1,)), clock=VirtualClock(), injector=Script())
    with pytest.raises(ConfigError, match="plain function"):
        await policy.acall(lambda: 1)

    async def coro() -> int:
        return 1

    with pytest.raises(ConfigError, match="coroutine function"):
        policy.call(coro)
    assert len(policy.injector.asked) == 2  # type: ignore[union-attr]


@pytest.mark.parametrize("observed", [False, True])
@pytest.mark.parametrize("timed", [False, True])
async def test_acall_accepts_a_function_returning_any_awaitable(
    observed: bool, timed: bool
) -> None:
    policy = misuse_pipeline(observed, timed)
    loop = asyncio.get_running_loop()
    future: asyncio.Future[str] = loop.create_future()
    loop.call_soon(future.set_result, "from a future")
    assert await policy.acall(lambda: future) == "from a future"
    task = asyncio.ensure_future(asyncio.sleep(0, "from a task"))
    assert await policy.acall(lambda: task) == "from a task"
