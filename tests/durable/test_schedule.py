"""Scheduler in virtual time: fixed rate, failures are events, no overlap, skipped stalls."""

from __future__ import annotations

import pytest

import mitigate
from mitigate.clock import VirtualClock
from mitigate.durable.schedule import Scheduler
from mitigate.observe.observers import Recorder


async def test_run_due_runs_only_what_is_due() -> None:
    clock = VirtualClock()
    scheduler = Scheduler(clock=clock)
    runs: list[str] = []
    scheduler.every("scan", 10, lambda: runs.append("scan"))
    scheduler.every("cap", 30, lambda: runs.append("cap"), first_after=0)
    assert await scheduler.run_due() == ["cap"]
    assert await scheduler.run_due() == []
    clock.advance(10)
    assert await scheduler.run_due() == ["scan"]
    clock.advance(20)
    assert sorted(await scheduler.run_due()) == ["cap", "scan"]
    assert runs == ["cap", "scan", "scan", "cap"]


async def test_a_failing_job_is_an_event_and_the_loop_goes_on() -> None:
    clock = VirtualClock()
    rec = Recorder()
    scheduler = Scheduler(clock=clock, observers=[rec])
    calls: list[float] = []

    async def flaky() -> None:
        calls.append(clock.now())
        if len(calls) == 2:
            raise ConnectionError("store unreachable")

    healthy: list[float] = []
    scheduler.every("reconcile", 60, flaky)
    scheduler.every("stuck_detector", 30, lambda: healthy.append(clock.now()))
    async with scheduler.running():
        await clock.asleep(200)
    assert calls == [60.0, 120.0, 180.0]  # ran again after failing
    assert healthy == [30.0, 60.0, 90.0, 120.0, 150.0, 180.0]
    (failed,) = rec.named("schedule.failed")
    assert failed.target == "reconcile" and failed.at == 120.0
    assert isinstance(failed.error, ConnectionError)
    assert rec.count("schedule.ran", "reconcile") == 2
    status = scheduler.status()["reconcile"]
    assert (status["runs"], status["failures"], status["last_error"]) == (3, 1, None)


async def test_a_slow_job_never_overlaps_itself_and_skips_missed_runs() -> None:
    clock = VirtualClock()
    scheduler = Scheduler(clock=clock)
    starts: list[float] = []

    async def slow_scan() -> None:
        starts.append(clock.now())
        await clock.asleep(25)  # longer than two intervals

    scheduler.every("scan", 10, slow_scan)
    async with scheduler.running():
        await clock.asleep(75)
    # 10 runs until 35; due at 20 and 30 while running: skipped, next start at 40, then 70.
    assert starts == [10.0, 40.0, 70.0]


async def test_a_job_added_while_running_is_picked_up() -> None:
    clock = VirtualClock()
    scheduler = Scheduler(clock=clock)
    runs: list[float] = []
    async with scheduler.running():
        await clock.asleep(5)
        scheduler.every("late", 10, lambda: runs.append(clock.now()))
        await clock.asleep(21)
    assert runs == [15.0, 25.0]


async def test_leaving_running_cancels_a_job_in_flight() -> None:
    clock = VirtualClock()
    scheduler = Scheduler(clock=clock)
    finished: list[bool] = []

    async def long() -> None:
        await clock.asleep(1000)
        finished.append(True)

    scheduler.every("long", 1, long)
    async with scheduler.running():
        await clock.asleep(2)
    await clock.asleep(2000)
    assert finished == []


def test_bad_registration_is_refused() -> None:
    scheduler = mitigate.Scheduler(clock=VirtualClock())
    scheduler.every("a", 1, lambda: None)
    with pytest.raises(mitigate.ConfigError, match="unique"):
        scheduler.every("a", 1, lambda: None)
    with pytest.raises(mitigate.ConfigError, match="positive"):
        scheduler.every("b", 0, lambda: None)
