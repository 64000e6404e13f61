"""Faults through a real Pipeline: the policies above the injection point react to them,
and detaching the injector (or removing the fault) restores normal calls."""

from __future__ import annotations

import pytest

from mitigate import AttemptTimeoutError, InjectedError, Recorder, VirtualClock
from mitigate.chaos import Corrupt, Drop, Failure, FaultInjector, Latency, Outage, Partition
from mitigate.policy.breaker import Breaker
from mitigate.policy.fallback import Fallback
from mitigate.policy.pipeline import Pipeline
from mitigate.policy.retry import Retry
from mitigate.policy.timeout import Timeout


def _sign() -> bytes:
    return b"signature"


async def test_failure_is_retried_by_the_pipeline_then_detached(
    autojump_clock: VirtualClock, recorder: Recorder
) -> None:
    injector = FaultInjector(Failure("kms.sign", times=2), clock=autojump_clock)
    sign = Pipeline(
        "kms.sign",
        Retry(max_retries=3, schedule=(0.05, 0.2, 0.5)),
        clock=autojump_clock,
        observers=[recorder],
        injector=injector,
    )
    assert await sign.acall(_async_sign) == b"signature"
    assert recorder.values("retry.scheduled", "delay") == [0.05, 0.2]
    assert recorder.values("fault.injected", "fault") == ["error", "error"]
    injector.add(Failure("kms.sign"))
    sign.detach()
    recorder.clear()
    assert await sign.acall(_async_sign) == b"signature"
    assert recorder.count("fault.injected") == 0


async def _async_sign() -> bytes:
    return b"signature"


def test_outage_opens_the_breaker_and_fallback_answers(virtual_clock: VirtualClock) -> None:
    recorder = Recorder()
    injector = FaultInjector(Outage("kms.sign", duration=30), clock=virtual_clock)
    sign = Pipeline(
        "kms.sign",
        Fallback(value=b"queued"),
        Breaker(failures=3, window=30.0, reset=10.0),
        clock=virtual_clock,
        observers=[recorder],
        injector=injector,
    )
    answers = [sign.call(_sign) for _ in range(5)]
    assert answers == [b"queued"] * 5
    assert recorder.count("breaker.opened") == 1
    virtual_clock.advance(31)  # the outage window is over, the breaker half-opens
    assert sign.call(_sign) == b"signature"


def test_latency_makes_the_attempt_timeout_fire(virtual_clock: VirtualClock) -> None:
    injector = FaultInjector(clock=virtual_clock)
    ai = Pipeline("ai.complete", Timeout(5.0), clock=virtual_clock, injector=injector)
    fault = injector.add(Latency("ai.complete", delay=10.0))
    with pytest.raises(AttemptTimeoutError):
        ai.call(lambda: "text")
    injector.remove(fault)
    assert ai.call(lambda: "text") == "text"


def test_drop_skips_the_call(virtual_clock: VirtualClock) -> None:
    delivered: list[int] = []
    injector = FaultInjector(Drop("bus.publish", pattern="x."), clock=virtual_clock)
    publish = Pipeline("bus.publish", clock=virtual_clock, injector=injector)
    for i in range(4):
        publish.call(delivered.append, i)
    assert delivered == [1, 3]
    injector.clear()
    publish.call(delivered.append, 4)
    assert delivered == [1, 3, 4]


def test_corrupt_passes_the_result_through_damage(virtual_clock: VirtualClock) -> None:
    injector = FaultInjector(Corrupt("objects.get"), clock=virtual_clock, random=lambda: 0.0)
    get = Pipeline("objects.get", clock=virtual_clock, injector=injector)
    assert get.call(lambda: b"bundle") == b"cundle"
    injector.clear()
    assert get.call(lambda: b"bundle") == b"bundle"


def test_partition_fails_calls_across_the_cut(virtual_clock: VirtualClock) -> None:
    injector = FaultInjector(
        Partition(a="content", b="catalog", duration=60), clock=virtual_clock, party="content"
    )
    register = Pipeline("catalog.register", clock=virtual_clock, injector=injector)
    with pytest.raises(ConnectionError):
        register.call(lambda: "ok")
    virtual_clock.advance(60)
    assert register.call(lambda: "ok") == "ok"


def test_default_injected_error_carries_its_code(virtual_clock: VirtualClock) -> None:
    injector = FaultInjector(Failure("kms.sign"), clock=virtual_clock)
    sign = Pipeline("kms.sign", clock=virtual_clock, injector=injector)
    with pytest.raises(InjectedError) as caught:
        sign.call(_sign)
    assert caught.value.code == "MITIGATE.CHAOS.INJECTED"
    assert caught.value.target == "kms.sign"
