"""A handler slower than the idempotency lock keeps its claim: it never runs twice."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mitigate.clock import VirtualClock
from mitigate.durable.idempotency import (
    DatabaseIdempotencyStore,
    IdempotencyStore,
    RedisIdempotencyStore,
    TieredIdempotencyStore,
)
from mitigate.durable.sqlite import SqliteStore
from mitigate.web.idempotency import IdempotencyMiddleware
from tests.conftest import require_redis

_KEY = {"Idempotency-Key": "slow-1", "Authorization": "Bearer client"}


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = await SqliteStore.open(
        tmp_path / "idem.db", durability="normal", clock=VirtualClock(autojump=False)
    )
    yield store
    await store.aclose()


@pytest.fixture(params=["database", "redis+database"])
async def store(request: pytest.FixtureRequest, db: SqliteStore) -> AsyncIterator[IdempotencyStore]:
    if request.param == "database":
        yield DatabaseIdempotencyStore(db)
        return
    redis = Redis.from_url(require_redis())
    prefix = f"t-idem-renew-{uuid.uuid4().hex[:12]}:"
    yield TieredIdempotencyStore(
        RedisIdempotencyStore(redis, prefix=prefix, clock=db.clock), DatabaseIdempotencyStore(db)
    )
    async for key in redis.scan_iter(match=prefix + "*"):
        await redis.delete(key)
    await redis.aclose()


async def test_a_handler_slower_than_the_lock_runs_once(
    db: SqliteStore, store: IdempotencyStore
) -> None:
    clock = db.clock
    assert isinstance(clock, VirtualClock)
    gate = asyncio.Event()
    started = asyncio.Event()
    runs: list[float] = []

    async def slow(request: Request) -> Response:
        runs.append(clock.now())
        started.set()
        await request.body()
        if len(runs) == 1:
            await gate.wait()  # e.g. a payment provider that takes minutes
        return JSONResponse({"charged": len(runs)}, status_code=201)

    app = IdempotencyMiddleware(
        Starlette(routes=[Route("/charges", slow, methods=["POST"])]), store, lock=60.0
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        first = asyncio.create_task(client.post("/charges", json={"a": 1}, headers=_KEY))
        await started.wait()
        for _ in range(12):  # three minutes on the clock, well past the 60 s lock
            await clock.aadvance(15)
            await asyncio.sleep(0.02)  # let a renewal reach the store
        retry = await client.post("/charges", json={"a": 1}, headers=_KEY)
        gate.set()
        assert runs == [0.0]  # the retry did not run the handler a second time
        assert retry.status_code == 409  # still in flight, not taken over
        assert retry.json()["code"] == "MITIGATE.IDEMPOTENCY.IN_FLIGHT"
        done = await first
        again = await client.post("/charges", json={"a": 1}, headers=_KEY)
    assert done.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert runs == [0.0]  # the handler ran once


async def test_an_abandoned_claim_is_still_taken_over(db: SqliteStore) -> None:
    # Renewal belongs to a live owner: a claim nobody renews expires after `lock`.
    store = DatabaseIdempotencyStore(db)
    assert (await store.claim("k", "fp", lock=60.0)).outcome == "new"
    assert await store.renew("k", "fp", lock=60.0)
    assert not await store.renew("k", "other-fp", lock=60.0)
    assert isinstance(db.clock, VirtualClock)
    db.clock.advance(61)
    assert (await store.claim("k", "fp", lock=60.0)).outcome == "new"
