"""Breaker + bulkhead under concurrency: 1,000 asyncio tasks, and threads.

Invariants: no call reaches the dependency while the breaker is open; half-open never
lets more probes run than configured; the bulkhead never exceeds its limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time

import pytest

from mitigate import (
    Breaker,
    BreakerOpenError,
    Bulkhead,
    BulkheadFullError,
    Pipeline,
    Recorder,
    VirtualClock,
)
from mitigate.clock import RealClock

PROBES = 3
LIMIT = 40


async def test_a_thousand_tasks_through_breaker_and_bulkhead() -> None:
    clock, rec = VirtualClock(), Recorder()
    policy = Pipeline(
        "media.check",
        Breaker(20, 10.0, 5.0, half_open_probes=PROBES, successes_to_close=PROBES),
        Bulkhead(LIMIT),  # no queue: admission and the call start happen with no await between
        clock=clock,
        observers=[rec],
    )
    breaker = policy.breaker()
    rng = random.Random(7)
    in_flight = probes = peak = peak_probes = entered = 0
    violations: list[str] = []

    def outage(now: float) -> bool:
        return 20.0 <= now < 45.0 or 70.0 <= now < 80.0

    async def dependency() -> str:
        nonlocal in_flight, probes, peak, peak_probes, entered
        entered += 1
        state = breaker.state
        if state in ("open", "forced_open"):
            violations.append(f"call entered an open breaker at {clock.now()}")
        probe = state == "half_open"
        in_flight += 1
        probes += probe
        peak = max(peak, in_flight)
        peak_probes = max(peak_probes, probes)
        try:
            await clock.asleep(rng.uniform(0.05, 2.0))
            if outage(clock.now()):
                raise ConnectionError("media service down")
            return "ok"
        finally:
            in_flight -= 1
            probes -= probe

    async def caller(n: int) -> str:
        await clock.asleep(rng.uniform(0, 100))
        results = []
        for _ in range(3):
            try:
                results.append(await policy.acall(dependency))
            except (ConnectionError, BreakerOpenError, BulkheadFullError) as exc:
                results.append(type(exc).__name__)
            await clock.asleep(rng.uniform(0, 3))
        return ",".join(results)

    started = time.perf_counter()
    outcomes = await asyncio.gather(*(caller(n) for n in range(1000)))
    assert time.perf_counter() - started < 20
    assert len(outcomes) == 1000
    assert violations == []
    assert peak <= LIMIT and peak_probes <= PROBES
    # the run exercised every path, so the invariants above were really tested
    names = rec.names()
    for name in ("breaker.opened", "breaker.half_opened", "breaker.closed", "breaker.rejected"):
        assert name in names, name
    assert "bulkhead.full" in names and peak == LIMIT
    assert entered == rec.count("attempt.started")


async def test_queued_tasks_never_exceed_the_bulkhead() -> None:
    clock = VirtualClock()
    policy = Pipeline("t", Breaker(1000, 10, 5), Bulkhead(25, max_queued=1000), clock=clock)
    running = peak = 0

    async def dependency() -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await clock.asleep(1)
        running -= 1

    await asyncio.gather(*(policy.acall(dependency) for _ in range(1000)))
    assert peak == 25
    assert clock.now() == pytest.approx(40.0)  # 1000 calls, 25 at a time, 1 s each


def test_threads_through_breaker_and_bulkhead() -> None:
    threads_n = 24
    policy = Pipeline(
        "t",
        Breaker(5, 30.0, 0.05, half_open_probes=2, successes_to_close=10_000),
        Bulkhead(8, max_queued=threads_n),
        clock=RealClock(),
    )
    breaker = policy.breaker()
    lock = threading.Lock()
    state = {"running": 0, "peak": 0, "entered_open": 0, "entered": 0}
    mode = {"fail": True}
    barrier = threading.Barrier(threads_n)

    def dependency() -> str:
        with lock:
            state["entered"] += 1
            state["running"] += 1
            state["peak"] = max(state["peak"], state["running"])
            if breaker.state in ("open", "forced_open"):
                state["entered_open"] += 1
        try:
            RealClock().sleep(0.005)
            if mode["fail"]:
                raise ConnectionError("down")
            return "ok"
        finally:
            with lock:
                state["running"] -= 1

    phases: dict[str, int] = {"forced": 0}

    def worker() -> None:
        # phase 1: failures open the breaker
        for _ in range(5):
            with contextlib.suppress(ConnectionError, BreakerOpenError, BulkheadFullError):
                policy.call(dependency)
        barrier.wait()
        # phase 2: forced open; every admission after the barrier must be refused
        if barrier.wait() == 0:
            breaker.force_open()
        barrier.wait()
        before = state["entered"]
        for _ in range(5):
            with pytest.raises(BreakerOpenError):
                policy.call(dependency)
        with lock:
            phases["forced"] += state["entered"] - before
        barrier.wait()
        # phase 3: half-open with a slow healthy dependency: at most 2 probes at once
        if barrier.wait() == 0:
            breaker.reset()
            for _ in range(5):  # trip it again, then let the reset pass
                with contextlib.suppress(ConnectionError):
                    policy.call(dependency)
            phases["reopened"] = breaker.state == "open"
            mode["fail"] = False
            RealClock().sleep(0.06)
            with lock:
                state["peak"] = 0
        barrier.wait()
        for _ in range(5):
            with contextlib.suppress(BreakerOpenError):
                policy.call(dependency)

    workers = [threading.Thread(target=worker) for _ in range(threads_n)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(30)
    assert not any(w.is_alive() for w in workers)
    assert phases["forced"] == 0  # nothing passed the forced-open breaker
    assert phases["reopened"]
    assert 1 <= state["peak"] <= 2  # half-open: never more probes than configured
    assert breaker.state == "half_open"  # 10,000 successes needed: still probing
    # a call that read "closed" an instant before another thread opened the breaker
    # may still start: at most one per thread
    assert state["entered_open"] <= threads_n
