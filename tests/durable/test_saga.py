"""Sagas on both databases: success, failure at every step, retries, parking, JSON, fencing."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from mitigate.clock import VirtualClock
from mitigate.durable.saga import Attempts, Saga, Step, StepContext
from mitigate.durable.saga_admin import get_saga
from mitigate.durable.saga_worker import SagaWorker
from mitigate.durable.store import Store
from mitigate.errors import ConfigError, StoreError
from mitigate.observe.events import (
    AlertRaised,
    RetryScheduled,
    SagaAbandoned,
    SagaCompensationFailed,
    SagaResumed,
)
from mitigate.observe.observers import Recorder
from tests.durable.conftest import StoreFactory

STEPS = ("draft", "package", "catalog", "bundle")


class Journal:
    """What the steps did, in order: ("do", step, key) and ("undo", step, key)."""

    def __init__(self, fail_at: str | None = None, undo_fails: str | None = None) -> None:
        self.fail_at = fail_at
        self.undo_fails = undo_fails
        self.calls: list[tuple[str, str, str]] = []

    def action(self, name: str) -> Any:
        async def run(ctx: StepContext) -> dict[str, Any]:
            self.calls.append(("do", name, ctx.idempotency_key))
            await asyncio.sleep(0)
            if name == self.fail_at:
                raise RuntimeError(f"{name} is broken")
            return {"made": f"{name}-{ctx.input['draft']}", "seen": sorted(ctx.results)}

        return run

    def undo(self, name: str) -> Any:
        def run(ctx: StepContext) -> None:
            self.calls.append(("undo", name, ctx.idempotency_key))
            if name == self.undo_fails:
                raise ConnectionError(f"{name} store unreachable")
            assert ctx.compensating
            if ctx.result is not None:
                assert ctx.result["made"] == f"{name}-{ctx.input['draft']}"

        return run

    def saga(self, **kw: Any) -> Saga:
        return Saga(
            "authoring.publish",
            [Step(n, self.action(n), self.undo(n), retry=Attempts(max_retries=2)) for n in STEPS],
            **kw,
        )


async def test_all_steps_succeed_and_results_are_recorded(store: Store) -> None:
    journal = Journal()
    rec = Recorder()
    async with SagaWorker(store, [journal.saga()], observers=[rec]) as worker:
        out = await worker.execute("authoring.publish", {"draft": "d1"}, id="pub-d1")
    assert out.state == "completed" and out.error is None
    assert out.results["bundle"] == {"made": "bundle-d1", "seen": ["catalog", "draft", "package"]}
    assert [c[:2] for c in journal.calls] == [("do", n) for n in STEPS]
    assert [c[2] for c in journal.calls] == [f"pub-d1:{n}" for n in STEPS]
    row = await get_saga(store, "pub-d1")
    assert row is not None and row.state == "completed" and row.lease_owner is None
    assert [s["result"]["made"] for s in row.steps if s] == [f"{n}-d1" for n in STEPS]
    assert rec.names()[:2] == ["saga.started", "saga.step_started"]
    assert rec.names()[-1] == "saga.completed"
    assert rec.count("saga.step_succeeded") == 4


@pytest.mark.parametrize("fail_at", STEPS)
async def test_failure_at_each_step_compensates_in_reverse_order(
    store: Store, fail_at: str
) -> None:
    journal = Journal(fail_at=fail_at)
    rec = Recorder()
    async with SagaWorker(store, [journal.saga()], observers=[rec]) as worker:
        out = await worker.execute("authoring.publish", {"draft": "d1"}, id=f"s-{fail_at}")
    done = list(STEPS[: STEPS.index(fail_at)])
    # The failing step ran 3 times (max_retries=2), then the completed ones were undone.
    expected = [("do", n) for n in done] + [("do", fail_at)] * 3
    expected += [("undo", n) for n in reversed(done)]
    assert [c[:2] for c in journal.calls] == expected
    undo_keys = [c[2] for c in journal.calls if c[0] == "undo"]
    assert undo_keys == [f"s-{fail_at}:{n}:undo" for n in reversed(done)]
    assert out.state == "compensated"
    assert out.error == f"step {fail_at} failed: RuntimeError: {fail_at} is broken"
    row = await get_saga(store, f"s-{fail_at}")
    assert row is not None and row.state == "compensated" and row.lease_owner is None
    assert all("undone_at" in row.steps[i] for i in range(len(done)))  # type: ignore[operator]
    assert row.steps[len(done)] is None  # the failed step had no effect to undo
    assert rec.count("saga.step_failed") == 1
    assert rec.count("saga.compensating") == 1
    assert rec.values("saga.compensating", "reason") == ["step_failed"]
    assert rec.names()[-1] == "saga.compensated"
    assert len(rec.of(RetryScheduled)) == 2


async def test_a_compensation_that_runs_out_of_retries_parks_the_saga_with_an_alert(
    store: Store,
) -> None:
    journal = Journal(fail_at="bundle", undo_fails="package")
    rec = Recorder()
    saga = journal.saga(runbook="runbooks/authoring/publish-saga.md")
    async with SagaWorker(store, [saga], observers=[rec]) as worker:
        out = await worker.execute(saga, {"draft": "d1"}, id="parked")
    assert out.state == "compensation_failed"
    # catalog undone, package undo tried 3 times, draft NOT undone past the failure.
    undo = [c[1] for c in journal.calls if c[0] == "undo"]
    assert undo == ["catalog", "package", "package", "package"]
    alerts = rec.of(AlertRaised)
    assert len(alerts) == 1 and isinstance(alerts[0], SagaCompensationFailed)
    assert alerts[0].saga_id == "parked" and alerts[0].step == "package"
    assert alerts[0].runbook == "runbooks/authoring/publish-saga.md"
    assert "mitigate saga retry parked" in alerts[0].message
    row = await get_saga(store, "parked")
    assert row is not None and row.state == "compensation_failed"
    assert row.steps[1]["undo_error"].startswith("ConnectionError")  # type: ignore[index]

    # The operator fixes the cause and retries: compensation resumes where it stopped.
    from mitigate.durable.saga_admin import retry_saga

    journal.undo_fails = None
    await retry_saga(store, "parked")
    async with SagaWorker(store, [saga], observers=[rec]) as worker:
        await worker.run(until_idle=True)
    row = await get_saga(store, "parked")
    assert row is not None and row.state == "compensated"
    undo = [c[1] for c in journal.calls if c[0] == "undo"]
    assert undo[4:] == ["package", "draft"]


async def test_retries_absorb_transient_failures(store: Store) -> None:
    failures = iter([True, True, False])
    calls: list[int] = []

    def flaky(ctx: StepContext) -> str:
        calls.append(ctx.epoch)
        if next(failures):
            raise TimeoutError("slow dependency")
        return "ok"

    saga = Saga("t.retry", [Step("put", flaky, retry=Attempts(max_retries=3, delays=(0.0,)))])
    async with SagaWorker(store, [saga]) as worker:
        out = await worker.execute(saga, None)
    assert out.state == "completed" and out.results == {"put": "ok"} and len(calls) == 3


async def test_catalog_policy_names_resolve_through_the_workers_policies(store: Store) -> None:
    saga = Saga("t.named", [Step("put", lambda ctx: 1, retry="objects.put")])
    with pytest.raises(ConfigError, match="no policies"):
        SagaWorker(store, [saga])
    with pytest.raises(ConfigError, match="no such policy"):
        SagaWorker(store, [saga], policies={})
    worker = SagaWorker(store, [saga], policies={"objects.put": Attempts(max_retries=1)})
    assert (await worker.execute(saga)).state == "completed"
    await worker.aclose()


async def test_input_that_is_not_json_is_refused_before_anything_is_stored(store: Store) -> None:
    saga = Saga("t.json", [Step("a", lambda ctx: 1)])
    async with SagaWorker(store, [saga]) as worker:
        with pytest.raises(StoreError) as info:
            await worker.execute(saga, {"when": object()}, id="bad")
    assert info.value.code == "MITIGATE.STORE.NOT_JSON"
    assert "input of saga t.json" in str(info.value)
    assert await get_saga(store, "bad") is None


async def test_a_result_that_is_not_json_fails_the_step_and_undoes_it(store: Store) -> None:
    undone: list[str] = []
    saga = Saga(
        "t.json",
        [
            Step("a", lambda ctx: "fine", lambda ctx: undone.append("a")),
            Step("b", lambda ctx: {1, 2}, lambda ctx: undone.append(f"b:{ctx.result}")),
        ],
    )
    async with SagaWorker(store, [saga]) as worker:
        out = await worker.execute(saga, None)
    assert out.state == "compensated"
    assert out.error is not None and "MITIGATE.STORE.NOT_JSON" in out.error
    assert "result of step b" in out.error
    assert undone == ["b:None", "a"]


async def test_starting_twice_with_one_id_runs_once(store: Store) -> None:
    journal = Journal()
    async with SagaWorker(store, [journal.saga()]) as worker:
        first = await worker.execute("authoring.publish", {"draft": "d"}, id="once")
        second = await worker.execute("authoring.publish", {"draft": "d"}, id="once")
        assert await worker.start("authoring.publish", {"draft": "d"}, id="once") == "once"
    assert first.state == second.state == "completed"
    assert second.results == first.results
    assert len(journal.calls) == len(STEPS)


async def test_started_sagas_are_claimed_and_run_by_the_claim_loop(store: Store) -> None:
    journal = Journal(fail_at="catalog")
    rec = Recorder()
    producer = SagaWorker(store, [journal.saga()])
    ids = [await producer.start("authoring.publish", {"draft": f"d{i}"}) for i in range(5)]
    async with SagaWorker(store, [journal.saga()], observers=[rec], concurrency=2) as worker:
        await worker.run(until_idle=True)
    for saga_id in ids:
        row = await get_saga(store, saga_id)
        assert row is not None and row.state == "compensated" and row.epoch == 1
    assert rec.count("saga.compensated") == 5
    assert rec.count("saga.resumed") == 0  # fresh sagas, nobody held them before
    await producer.aclose()


async def test_a_worker_that_lost_its_lease_is_fenced_off(store_factory: StoreFactory) -> None:
    clock = VirtualClock(autojump=False)
    store = await store_factory(clock=clock)
    gate = asyncio.Event()
    entered = asyncio.Event()
    runs: list[tuple[str, int]] = []

    async def slow(ctx: StepContext) -> str:
        runs.append((ctx.idempotency_key, ctx.epoch))
        entered.set()
        if ctx.epoch == 1:
            await gate.wait()  # worker A is stuck here (a GC pause, a partition...)
        return f"done by epoch {ctx.epoch}"

    saga = Saga("t.fence", [Step("only", slow)])
    rec_a, rec_b = Recorder(), Recorder()
    a = SagaWorker(store, [saga], observers=[rec_a], lease=10.0, owner="A")
    b = SagaWorker(store, [saga], observers=[rec_b], lease=10.0, owner="B")
    task = asyncio.create_task(a.execute(saga, None, id="f1"))
    await entered.wait()
    for t in a._background:  # A's heartbeat stalls with it
        t.cancel()
    clock.advance(11.0)  # A's lease expires
    await b.run(until_idle=True)
    assert runs == [("f1:only", 1), ("f1:only", 2)]  # the in-flight step re-ran, same key
    assert [e.previous_owner for e in rec_b.of(SagaResumed)] == ["A"]
    gate.set()
    out = await task
    assert out.state == "running"  # A's late write was refused; it let go
    assert [e.saga_id for e in rec_a.of(SagaAbandoned)] == ["f1"]
    row = await get_saga(store, "f1")
    assert row is not None and row.state == "completed"
    assert row.steps[0] == {
        "result": "done by epoch 2",
        "epoch": 2,
        "done_at": row.steps[0]["done_at"],
    }  # type: ignore[index]
    await a.aclose()
    await b.aclose()


async def test_unknown_saga_names_and_bad_definitions_fail_early(store: Store) -> None:
    with pytest.raises(ConfigError, match="unique"):
        Saga("x", [Step("a", print), Step("a", print)])
    with pytest.raises(ConfigError, match="positive"):
        Saga("x", [Step("a", print)], deadline=0)
    worker = SagaWorker(store, [Saga("x", [Step("a", print)])])
    with pytest.raises(ConfigError, match="does not know"):
        await worker.execute("y")
    await worker.aclose()


async def test_inline_retry_and_catalog_pipelines_from_the_policy_layer(tmp_path: object) -> None:
    from mitigate.durable.sqlite import SqliteStore
    from mitigate.policy import Pipeline, Retry

    clock = VirtualClock()
    store = await SqliteStore.open(f"{tmp_path}/p.db", clock=clock)
    rec = Recorder()
    attempts: list[float] = []

    def flaky(ctx: StepContext) -> str:
        attempts.append(clock.now())
        if len(attempts) <= 3:
            raise ConnectionError("S3 rate limited")
        return "stored"

    put_policy = Pipeline(
        "objects.put",
        Retry.from_table(retries="3", backoff="500ms, 2s, 5s"),
        clock=clock,
        observers=[rec],
    )
    saga = Saga(
        "t.policy",
        [
            Step("put", flaky, retry=Retry.from_table(retries="3", backoff="500ms, 2s, 5s")),
            Step("sign", lambda ctx: "sig", retry="objects.put"),
        ],
    )
    async with SagaWorker(
        store, [saga], observers=[rec], policies={"objects.put": put_policy}
    ) as worker:
        out = await worker.execute(saga, None)
    assert out.state == "completed" and out.results == {"put": "stored", "sign": "sig"}
    assert attempts == [0.0, 0.5, 2.5, 7.5]
    assert rec.values("retry.scheduled", "delay", target="t.policy.put") == [0.5, 2.0, 5.0]
    await store.aclose()
