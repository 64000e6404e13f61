"""Sagas never stick silently: handles, definition drift, driver errors, concurrent ids,
transactional steps, bad rows in a group commit, lease clocks. Both databases."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from mitigate.clock import RealClock
from mitigate.durable._group_commit import GroupCommit
from mitigate.durable._saga_sql import sql_for
from mitigate.durable.outbox import Outbox
from mitigate.durable.saga import Saga, Step, StepContext
from mitigate.durable.saga_admin import get_saga, retry_saga
from mitigate.durable.saga_worker import SagaWorker, SagaWorkerOptions
from mitigate.durable.store import Store
from mitigate.errors import ConfigError, StoreError
from mitigate.observe.events import SagaParked, SagaWorkerFailed
from mitigate.observe.observers import Recorder
from tests.durable.conftest import StoreFactory


def _steps(names: str, calls: list[str]) -> list[Step]:
    def action(name: str) -> Callable[[StepContext], str]:
        def run(ctx: StepContext) -> str:
            calls.append(name)
            return f"{name}-done"

        return run

    return [Step(n, action(n), lambda ctx: None) for n in names]


async def _until(check: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


# -- a handle to await a started saga ------------------------------------------------------


async def test_start_returns_a_handle_whose_result_is_the_outcome(store: Store) -> None:
    calls: list[str] = []
    saga = Saga("t.handle", _steps("abc", calls))
    async with SagaWorker(store, [saga], poll=0.01) as worker:
        handle = await worker.start(saga, {"n": 1}, id="h1")
        assert handle == "h1" and handle.id == "h1"  # still usable as the id string
        stop = asyncio.Event()
        loop = asyncio.create_task(worker.run(stop=stop))
        outcome = await asyncio.wait_for(handle.result(), 10)
        stop.set()
        await loop
    assert outcome.state == "completed"
    assert outcome.results == {"a": "a-done", "b": "b-done", "c": "c-done"}
    assert calls == ["a", "b", "c"]


async def test_a_handle_from_another_worker_sees_the_outcome_through_the_store(
    store_factory: StoreFactory,
) -> None:
    calls: list[str] = []
    saga = Saga("t.handle", _steps("ab", calls))
    producer = SagaWorker(await store_factory(), [saga], poll=0.01)
    handle = await producer.start(saga, None)
    async with SagaWorker(await store_factory(), [saga], poll=0.01) as runner:
        await runner.run(until_idle=True)
    outcome = await asyncio.wait_for(handle.result(), 10)
    assert outcome.state == "completed" and outcome.results == {"a": "a-done", "b": "b-done"}
    await producer.aclose()


# -- a definition that changed under a running saga ----------------------------------------


@pytest.mark.parametrize("now", ["abcd", "ab"], ids=["step-added", "step-removed"])
async def test_a_saga_whose_definition_changed_is_parked_not_crashed(
    store: Store, now: str
) -> None:
    calls: list[str] = []
    old = SagaWorker(store, [Saga("t.drift", _steps("abc", calls))])
    await old.start("t.drift", None, id="drifted")
    await old.aclose()
    rec = Recorder()
    async with SagaWorker(store, [Saga("t.drift", _steps(now, calls))], observers=[rec]) as new:
        await new.run(until_idle=True)
        outcome = await asyncio.wait_for(new.handle("drifted").result(), 10)
    assert calls == []  # nothing ran against a definition that does not fit the row
    assert outcome.state == "parked"
    assert outcome.error is not None and "MITIGATE.SAGA.DEFINITION_CHANGED" in outcome.error
    (event,) = rec.of(SagaParked)
    assert event.saga_id == "drifted" and event.code == "MITIGATE.SAGA.DEFINITION_CHANGED"
    row = await get_saga(store, "drifted")
    assert row is not None and row.state == "parked" and row.lease_owner is None

    # Deploy the definition the row was started with, retry: it runs to the end.
    await retry_saga(store, "drifted")
    async with SagaWorker(store, [Saga("t.drift", _steps("abc", calls))]) as fixed:
        await fixed.run(until_idle=True)
    row = await get_saga(store, "drifted")
    assert row is not None and row.state == "completed" and calls == ["a", "b", "c"]


# -- unexpected errors in the driver and the claim loop ------------------------------------


async def test_an_unexpected_error_in_the_driver_parks_the_saga_with_an_event(
    store: Store,
) -> None:
    def bad_key(ctx: StepContext) -> str:
        if ctx.compensating:  # outside any step's own error handling
            raise ZeroDivisionError("key function is broken")
        return f"{ctx.saga_id}:a"

    def fail(ctx: StepContext) -> None:
        raise RuntimeError("b is broken")

    saga = Saga(
        "t.internal", [Step("a", lambda ctx: 1, lambda ctx: None, key=bad_key), Step("b", fail)]
    )
    rec = Recorder()
    async with SagaWorker(store, [saga], observers=[rec]) as worker:
        outcome = await worker.execute(saga, None, id="boom")
    assert outcome.state == "parked"
    assert outcome.error is not None and "MITIGATE.SAGA.INTERNAL" in outcome.error
    assert "ZeroDivisionError" in outcome.error
    (event,) = rec.of(SagaParked)
    assert event.code == "MITIGATE.SAGA.INTERNAL" and event.step == "a"
    row = await get_saga(store, "boom")
    assert row is not None and row.state == "parked"


async def test_a_corrupt_row_in_the_claim_loop_is_parked_and_the_loop_goes_on(
    store: Store,
) -> None:
    calls: list[str] = []
    saga = Saga("t.corrupt", _steps("abc", calls))
    producer = SagaWorker(store, [saga])
    await producer.start(saga, None, id="corrupt")
    await producer.start(saga, None, id="healthy")
    await producer.aclose()
    await store.execute(
        "UPDATE mitigate_sagas SET steps = ?, step = 1 WHERE id = ?", ("[1, 2, 3]", "corrupt")
    )
    rec = Recorder()
    async with SagaWorker(store, [saga], observers=[rec]) as worker:
        await asyncio.wait_for(worker.run(until_idle=True), 10)
    corrupt = await get_saga(store, "corrupt")
    healthy = await get_saga(store, "healthy")
    assert corrupt is not None and corrupt.state == "parked"
    assert healthy is not None and healthy.state == "completed"
    assert [e.saga_id for e in rec.of(SagaParked)] == ["corrupt"]


async def test_claim_heartbeat_and_stuck_scan_failures_are_events(store: Store) -> None:
    gate = asyncio.Event()
    entered = asyncio.Event()

    async def wait(ctx: StepContext) -> str:
        entered.set()
        await gate.wait()
        return "ok"

    saga = Saga("t.blind", [Step("wait", wait)], stuck_after=60)
    rec = Recorder()
    worker = SagaWorker(store, [saga], observers=[rec], lease=0.3, poll=0.02, stuck_check=0.05)
    async with worker:
        running = asyncio.create_task(worker.execute(saga, None, id="blind"))
        await entered.wait()
        stop = asyncio.Event()
        loop = asyncio.create_task(worker.run(stop=stop))
        await store.execute("ALTER TABLE mitigate_sagas RENAME TO mitigate_sagas_away")
        try:
            await _until(
                lambda: (
                    {"heartbeat", "stuck_scan", "claim"}
                    <= {e.where for e in rec.of(SagaWorkerFailed)}
                )
            )
        finally:
            await store.execute("ALTER TABLE mitigate_sagas_away RENAME TO mitigate_sagas")
        gate.set()
        outcome = await running
        stop.set()
        await loop
    assert outcome.state == "completed"
    failed = rec.of(SagaWorkerFailed)
    assert all(e.error is not None and e.reason for e in failed)


# -- the same id twice at once --------------------------------------------------------------


async def test_two_concurrent_executes_with_one_id_return_the_same_outcome(
    store_factory: StoreFactory,
) -> None:
    calls: list[str] = []

    async def slow(ctx: StepContext) -> str:
        calls.append("slow")
        await asyncio.sleep(0.05)
        return "made"

    saga = Saga("t.twice", [Step("slow", slow), *_steps("z", calls)])
    here = SagaWorker(await store_factory(), [saga], poll=0.01)
    there = SagaWorker(await store_factory(), [saga], poll=0.01)
    async with here, there:
        same_worker = await asyncio.gather(
            here.execute(saga, None, id="one"), here.execute(saga, None, id="one")
        )
        two_workers = await asyncio.gather(
            here.execute(saga, None, id="two"), there.execute(saga, None, id="two")
        )
    for first, second in (same_worker, two_workers):
        assert first == second
        assert first.state == "completed" and first.results == {"slow": "made", "z": "z-done"}
    assert calls.count("slow") == 2  # once per id


# -- a transactional step -------------------------------------------------------------------


async def _effects_table(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.execute("CREATE TABLE effects (id TEXT PRIMARY KEY, v TEXT)")


def _tx_saga(outbox: Outbox, result: Any = "stored", fail: bool = False) -> tuple[Saga, list[str]]:
    undone: list[str] = []

    async def write(ctx: StepContext) -> Any:
        assert ctx.tx is not None
        await ctx.tx.execute("INSERT INTO effects VALUES (?, ?)", (ctx.saga_id, "x"))
        await outbox.enqueue(ctx.tx, "t.written", {"id": ctx.saga_id}, msg_id=ctx.saga_id)
        if fail:
            raise RuntimeError("failed after writing")
        return result

    saga = Saga(
        "t.tx",
        [
            Step("first", lambda ctx: "1", lambda ctx: undone.append("first")),
            Step("write", write, lambda ctx: undone.append("write"), transactional=True),
        ],
    )
    return saga, undone


async def _effects(store: Store) -> tuple[list[Any], list[Any]]:
    effects = await store.fetch("SELECT id FROM effects")
    messages = await store.fetch("SELECT msg_id FROM mitigate_outbox")
    return [r[0] for r in effects], [r[0] for r in messages]


async def test_a_transactional_step_commits_effect_checkpoint_and_outbox_together(
    store: Store,
) -> None:
    await _effects_table(store)
    saga, undone = _tx_saga(Outbox(store))
    async with SagaWorker(store, [saga]) as worker:
        outcome = await worker.execute(saga, None, id="tx-ok")
    assert outcome.state == "completed" and outcome.results["write"] == "stored"
    assert await _effects(store) == (["tx-ok"], ["tx-ok"])
    row = await get_saga(store, "tx-ok")
    assert row is not None and row.steps[1] is not None and row.steps[1]["result"] == "stored"
    assert undone == []


@pytest.mark.parametrize("case", ["step-fails", "result-unstorable"])
async def test_a_transactional_step_that_fails_leaves_no_effect_and_no_outbox_row(
    store: Store, case: str
) -> None:
    await _effects_table(store)
    if case == "step-fails":
        saga, undone = _tx_saga(Outbox(store), fail=True)
    else:
        saga, undone = _tx_saga(Outbox(store), result="nul \u0000 inside")
    async with SagaWorker(store, [saga]) as worker:
        outcome = await worker.execute(saga, None, id="tx-bad")
    assert outcome.state == "compensated"
    assert await _effects(store) == ([], [])  # rolled back with the step
    assert undone == ["first"]  # nothing of the step itself was left to undo
    row = await get_saga(store, "tx-bad")
    assert row is not None and row.steps[1] is None


# -- one bad row in a group commit ----------------------------------------------------------


async def test_one_bad_row_in_a_group_commit_fails_only_its_own_write(store: Store) -> None:
    sql = sql_for(store)
    batch = GroupCommit(store, sql)
    saga = Saga("t.batch", [Step("a", lambda ctx: 1)])
    worker = SagaWorker(store, [saga])
    for i in range(10):
        await worker.start(saga, None, id=f"b{i}")
    now = time.time()

    def update(i: int) -> tuple[Any, ...]:
        state = None if i == 3 else "running"  # NOT NULL: the database refuses this row
        return (state, 0, "[null]", None, now, now, None, None, now, f"b{i}", 0)

    results = await asyncio.gather(
        *(batch.update(update(i)) for i in range(10)), return_exceptions=True
    )
    assert [isinstance(r, StoreError) for r in results] == [i == 3 for i in range(10)]
    assert [r for i, r in enumerate(results) if i != 3] == [True] * 9
    await worker.aclose()


async def test_a_nul_character_in_one_result_fails_only_that_saga(store: Store) -> None:
    undone: list[str] = []

    def result(ctx: StepContext) -> str:
        return "bad \u0000 text" if ctx.input == 4 else f"ok {ctx.input}"

    saga = Saga(
        "t.nul",
        [
            Step("a", lambda ctx: ctx.input, lambda ctx: undone.append(f"a{ctx.input}")),
            Step("b", result, lambda ctx: undone.append(f"b{ctx.input}")),
        ],
    )
    async with SagaWorker(store, [saga]) as worker:
        outcomes = await asyncio.gather(*(worker.execute(saga, i, id=f"n{i}") for i in range(10)))
    states = [o.state for o in outcomes]
    assert states == ["compensated" if i == 4 else "completed" for i in range(10)]
    error = outcomes[4].error
    assert error is not None and "MITIGATE.STORE.NOT_JSON" in error
    assert sorted(undone) == ["a4", "b4"]
    for i in range(10):
        row = await get_saga(store, f"n{i}")
        assert row is not None and row.state == states[i] and row.lease_owner is None


async def test_an_input_the_store_cannot_hold_is_refused_at_start(store: Store) -> None:
    saga = Saga("t.nul", [Step("a", lambda ctx: 1)])
    async with SagaWorker(store, [saga]) as worker:
        for bad in ("\u0000", {"k\u0000": 1}):
            with pytest.raises(StoreError) as info:
                await worker.start(saga, bad, id="refused")
            assert info.value.code == "MITIGATE.STORE.NOT_JSON"
    assert await get_saga(store, "refused") is None


# -- leases on the store's clock ------------------------------------------------------------


class _HourAhead(RealClock):
    """A worker host whose clock runs an hour fast."""

    def wall(self) -> float:
        return time.time() + 3600


async def test_a_worker_with_a_fast_host_clock_does_not_steal_live_leases(
    store_factory: StoreFactory,
) -> None:
    gate = asyncio.Event()
    entered = asyncio.Event()
    runs: list[int] = []

    async def hold(ctx: StepContext) -> str:
        runs.append(ctx.epoch)
        entered.set()
        await gate.wait()
        return "held"

    saga = Saga("t.skew", [Step("hold", hold)])
    rec = Recorder()
    owner = SagaWorker(await store_factory(), [saga], lease=30)
    skewed = SagaWorker(
        await store_factory(), [saga], clock=_HourAhead(), observers=[rec], poll=0.02
    )
    async with owner, skewed:
        running = asyncio.create_task(owner.execute(saga, None, id="skew"))
        await entered.wait()
        stop = asyncio.Event()
        claiming = asyncio.create_task(skewed.run(stop=stop))
        await asyncio.sleep(0.3)
        stop.set()
        await claiming
        gate.set()
        outcome = await running
    assert runs == [1] and rec.count("saga.resumed") == 0
    assert outcome.state == "completed"


async def test_a_database_error_at_start_is_a_store_error(store: Store) -> None:
    saga = Saga("t.start", [Step("a", lambda ctx: 1)])
    await store.execute("ALTER TABLE mitigate_sagas RENAME TO mitigate_sagas_away")
    try:
        async with SagaWorker(store, [saga]) as worker:
            with pytest.raises(StoreError) as info:
                await worker.start(saga, None, id="nowhere")
    finally:
        await store.execute("ALTER TABLE mitigate_sagas_away RENAME TO mitigate_sagas")
    assert info.value.code.startswith("MITIGATE.STORE.")
    assert info.value.__cause__ is not None  # the driver's own error, for the details


# -- options -----------------------------------------------------------------------------


async def test_worker_options_object_and_keywords(store: Store) -> None:
    saga = Saga("t.opts", [Step("a", lambda ctx: 1)])
    options = SagaWorkerOptions(lease=5.0, concurrency=4, poll=0.5)
    worker = SagaWorker(store, [saga], options=options)
    assert (worker.lease, worker.concurrency, worker.poll) == (5.0, 4, 0.5)
    legacy = SagaWorker(store, [saga], lease=7.0)
    assert legacy.options == SagaWorkerOptions(lease=7.0) and legacy.lease == 7.0
    mixed = SagaWorker(store, [saga], options=options, poll=0.1)
    assert mixed.options == SagaWorkerOptions(lease=5.0, concurrency=4, poll=0.1)
    with pytest.raises(ConfigError):
        SagaWorkerOptions(concurrency=0)
