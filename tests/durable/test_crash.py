"""Crash test on PostgreSQL: 4 worker processes, 500 three-step sagas, 20 SIGKILLs.

At the end every saga is completed or compensated, none is stuck, and no step whose
result was recorded ran again; steps in flight at a kill ran again with the same
idempotency key, and the effects table keyed by it holds each effect once.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from mitigate.clock import RealClock
from mitigate.durable.postgres import PostgresStore
from mitigate.durable.saga_admin import count_active
from mitigate.durable.saga_worker import SagaWorker
from tests.conftest import require_postgres
from tests.durable.conftest import unique_schema
from tests.durable.crash_worker import STEPS, build_saga

SAGAS = 500
WORKERS = 4
KILLS = 20
ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


def _spawn(dsn: str, schema: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.durable.crash_worker", dsn, schema],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


async def test_sigkilled_workers_lose_nothing_and_repeat_no_recorded_step() -> None:
    dsn = require_postgres()
    schema = unique_schema("crash")
    clock = RealClock()
    store = await PostgresStore.open(dsn, schema=schema, clock=clock)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        await store.execute(
            "CREATE TABLE crash_runs (id BIGSERIAL PRIMARY KEY, key TEXT NOT NULL,"
            " epoch BIGINT NOT NULL, pid INTEGER NOT NULL, phase TEXT NOT NULL)"
        )
        await store.execute(
            "CREATE TABLE crash_effects (key TEXT PRIMARY KEY, saga_id TEXT NOT NULL,"
            " step TEXT NOT NULL, epoch BIGINT NOT NULL)"
        )
        producer = SagaWorker(store, [build_saga(store, clock)])
        for i in range(SAGAS):
            await producer.start("crash.order", {"n": i, "fail": i % 10 == 0}, id=f"o{i:03d}")
        await producer.aclose()

        procs = [_spawn(dsn, schema) for _ in range(WORKERS)]
        rng = random.Random(4)
        kills = 0
        started = clock.now()
        while kills < KILLS:
            await clock.asleep(rng.uniform(0.15, 0.5))
            # A random worker among those holding sagas right now.
            owners = {
                o
                for (o,) in await store.fetch(
                    "SELECT DISTINCT lease_owner FROM mitigate_sagas"
                    " WHERE state IN ('running', 'compensating') AND lease_owner IS NOT NULL"
                )
            }
            holding = [i for i, p in enumerate(procs) if f"pid-{p.pid}" in owners]
            if not holding:
                # Workers still starting (slow on a loaded machine) hold nothing: killing
                # one would test nothing, so wait for a holder while work remains.
                assert clock.now() - started < 180, (
                    f"no live worker holds a saga after {kills} kills"
                )
                if await count_active(store) == 0:
                    break
                continue
            victim = rng.choice(holding)
            procs[victim].send_signal(signal.SIGKILL)
            procs[victim].wait()
            kills += 1
            procs[victim] = _spawn(dsn, schema)
        while await count_active(store) > 0:
            assert clock.now() - started < 180, "sagas still running after 180 s"
            await clock.asleep(0.2)
        for proc in procs:
            assert proc.wait(timeout=15) == 0
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    try:
        states = dict(
            await store.fetch("SELECT state, count(*) FROM mitigate_sagas GROUP BY state")
        )
        assert states == {"completed": SAGAS - SAGAS // 10, "compensated": SAGAS // 10}
        assert await store.fetch(
            "SELECT count(*) FROM mitigate_sagas WHERE lease_owner IS NOT NULL"
        ) == [(0,)]

        # Effects: each exactly once per key (the primary key), and the right set of them.
        effects = {k for (k,) in await store.fetch("SELECT key FROM crash_effects")}
        expected: set[str] = set()
        for i in range(SAGAS):
            if i % 10 == 0:
                expected |= {f"o{i:03d}:{s}" for s in STEPS[:2]}
                expected |= {f"o{i:03d}:{s}:undo" for s in STEPS[:2]}
            else:
                expected |= {f"o{i:03d}:{s}" for s in STEPS}
        assert effects == expected

        # Runs: a step ran again only under a later claim (a takeover), never twice under
        # one claim, and never after its result was recorded.
        runs: dict[str, list[int]] = {}
        for key, epoch in await store.fetch("SELECT key, epoch FROM crash_runs WHERE phase = 'do'"):
            runs.setdefault(key, []).append(int(epoch))
        recorded: dict[str, int] = {}
        for saga_id, steps_text in await store.fetch("SELECT id, steps FROM mitigate_sagas"):
            import json

            for name, entry in zip(STEPS, json.loads(steps_text), strict=True):
                if entry is not None and "result" in entry:
                    recorded[f"{saga_id}:{name}"] = int(entry["epoch"])
        rerun = 0
        for key, epochs in runs.items():
            assert len(epochs) == len(set(epochs)), f"{key} ran twice under one claim: {epochs}"
            if key in recorded:
                assert max(epochs) == recorded[key], (
                    f"{key} ran under epoch {max(epochs)} after epoch {recorded[key]} recorded it"
                )
            rerun += len(epochs) - 1
        took_over = await store.fetch("SELECT count(*) FROM mitigate_sagas WHERE epoch >= 2")
        assert took_over[0][0] > 0, "no saga was ever taken over: the kills hit nothing"
        print(
            f"\n{kills} kills, {took_over[0][0]} sagas taken over, {rerun} in-flight re-runs,"
            f" {clock.now() - started:.1f}s"
        )
    finally:
        await store.drop_schema()
        await store.aclose()


async def test_graceful_close_hands_leases_back_at_once() -> None:
    dsn = require_postgres()
    schema = unique_schema("close")
    clock = RealClock()
    store = await PostgresStore.open(dsn, schema=schema, clock=clock)
    try:
        gate = asyncio.Event()
        from mitigate.durable.saga import Saga, Step

        async def wait(ctx: object) -> str:
            await gate.wait()
            return "x"

        saga = Saga("t.close", [Step("wait", wait)])
        worker = SagaWorker(store, [saga], lease=60.0)
        await worker.start(saga, None, id="c1")
        runner = asyncio.create_task(worker.run())
        while worker.active == 0:
            await clock.asleep(0.01)
        await worker.aclose()
        await asyncio.gather(runner, return_exceptions=True)
        rows = await store.fetch("SELECT state, lease_until FROM mitigate_sagas WHERE id = 'c1'")
        assert rows == [("running", 0.0)]  # claimable now, not in 60 s
        gate.set()
        other = SagaWorker(store, [saga], lease=60.0)
        await other.run(until_idle=True)
        await other.aclose()
        rows = await store.fetch("SELECT state, epoch FROM mitigate_sagas WHERE id = 'c1'")
        assert rows == [("completed", 2)]
    finally:
        await store.drop_schema()
        await store.aclose()
