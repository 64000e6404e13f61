"""Each fault kind: its effect while attached, and nothing once removed.

``_through`` plays the injection point exactly as the pipeline contract states it
(sleep the delay, raise, answer without calling, or call and corrupt); the pipeline
itself is exercised in test_injector_pipeline.py.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from mitigate import ConfigError, InjectedError, VirtualClock
from mitigate.chaos import (
    ClockSkew,
    Corrupt,
    Drop,
    Failure,
    FaultInjector,
    Latency,
    Outage,
    Partition,
    corrupt_file,
    flip_bytes,
)
from mitigate.policy.injection import NO_RESULT


def _through(
    injector: FaultInjector, clock: VirtualClock, target: str, fn: Callable[[], Any]
) -> Any:
    decision = injector.decide(target, clock.now())
    if decision is None:
        return fn()
    clock.sleep(decision.delay)
    if decision.error is not None:
        raise decision.error
    if decision.result is not NO_RESULT:
        return decision.result
    value = fn()
    return decision.corrupt(value) if decision.corrupt is not None else value


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(autojump=False)


def test_failure_raises_then_removed(clock: VirtualClock) -> None:
    injector = FaultInjector(clock=clock)
    fault = injector.add(Failure("kms.sign"))
    with pytest.raises(InjectedError, match=r"MITIGATE\.CHAOS\.INJECTED"):
        _through(injector, clock, "kms.sign", lambda: "sig")
    assert _through(injector, clock, "objects.put", lambda: "put") == "put"  # other target
    injector.remove(fault)
    assert _through(injector, clock, "kms.sign", lambda: "sig") == "sig"


def test_failure_as_result_skips_the_call(clock: VirtualClock) -> None:
    calls: list[int] = []
    injector = FaultInjector(Failure("http.get", result={"status": 503}), clock=clock)
    assert _through(injector, clock, "http.get", lambda: calls.append(1)) == {"status": 503}
    assert calls == []
    injector.clear()
    _through(injector, clock, "http.get", lambda: calls.append(1))
    assert calls == [1]


def test_failure_raises_the_dependencys_own_error_type(clock: VirtualClock) -> None:
    injector = FaultInjector(Failure("db.write", error=TimeoutError), clock=clock)
    with pytest.raises(TimeoutError):
        _through(injector, clock, "db.write", lambda: None)


def test_fail_n_times_then_succeed(clock: VirtualClock) -> None:
    injector = FaultInjector(Failure("kms.sign", times=3), clock=clock)
    outcomes = []
    for _ in range(5):
        try:
            outcomes.append(_through(injector, clock, "kms.sign", lambda: "ok"))
        except InjectedError:
            outcomes.append("fail")
    assert outcomes == ["fail", "fail", "fail", "ok", "ok"]


def test_after_and_pattern_are_deterministic(clock: VirtualClock) -> None:
    injector = FaultInjector(Failure("q.put", after=1, pattern="x."), clock=clock)
    hits = [injector.decide("q.put", 0.0) is not None for _ in range(6)]
    assert hits == [False, True, False, True, False, True]


def test_predicate_decides(clock: VirtualClock) -> None:
    injector = FaultInjector(Failure("q.put", when=lambda ctx: ctx.call % 3 == 0), clock=clock)
    hits = [injector.decide("q.put", 0.0) is not None for _ in range(6)]
    assert hits == [False, False, True, False, False, True]


def test_latency_delays_then_removed(clock: VirtualClock) -> None:
    injector = FaultInjector(clock=clock, random=lambda: 1.0)
    fault = injector.add(Latency("ai.complete", delay=10.0, jitter=2.0))
    assert _through(injector, clock, "ai.complete", lambda: "text") == "text"
    assert clock.now() == 12.0
    injector.remove(fault)
    _through(injector, clock, "ai.complete", lambda: "text")
    assert clock.now() == 12.0


def test_outage_window_opens_and_closes_on_the_clock(clock: VirtualClock) -> None:
    injector = FaultInjector(Outage("kms.sign", start=5, duration=30), clock=clock)
    seen = []
    for t in (0, 4.9, 5, 20, 34.9, 35, 60):
        clock.advance(t - clock.now())
        try:
            _through(injector, clock, "kms.sign", lambda: None)
            seen.append("up")
        except ConnectionError:
            seen.append("down")
    assert seen == ["up", "up", "down", "down", "down", "up", "up"]


def test_drop_rate_is_repeatable_with_a_seeded_random(clock: VirtualClock) -> None:
    def run(seed: int) -> list[int]:
        delivered: list[int] = []
        injector = FaultInjector(
            Drop("bus.publish", rate=0.1), clock=clock, random=random.Random(seed).random
        )
        for i in range(1000):
            _through(injector, clock, "bus.publish", lambda i=i: delivered.append(i))
        return delivered

    first, again = run(7), run(7)
    assert first == again
    assert 850 < len(first) < 950  # about 10 % dropped
    injector = FaultInjector(clock=clock)
    delivered: list[int] = []
    for i in range(100):  # no fault attached: nothing dropped
        _through(injector, clock, "bus.publish", lambda i=i: delivered.append(i))
    assert len(delivered) == 100


def test_corrupt_damages_the_value_read_then_removed(clock: VirtualClock) -> None:
    injector = FaultInjector(clock=clock, random=lambda: 0.0)
    fault = injector.add(Corrupt("objects.get"))
    assert _through(injector, clock, "objects.get", lambda: b"bundle") == b"cundle"
    injector.remove(fault)
    assert _through(injector, clock, "objects.get", lambda: b"bundle") == b"bundle"


def test_corrupt_file_and_restore(tmp_path: Any) -> None:
    path = tmp_path / "object.bin"
    path.write_bytes(b"\x00" * 64)
    restore = corrupt_file(path, random=random.Random(3).random)
    assert path.read_bytes() != b"\x00" * 64
    assert sum(bin(b).count("1") for b in path.read_bytes()) == 1  # one bit flipped
    restore()
    assert path.read_bytes() == b"\x00" * 64


def test_flip_bytes_leaves_other_values_alone() -> None:
    assert flip_bytes(42) == 42
    assert flip_bytes(b"") == b""
    assert flip_bytes(bytearray(b"a"), lambda: 0.0) == bytearray(b"`")


def test_partition_between_two_parties_only(clock: VirtualClock) -> None:
    content = FaultInjector(clock=clock, party="content")
    theme = FaultInjector(clock=clock, party="theme")
    cut = Partition(a="content", b="catalog", duration=60)
    content.add(cut)
    theme.add(cut)
    with pytest.raises(ConnectionError, match="partition"):
        _through(content, clock, "catalog.register", lambda: "ok")
    assert _through(theme, clock, "catalog.register", lambda: "ok") == "ok"
    assert _through(content, clock, "kms.sign", lambda: "ok") == "ok"
    clock.advance(60)  # the window closes: the link heals
    assert _through(content, clock, "catalog.register", lambda: "ok") == "ok"


def test_partition_can_hang_before_failing(clock: VirtualClock) -> None:
    injector = FaultInjector(Partition(a="content", b="catalog", hang=30), party="content")
    decision = injector.decide("catalog.register", 0.0)
    assert decision is not None and decision.delay == 30


def test_clock_skew_moves_one_partys_wall_clock(clock: VirtualClock) -> None:
    injector = FaultInjector(clock=clock)
    worker_b = injector.clock_for(clock, "worker-b")
    worker_a = injector.clock_for(clock, "worker-a")
    skew = injector.add(ClockSkew(party="worker-b", offset=0.8, duration=10))
    assert worker_b.wall() - clock.wall() == pytest.approx(0.8)
    assert worker_a.wall() == clock.wall()
    assert worker_b.now() == clock.now()  # monotonic time is not skewed
    assert injector.decide("receipts.stamp", clock.now()) is None  # calls are untouched
    clock.advance(10)
    assert worker_b.wall() == clock.wall()  # window over
    injector.remove(skew)
    assert worker_b.wall() == clock.wall()


def test_wildcard_targets_and_combined_faults(clock: VirtualClock) -> None:
    injector = FaultInjector(
        Latency("kms.*", delay=1.0), Failure("kms.sign", error=TimeoutError), clock=clock
    )
    decision = injector.decide("kms.sign", 0.0)
    assert decision is not None
    assert decision.delay == 1.0 and isinstance(decision.error, TimeoutError)
    assert decision.fault == "latency+error"
    only_latency = injector.decide("kms.encrypt", 0.0)
    assert only_latency is not None and only_latency.error is None
    assert [i.target for i in injector.injections] == ["kms.sign", "kms.sign", "kms.encrypt"]


def test_attached_removes_on_error(clock: VirtualClock) -> None:
    injector = FaultInjector(clock=clock)
    with pytest.raises(RuntimeError), injector.attached(Failure("a.b")):
        assert injector.decide("a.b", 0.0) is not None
        raise RuntimeError("experiment broke")
    assert not injector
    assert injector.decide("a.b", 0.0) is None


@pytest.mark.parametrize(
    "make",
    [
        lambda: Failure("a", rate=-0.1),
        lambda: Failure("a", pattern="xo"),
        lambda: Failure("a", times=-1),
        lambda: Latency("a", delay=-1),
        lambda: Partition(a="x", b="x"),
        lambda: Outage("a", start=-5),
    ],
)
def test_bad_faults_fail_at_definition(make: Callable[[], object]) -> None:
    with pytest.raises(ConfigError, match=r"MITIGATE\.CONFIG\.FAULT"):
        make()
