"""The 15-minute saga deadline and the 5-minute stuck-step alert, in virtual time (SQLite).

Virtual time runs in-process only (a reply in flight over a socket would be jumped past),
so these use the embedded store.
"""

from __future__ import annotations

from pathlib import Path

from mitigate.clock import VirtualClock
from mitigate.durable.saga import Saga, Step, StepContext
from mitigate.durable.saga_admin import compensate_saga, get_saga
from mitigate.durable.saga_worker import SagaWorker
from mitigate.durable.sqlite import SqliteStore
from mitigate.observe.events import SagaDeadlineExceeded, SagaStuck
from mitigate.observe.observers import Recorder


def _publish(clock: VirtualClock, waits: float, undone: list[tuple[str, float]]) -> Saga:
    async def await_built(ctx: StepContext) -> str:
        await clock.asleep(waits)  # waiting for the catalog's `.built` event
        return "built"

    def undo(name: str):  # type: ignore[no-untyped-def]
        def run(ctx: StepContext) -> None:
            undone.append((name, clock.now()))

        return run

    return Saga(
        "content.publish",
        [
            Step("package", lambda ctx: "pkg-1", undo("package")),
            Step("building", await_built, undo("building")),
            Step("publish", lambda ctx: "live", undo("publish")),
        ],
        deadline=15 * 60,
        stuck_after=5 * 60,
        runbook="runbooks/content/build-failures.md",
    )


async def test_stuck_alert_after_5_minutes_then_deadline_compensates_at_15(tmp_path: Path) -> None:
    clock = VirtualClock()
    store = await SqliteStore.open(tmp_path / "s.db", clock=clock)
    rec = Recorder()
    undone: list[tuple[str, float]] = []
    saga = _publish(clock, waits=16 * 60, undone=undone)  # the event never comes in time
    async with SagaWorker(store, [saga], observers=[rec], stuck_check=10.0) as worker:
        out = await worker.execute(saga, {"draft": "d1"}, id="p1")

    stuck = rec.of(SagaStuck)
    assert len(stuck) == 1, "one alert per step, not one per scan"
    assert stuck[0].step == "building" and stuck[0].saga_id == "p1"
    assert 300.0 <= stuck[0].at <= 310.0  # after 5 min, not before (scan every 10 s)
    assert stuck[0].value >= stuck[0].threshold == 300.0
    assert stuck[0].runbook == "runbooks/content/build-failures.md"

    deadline = rec.of(SagaDeadlineExceeded)
    assert len(deadline) == 1 and deadline[0].at == 900.0 and deadline[0].step == "building"
    # The interrupted step is compensated too (its outcome is unknown), then the earlier one.
    assert undone == [("building", 900.0), ("package", 900.0)]
    assert out.state == "compensated"
    assert out.error == "deadline of 900s passed in step building"
    row = await get_saga(store, "p1")
    assert row is not None and row.state == "compensated"
    assert row.steps[1] == {"interrupted": True, "epoch": 1, "undone_at": row.steps[1]["undone_at"]}  # type: ignore[index]
    assert clock.now() == 900.0
    await store.aclose()


async def test_a_slow_step_that_finishes_in_time_completes_after_its_stuck_alert(
    tmp_path: Path,
) -> None:
    clock = VirtualClock()
    store = await SqliteStore.open(tmp_path / "s.db", clock=clock)
    rec = Recorder()
    undone: list[tuple[str, float]] = []
    saga = _publish(clock, waits=6 * 60, undone=undone)  # 6 minutes: alert, then done
    async with SagaWorker(store, [saga], observers=[rec], stuck_check=10.0) as worker:
        out = await worker.execute(saga, {"draft": "d1"})
    assert out.state == "completed" and undone == []
    assert [e.step for e in rec.of(SagaStuck)] == ["building"]
    assert rec.of(SagaDeadlineExceeded) == []
    await store.aclose()


async def test_no_stuck_alert_before_the_threshold(tmp_path: Path) -> None:
    clock = VirtualClock()
    store = await SqliteStore.open(tmp_path / "s.db", clock=clock)
    rec = Recorder()
    saga = _publish(clock, waits=4 * 60 + 59, undone=[])
    async with SagaWorker(store, [saga], observers=[rec], stuck_check=1.0) as worker:
        out = await worker.execute(saga, None)
    assert out.state == "completed" and rec.of(SagaStuck) == []
    await store.aclose()


async def test_a_deadline_that_passed_while_no_worker_held_the_saga(tmp_path: Path) -> None:
    clock = VirtualClock()
    store = await SqliteStore.open(tmp_path / "s.db", clock=clock)
    rec = Recorder()
    undone: list[tuple[str, float]] = []
    saga = _publish(clock, waits=1.0, undone=undone)
    producer = SagaWorker(store, [saga])
    await producer.start(saga, None, id="late")
    clock.advance(20 * 60)  # every worker was down for 20 minutes
    async with SagaWorker(store, [saga], observers=[rec]) as worker:
        await worker.run(until_idle=True)
    row = await get_saga(store, "late")
    assert row is not None and row.state == "compensated"
    # Step 0 never ran, but its outcome is unknown to the store: its undo runs (idempotent).
    assert undone == [("package", 1200.0)]
    assert len(rec.of(SagaDeadlineExceeded)) == 1
    await producer.aclose()
    await store.aclose()


async def test_operator_compensation_of_a_running_saga(tmp_path: Path) -> None:
    clock = VirtualClock()
    store = await SqliteStore.open(tmp_path / "s.db", clock=clock)
    undone: list[tuple[str, float]] = []
    saga = _publish(clock, waits=60.0, undone=undone)
    producer = SagaWorker(store, [saga])
    await producer.start(saga, None, id="op")
    record = await compensate_saga(store, "op")
    assert record.state == "compensating" and record.epoch == 1
    assert record.error == "compensation requested by operator"
    async with SagaWorker(store, [saga]) as worker:
        await worker.run(until_idle=True)
    row = await get_saga(store, "op")
    assert row is not None and row.state == "compensated"
    assert [u[0] for u in undone] == ["package"]
    await producer.aclose()
    await store.aclose()
