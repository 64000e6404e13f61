"""A saga worker process for the crash test: ``python -m tests.durable.crash_worker DSN SCHEMA``.

Each step logs every run (key, lease epoch, pid) in ``crash_runs`` in its own commit, waits
a little (so kills land mid-step), then applies its effect keyed by the idempotency key in
``crash_effects`` (INSERT ... ON CONFLICT DO NOTHING: the key absorbs an in-flight re-run).
One saga in ten fails at its last step and compensates. The process exits once no saga is
left running or compensating.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
from typing import Any

from mitigate.clock import RealClock
from mitigate.durable.postgres import PostgresStore
from mitigate.durable.saga import Saga, Step, StepContext
from mitigate.durable.saga_admin import count_active
from mitigate.durable.saga_worker import SagaWorker

LEASE = 1.0
STEPS = ("reserve", "charge", "ship")


def build_saga(store: PostgresStore, clock: RealClock) -> Saga:
    pid = os.getpid()

    async def effect(ctx: StepContext, phase: str) -> dict[str, Any]:
        async with store.connection() as conn:
            await conn.execute(
                "INSERT INTO crash_runs (key, epoch, pid, phase) VALUES (%s, %s, %s, %s)",
                (ctx.idempotency_key, ctx.epoch, pid, phase),
            )
        await clock.asleep(random.uniform(0.08, 0.2))
        if phase == "do" and ctx.step == "ship" and ctx.input["fail"]:
            raise RuntimeError("carrier refused the parcel")
        async with store.connection() as conn:
            await conn.execute(
                "INSERT INTO crash_effects (key, saga_id, step, epoch) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (key) DO NOTHING",
                (ctx.idempotency_key, ctx.saga_id, ctx.step, ctx.epoch),
            )
        return {"key": ctx.idempotency_key}

    async def do(ctx: StepContext) -> dict[str, Any]:
        return await effect(ctx, "do")

    async def undo(ctx: StepContext) -> None:
        await effect(ctx, "undo")

    return Saga("crash.order", [Step(name, do, undo) for name in STEPS])


async def main(dsn: str, schema: str) -> None:
    clock = RealClock()
    store = await PostgresStore.open(dsn, schema=schema, migrate=False, max_size=6, clock=clock)
    worker = SagaWorker(
        store,
        [build_saga(store, clock)],
        lease=LEASE,
        concurrency=4,
        poll=0.1,
        owner=f"pid-{os.getpid()}",
    )
    stop = asyncio.Event()

    async def stop_when_all_done() -> None:
        while await count_active(store) > 0:
            await clock.asleep(0.3)
        stop.set()

    watcher = asyncio.create_task(stop_when_all_done())
    await worker.run(stop=stop)
    await worker.aclose()
    watcher.cancel()
    await store.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
