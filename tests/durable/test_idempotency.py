"""Idempotency stores: the database (SQLite, PostgreSQL), real Redis, and Redis-first tiers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from mitigate.chaos import FaultProxy
from mitigate.clock import VirtualClock
from mitigate.durable.idempotency import (
    Claim,
    DatabaseIdempotencyStore,
    RedisIdempotencyStore,
    StoredResponse,
    TieredIdempotencyStore,
)
from mitigate.durable.sqlite import SqliteStore
from mitigate.durable.store import Store
from mitigate.errors import ConfigError
from mitigate.observe.observers import Recorder
from tests.conftest import require_redis

OK = StoredResponse(201, (("content-type", "application/json"),), b'{"id":1}')


@pytest.fixture
async def vstore(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = await SqliteStore.open(tmp_path / "v.db", durability="normal", clock=VirtualClock())
    yield store
    await store.aclose()


@pytest.fixture
async def redis_client() -> AsyncIterator[tuple[Redis, str]]:
    url = require_redis()
    client = Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
    prefix = f"t-idem-{uuid.uuid4().hex[:12]}:"
    yield client, prefix
    async for key in client.scan_iter(match=prefix + "*"):
        await client.delete(key)
    await client.aclose()


async def _semantics(store: DatabaseIdempotencyStore | RedisIdempotencyStore) -> list[Claim]:
    out = [await store.claim("k", "fp1")]
    out.append(await store.claim("k", "fp1"))  # first still in flight
    out.append(await store.claim("k", "fp2"))  # other payload
    await store.complete("k", "fp1", OK)
    out.append(await store.claim("k", "fp1"))
    out.append(await store.claim("k", "fp2"))
    return out


async def test_database_store_claims_replays_and_refuses(store: Store) -> None:
    claims = await _semantics(DatabaseIdempotencyStore(store))
    assert [c.outcome for c in claims] == ["new", "in_flight", "mismatch", "replay", "mismatch"]
    assert claims[3].response == OK and claims[3].tier == "database"


async def test_redis_store_claims_replays_and_refuses(redis_client: tuple[Redis, str]) -> None:
    client, prefix = redis_client
    claims = await _semantics(RedisIdempotencyStore(client, prefix=prefix))
    assert [c.outcome for c in claims] == ["new", "in_flight", "mismatch", "replay", "mismatch"]
    assert claims[3].response == OK and claims[3].tier == "redis"
    assert await client.pttl(prefix + "k") > 23 * 3600 * 1000  # Redis expires it too


async def test_records_expire_after_the_ttl_on_the_clock(vstore: SqliteStore) -> None:
    clock = vstore.clock
    assert isinstance(clock, VirtualClock)
    store = DatabaseIdempotencyStore(vstore)
    await store.claim("k", "fp")
    await store.complete("k", "fp", OK)
    clock.advance(24 * 3600 - 1)
    assert (await store.claim("k", "fp")).outcome == "replay"
    clock.advance(1)
    assert (await store.claim("k", "fp2")).outcome == "new"  # expired: the key is free again
    assert await store.prune() == 0
    clock.advance(24 * 3600)
    assert await store.prune() == 1


async def test_an_abandoned_claim_is_taken_over_after_its_lock(vstore: SqliteStore) -> None:
    clock = vstore.clock
    assert isinstance(clock, VirtualClock)
    store = DatabaseIdempotencyStore(vstore)
    assert (await store.claim("k", "fp", lock=30)).outcome == "new"  # then the process died
    clock.advance(29)
    assert (await store.claim("k", "fp", lock=30)).outcome == "in_flight"
    clock.advance(1)
    assert (await store.claim("k", "fp", lock=30)).outcome == "new"


async def test_redis_ttl_and_lock_are_judged_on_the_clock(redis_client: tuple[Redis, str]) -> None:
    client, prefix = redis_client
    clock = VirtualClock()
    store = RedisIdempotencyStore(client, prefix=prefix, clock=clock)
    assert (await store.claim("k", "fp", lock=30)).outcome == "new"
    clock.advance(30)
    assert (await store.claim("k", "fp", lock=30)).outcome == "new"  # abandoned claim
    await store.complete("k", "fp", OK, ttl=60)
    clock.advance(59)
    assert (await store.claim("k", "fp")).outcome == "replay"
    clock.advance(1)
    assert (await store.claim("k", "fp")).outcome == "new"


async def test_release_frees_only_an_in_flight_claim_with_the_same_payload(
    store: Store, redis_client: tuple[Redis, str]
) -> None:
    client, prefix = redis_client
    for s in (DatabaseIdempotencyStore(store), RedisIdempotencyStore(client, prefix=prefix)):
        await s.claim("a", "fp")
        await s.release("a", "other")
        assert (await s.claim("a", "fp")).outcome == "in_flight"
        await s.release("a", "fp")
        assert (await s.claim("a", "fp")).outcome == "new"
        await s.complete("a", "fp", OK)
        await s.release("a", "fp")  # a finished record stays
        assert (await s.claim("a", "fp")).outcome == "replay"


async def test_tiered_writes_through_and_replays_a_key_redis_lost(
    store: Store, redis_client: tuple[Redis, str]
) -> None:
    """comms.fm.7: Redis evicts or flushes keys; the database copy answers and re-warms."""
    client, prefix = redis_client
    recorder = Recorder()
    tiered = TieredIdempotencyStore(
        RedisIdempotencyStore(client, prefix=prefix, clock=store.clock),
        DatabaseIdempotencyStore(store),
        observers=[recorder],
    )
    assert (await tiered.claim("k", "fp")).outcome == "new"
    await tiered.complete("k", "fp", OK)
    assert (await tiered.claim("k", "fp")).tier == "redis"
    await client.delete(prefix + "k")  # evicted

    again = await tiered.claim("k", "fp")
    assert (again.outcome, again.tier, again.response) == ("replay", "database", OK)
    assert (await tiered.claim("k", "fp")).tier == "redis"  # re-warmed
    assert recorder.count("fallback.used") == 0  # Redis was up all along


async def test_tiered_falls_back_to_the_database_when_redis_is_unreachable(
    store: Store,
) -> None:
    url = require_redis()
    recorder = Recorder()
    async with FaultProxy("127.0.0.1", int(url.rsplit(":", 1)[1].split("/")[0])) as proxy:
        client = Redis(
            host="127.0.0.1", port=proxy.port, socket_connect_timeout=0.5, socket_timeout=0.5
        )
        prefix = f"t-idem-{uuid.uuid4().hex[:12]}:"
        tiered = TieredIdempotencyStore(
            RedisIdempotencyStore(client, prefix=prefix, clock=store.clock),
            DatabaseIdempotencyStore(store),
            observers=[recorder],
        )
        await proxy.down()
        claims = await _semantics(tiered)  # type: ignore[arg-type]
        assert [c.outcome for c in claims] == ["new", "in_flight", "mismatch", "replay", "mismatch"]
        assert {c.tier for c in claims} == {"database"}
        assert recorder.count("fallback.used") == 6 and tiered.fallbacks == 6
        event = recorder.named("fallback.used")[0]
        assert (event.target, event.source) == ("idempotency.store", "database")  # type: ignore[attr-defined]

        await proxy.up()  # Redis is back, but never saw the key: the database still knows it
        back = await tiered.claim("k", "fp1")
        assert (back.outcome, back.tier) == ("replay", "database")
        await client.delete(prefix + "k")
        await client.aclose()


def test_the_tiers_must_share_a_clock(tmp_path: Path) -> None:
    db = DatabaseIdempotencyStore(SqliteStore(":memory:", clock=VirtualClock()))
    redis = RedisIdempotencyStore(Redis(), clock=VirtualClock())
    with pytest.raises(ConfigError, match="share one clock"):
        TieredIdempotencyStore(redis, db)
