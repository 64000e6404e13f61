"""Bundle jobs on mitigate.WorkQueue: two workers (each with its own connection, as two
processes would have) share one PostgreSQL queue and never build one bundle twice; every
queued bundle is built exactly once."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from services.content.adapters.device_state import SqlState
from services.content.domain.bundles import BundleRequest
from services.content.testbed import Testbed
from tests.conftest import require_postgres

import mitigate

BUNDLES = 24


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    dsn = require_postgres()
    url = f"{dsn}?schema=bundles_{uuid.uuid4().hex[:12]}"
    yield url
    store = await mitigate.open_store(url, migrate=False)
    await store.drop_schema()  # type: ignore[attr-defined]
    await store.aclose()


def _counting(side: Any, worker: str, builds: list[tuple[str, str]]) -> None:
    build = side._build

    async def counted(request: BundleRequest) -> str:
        builds.append((worker, request.bundle_id))
        await asyncio.sleep(0)  # let the other worker run between claim and completion
        return str(await build(request))

    side._build = counted


async def test_two_workers_on_postgres_never_build_one_bundle_twice(pg_url: str) -> None:
    clock = mitigate.RealClock()
    store_a = await mitigate.open_store(pg_url, clock=clock)
    store_b = await mitigate.open_store(pg_url, clock=clock)
    bed_a = Testbed.standalone(clock)
    bed_b = Testbed.standalone(clock)
    try:
        bed_a.side.store, bed_b.side.store = store_a, store_b
        bed_a.side.state = await SqlState(store_a).setup()
        await bed_a.add_course("c1", b"lesson " * 200)
        devices = [bed_a.device(f"d{i}") for i in range(BUNDLES)]
        for device in devices:
            await device.register()
        queue_it = bed_a.side.fallback_handlers()["content.fallback.1"]
        for device in devices:  # what a KMS outage does: every request becomes a job
            await queue_it(BundleRequest("acme", device.device_id, "c1"))
            await queue_it(BundleRequest("acme", device.device_id, "c1"))  # asked twice
        await bed_a.side.flush()
        bed_b.side.state = SqlState(store_b)
        await bed_b.side.restore()  # the second process starts from the stored state
        assert set(bed_b.side.devices) == {d.device_id for d in devices}

        builds: list[tuple[str, str]] = []
        _counting(bed_a.side, "a", builds)
        _counting(bed_b.side, "b", builds)
        bed_a.side.claim_batch = bed_b.side.claim_batch = 3
        for _ in range(BUNDLES):
            if (await bed_a.side.job_counts())["done"] == BUNDLES:
                break
            await asyncio.gather(bed_a.side.work_once(), bed_b.side.work_once())

        per_bundle = Counter(bundle for _, bundle in builds)
        assert len(per_bundle) == BUNDLES, per_bundle
        assert max(per_bundle.values()) == 1, [b for b, n in per_bundle.items() if n > 1]
        assert {worker for worker, _ in builds} == {"a", "b"}  # both took a share
        counts = await bed_b.side.job_counts()
        assert counts == {"queued": 0, "leased": 0, "done": BUNDLES, "parked": 0, "dead": 0}
    finally:
        await bed_a.close()
        await bed_b.close()
        await store_a.aclose()
        await store_b.aclose()
