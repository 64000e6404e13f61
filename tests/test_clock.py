"""The clocks: RealClock reads the machine; VirtualClock moves only when told or when idle."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from mitigate.clock import Clock, RealClock, VirtualClock, default_clock


def test_real_clock() -> None:
    clock = RealClock()
    assert isinstance(clock, Clock)
    a = clock.now()
    clock.sleep(0.01)
    clock.sleep(-1)  # a negative sleep returns at once
    assert clock.now() - a >= 0.009
    assert abs(clock.wall() - time.time()) < 1.0
    assert default_clock() is default_clock()
    assert repr(clock) == "RealClock()"


async def test_real_clock_async_sleep() -> None:
    clock = RealClock()
    a = clock.now()
    await clock.asleep(0.01)
    await clock.asleep(-5)
    assert clock.now() - a >= 0.009


def test_virtual_clock_moves_only_when_told() -> None:
    clock = VirtualClock(start=5.0, wall_start=1000.0)
    assert isinstance(clock, Clock)
    assert (clock.now(), clock.wall()) == (5.0, 1000.0)
    clock.advance(2.5)
    assert (clock.now(), clock.wall()) == (7.5, 1002.5)
    clock.sleep(1)
    clock.sleep(0)
    clock.sleep(-3)
    assert clock.now() == 8.5
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-0.1)


def test_set_wall_models_a_clock_step_without_moving_monotonic_time() -> None:
    clock = VirtualClock()
    clock.set_wall(42.0)
    assert (clock.wall(), clock.now()) == (42.0, 0.0)
    clock.advance(1)
    assert clock.wall() == 43.0


async def test_autojump_moves_to_the_earliest_deadline() -> None:
    clock = VirtualClock()
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.asleep(seconds)
        woke.append((name, clock.now()))

    started = time.perf_counter()
    await asyncio.gather(sleeper("long", 450), sleeper("short", 5), sleeper("mid", 30))
    assert woke == [("short", 5.0), ("mid", 30.0), ("long", 450.0)]
    assert time.perf_counter() - started < 1.0


async def test_autojump_waits_while_other_work_is_ready() -> None:
    clock = VirtualClock()
    steps = 0

    async def busy() -> None:
        nonlocal steps
        for _ in range(50):
            steps += 1
            await asyncio.sleep(0)

    async def sleeper() -> float:
        await clock.asleep(10)
        return clock.now()

    task = asyncio.create_task(busy())
    assert await sleeper() == 10.0
    await task
    assert steps == 50


async def test_without_autojump_time_waits_for_advance() -> None:
    clock = VirtualClock(autojump=False)
    task = asyncio.create_task(clock.asleep(10))
    await asyncio.sleep(0.01)  # real time passes; virtual time does not
    assert not task.done() and clock.next_deadline() == 10.0
    await clock.aadvance(9.9)
    assert not task.done()
    await clock.aadvance(0.1)
    assert task.done() and clock.now() == 10.0
    assert clock.next_deadline() is None


async def test_aadvance_lets_woken_tasks_schedule_inside_the_interval() -> None:
    clock = VirtualClock(autojump=False)
    ticks: list[float] = []

    async def ticker() -> None:
        while True:
            await clock.asleep(10)
            ticks.append(clock.now())

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    await clock.aadvance(35)
    assert ticks == [10.0, 20.0, 30.0]
    assert clock.now() == 35.0
    task.cancel()


async def test_cancelled_sleepers_are_dropped() -> None:
    clock = VirtualClock(autojump=False)
    task = asyncio.create_task(clock.asleep(5))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert clock.next_deadline() is None
    await clock.aadvance(10)  # nothing to wake; no error
    assert clock.now() == 10.0


async def test_zero_sleep_yields() -> None:
    clock = VirtualClock()
    order: list[str] = []

    async def other() -> None:
        order.append("other")

    task = asyncio.create_task(other())
    await clock.asleep(0)
    order.append("me")
    await task
    assert order == ["other", "me"]
    assert clock.now() == 0.0


def test_advance_from_another_thread_wakes_a_loop() -> None:
    clock = VirtualClock(autojump=False)
    result: list[float] = []

    async def main() -> None:
        waiting = asyncio.create_task(clock.asleep(3))
        await asyncio.sleep(0)
        threading.Thread(target=clock.advance, args=(3,)).start()
        await asyncio.wait_for(waiting, timeout=5)
        result.append(clock.now())

    asyncio.run(main())
    assert result == [3.0]


def test_one_clock_serves_several_event_loops() -> None:
    clock = VirtualClock()

    async def nap() -> float:
        await clock.asleep(2)
        return clock.now()

    assert asyncio.run(nap()) == 2.0
    assert asyncio.run(nap()) == 4.0


def test_repr() -> None:
    assert repr(VirtualClock(1.0)) == "VirtualClock(now=1.0, sleepers=0)"
