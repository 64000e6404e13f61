"""Bulkhead: max concurrent, max queued, rejection, waiting (tasks and threads)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from mitigate import (
    AttemptTimeoutError,
    Bulkhead,
    BulkheadFullError,
    Pipeline,
    Recorder,
    Retry,
    VirtualClock,
)


async def test_rejects_beyond_its_slots_without_calling() -> None:
    clock, rec = VirtualClock(), Recorder()
    policy = Pipeline("media.check", Bulkhead(2), clock=clock, observers=[rec])
    gate = asyncio.Event()
    calls = 0

    async def work() -> str:
        nonlocal calls
        calls += 1
        await gate.wait()
        return "ok"

    first = [asyncio.create_task(policy.acall(work)) for _ in range(2)]
    await asyncio.sleep(0)
    with pytest.raises(BulkheadFullError) as info:
        await policy.acall(work)
    assert str(info.value).startswith("[MITIGATE.BULKHEAD.FULL] media.check: 2 in flight, 0 queued")
    assert calls == 2
    assert rec.values("bulkhead.full", "in_flight") == [2]
    gate.set()
    assert await asyncio.gather(*first) == ["ok", "ok"]
    assert await policy.acall(work) == "ok"  # slots came back


async def test_queued_callers_wait_their_turn() -> None:
    clock = VirtualClock()
    policy = Pipeline("t", Bulkhead(1, max_queued=2), clock=clock)
    running = 0
    peak = 0

    async def work(n: int) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await clock.asleep(1)
        running -= 1
        return n

    tasks = [asyncio.create_task(policy.acall(work, n)) for n in range(4)]
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert results[:3] == [0, 1, 2]
    assert isinstance(results[3], BulkheadFullError)  # 1 running + 2 queued
    assert peak == 1 and clock.now() == 3.0


async def test_a_queued_wait_is_bounded_by_the_budget() -> None:
    clock = VirtualClock()
    policy = Pipeline("t", Retry(0, budget=2.0), Bulkhead(1, max_queued=1), clock=clock)

    async def hold() -> None:
        await clock.asleep(10)

    holder = asyncio.create_task(policy.acall(hold))
    await asyncio.sleep(0)
    with pytest.raises(AttemptTimeoutError, match="attempt 1 cut at the total deadline"):
        await policy.acall(hold)  # waited in the queue until the budget ran out
    assert clock.now() == 2.0
    with pytest.raises(AttemptTimeoutError):
        await holder  # the holder's own budget ends at the same time


async def test_a_cancelled_waiter_passes_its_wake_up_on() -> None:
    clock = VirtualClock()
    policy = Pipeline("t", Bulkhead(1, max_queued=5), clock=clock)
    order: list[str] = []

    async def work(name: str) -> None:
        order.append(name)
        await clock.asleep(1)

    a = asyncio.create_task(policy.acall(work, "a"))
    await asyncio.sleep(0)
    b = asyncio.create_task(policy.acall(work, "b"))
    c = asyncio.create_task(policy.acall(work, "c"))
    await asyncio.sleep(0)
    b.cancel()
    await asyncio.gather(a, c, return_exceptions=True)
    assert order == ["a", "c"]
    assert b.cancelled()


def test_threads_never_exceed_the_limit() -> None:
    policy = Pipeline("t", Bulkhead(3, max_queued=100))
    lock = threading.Lock()
    running = 0
    peak = 0
    release = threading.Event()

    def work() -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        release.wait(1.0)
        with lock:
            running -= 1

    threads = [threading.Thread(target=policy.call, args=(work,)) for _ in range(20)]
    for t in threads:
        t.start()
    release.set()
    for t in threads:
        t.join(5)
    assert not any(t.is_alive() for t in threads)
    assert 1 <= peak <= 3


def test_sync_rejection_when_the_queue_is_full() -> None:
    policy = Pipeline("t", Bulkhead(1))
    inside = threading.Event()
    leave = threading.Event()

    def hold() -> None:
        inside.set()
        leave.wait(5)

    holder = threading.Thread(target=policy.call, args=(hold,))
    holder.start()
    assert inside.wait(5)
    with pytest.raises(BulkheadFullError):
        policy.call(lambda: None)
    leave.set()
    holder.join(5)
    assert policy.call(lambda: "free") == "free"
