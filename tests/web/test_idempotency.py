"""The Idempotency-Key middleware: the four status rules, with real Redis up and with Redis
unreachable (the database answers, the fallback is recorded)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from mitigate.chaos import FaultProxy
from mitigate.clock import VirtualClock
from mitigate.durable.idempotency import (
    DatabaseIdempotencyStore,
    IdempotencyStore,
    RedisIdempotencyStore,
    TieredIdempotencyStore,
)
from mitigate.durable.sqlite import SqliteStore
from mitigate.errors import ConfigError
from mitigate.observe.observers import Recorder
from mitigate.web.idempotency import IdempotencyMiddleware
from tests.conftest import require_redis


class Billing:
    """A small app: POST /charges creates a charge; amount 0 is a 400, 13 a 500."""

    def __init__(self) -> None:
        self.charges: list[int] = []
        self.gate: asyncio.Event | None = None

    async def charge(self, request: Request) -> Response:
        body = await request.json()
        if self.gate is not None:
            await self.gate.wait()
        amount = int(body["amount"])
        if amount == 0:
            return JSONResponse({"error": "amount must be positive"}, status_code=400)
        if amount == 13:
            return JSONResponse({"error": "ledger unavailable"}, status_code=500)
        if amount < 0:
            raise RuntimeError("crashed before answering")
        self.charges.append(amount)
        return JSONResponse(
            {"charge": len(self.charges), "amount": amount},
            status_code=201,
            headers={"Location": f"/charges/{len(self.charges)}"},
        )

    async def lookup(self, request: Request) -> Response:
        return JSONResponse({"charges": len(self.charges)})

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/charges", self.charge, methods=["POST"]),
                Route("/charges", self.lookup, methods=["GET"]),
            ]
        )


@asynccontextmanager
async def client_for(
    store: IdempotencyStore, billing: Billing, **options: object
) -> AsyncIterator[httpx.AsyncClient]:
    app = IdempotencyMiddleware(billing.app(), store, **options)  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://test", headers=_CLIENT
    ) as client:
        yield client


# The default scope needs a tenant or a credential to separate clients by.
_CLIENT = {"Authorization": "Bearer test-client"}


def _key(headers: dict[str, str] | None = None, key: str = "key-1") -> dict[str, str]:
    return {"Idempotency-Key": key, **(headers or {})}


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = await SqliteStore.open(tmp_path / "idem.db", durability="normal")
    yield store
    await store.aclose()


@pytest.fixture
async def redis_prefix() -> AsyncIterator[tuple[str, str]]:
    url = require_redis()
    prefix = f"t-idem-web-{uuid.uuid4().hex[:12]}:"
    yield url, prefix
    client = Redis.from_url(url)
    async for key in client.scan_iter(match=prefix + "*"):
        await client.delete(key)
    await client.aclose()


async def _four_rules(client: httpx.AsyncClient, billing: Billing) -> None:
    # 400: a guarded request without a key.
    missing = await client.post("/charges", json={"amount": 5})
    assert missing.status_code == 400
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["code"] == "MITIGATE.IDEMPOTENCY.KEY_MISSING"

    # Same key, same request: the stored response comes back; no second charge.
    first = await client.post("/charges", json={"amount": 5}, headers=_key())
    again = await client.post("/charges", json={"amount": 5}, headers=_key())
    assert first.status_code == again.status_code == 201
    assert first.content == again.content and again.headers["location"] == "/charges/1"
    assert again.headers["idempotent-replayed"] == "true"
    assert billing.charges == [5]

    # 422: same key, different payload.
    other = await client.post("/charges", json={"amount": 6}, headers=_key())
    assert other.status_code == 422
    assert other.json()["code"] == "MITIGATE.IDEMPOTENCY.KEY_REUSED"

    # 409: same key while the first request is still in flight.
    billing.gate = asyncio.Event()
    slow = asyncio.create_task(client.post("/charges", json={"amount": 7}, headers=_key(key="k2")))
    await asyncio.sleep(0.05)
    busy = await client.post("/charges", json={"amount": 7}, headers=_key(key="k2"))
    assert busy.status_code == 409 and busy.headers["retry-after"] == "1"
    assert busy.json()["code"] == "MITIGATE.IDEMPOTENCY.IN_FLIGHT"
    billing.gate.set()
    billing.gate = None
    assert (await slow).status_code == 201
    assert billing.charges == [5, 7]

    # Errors are stored and replayed too.
    for amount, status in ((0, 400), (13, 500)):
        one = await client.post("/charges", json={"amount": amount}, headers=_key(key=f"e{amount}"))
        two = await client.post("/charges", json={"amount": amount}, headers=_key(key=f"e{amount}"))
        assert one.status_code == two.status_code == status
        assert one.content == two.content and two.headers["idempotent-replayed"] == "true"


async def test_the_four_rules_with_redis_up(db: SqliteStore, redis_prefix: tuple[str, str]) -> None:
    url, prefix = redis_prefix
    recorder = Recorder()
    redis = Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
    store = TieredIdempotencyStore(
        RedisIdempotencyStore(redis, prefix=prefix, clock=db.clock),
        DatabaseIdempotencyStore(db),
        observers=[recorder],
    )
    billing = Billing()
    async with client_for(store, billing, observers=[recorder]) as client:
        await _four_rules(client, billing)
    assert recorder.count("fallback.used") == 0
    assert set(recorder.values("idempotency.replayed", "tier")) == {"redis"}
    assert sorted(recorder.values("idempotency.conflict", "status")) == [400, 409, 422]
    scoped = [k async for k in redis.scan_iter(match=prefix + "*:key-1")]
    assert len(scoped) == 1 and not scoped[0].startswith(prefix.encode() + b":")  # in Redis
    await redis.aclose()


async def test_the_four_rules_with_redis_unreachable_use_the_database_and_say_so(
    db: SqliteStore,
) -> None:
    url = require_redis()
    recorder = Recorder()
    async with FaultProxy("127.0.0.1", int(url.rsplit(":", 1)[1].split("/")[0])) as proxy:
        await proxy.down()
        redis = Redis(
            host="127.0.0.1", port=proxy.port, socket_connect_timeout=0.5, socket_timeout=0.5
        )
        store = TieredIdempotencyStore(
            RedisIdempotencyStore(redis, prefix=f"t-{uuid.uuid4().hex}:", clock=db.clock),
            DatabaseIdempotencyStore(db),
            observers=[recorder],
        )
        billing = Billing()
        async with client_for(store, billing, observers=[recorder]) as client:
            await _four_rules(client, billing)
        await redis.aclose()
    assert recorder.count("fallback.used") >= 10
    assert {e.source for e in recorder.named("fallback.used")} == {"database"}  # type: ignore[attr-defined]
    assert set(recorder.values("idempotency.replayed", "tier")) == {"database"}
    rows = await db.fetch("SELECT COUNT(*) FROM mitigate_idempotency WHERE state = 'done'")
    assert rows[0][0] == 4  # key-1, k2, e0, e13


async def test_a_crash_before_answering_frees_the_key_for_the_retry(db: SqliteStore) -> None:
    calls: list[int] = []

    async def crashing(scope: Scope, receive: Receive, send: Send) -> None:
        calls.append(1)
        raise RuntimeError("crashed before answering")

    app = IdempotencyMiddleware(crashing, DatabaseIdempotencyStore(db))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://test", headers=_CLIENT
    ) as client:
        for _ in range(2):
            crashed = await client.post("/charges", json={"amount": 1}, headers=_key())
            assert crashed.status_code == 500 and "idempotent-replayed" not in crashed.headers
    assert calls == [1, 1]  # the retry ran: the key was released, not left in flight


async def test_an_error_response_sent_before_a_crash_is_replayed(db: SqliteStore) -> None:
    billing = Billing()  # Starlette answers 500 from its error middleware, then re-raises
    async with client_for(DatabaseIdempotencyStore(db), billing) as client:
        crashed = await client.post("/charges", json={"amount": -1}, headers=_key())
        again = await client.post("/charges", json={"amount": -1}, headers=_key())
    assert crashed.status_code == again.status_code == 500
    assert again.headers["idempotent-replayed"] == "true"


async def test_keys_expire_after_24_hours_on_the_clock(tmp_path: Path) -> None:
    clock = VirtualClock()
    store = await SqliteStore.open(tmp_path / "v.db", durability="normal", clock=clock)
    billing = Billing()
    async with client_for(DatabaseIdempotencyStore(store), billing) as client:
        await client.post("/charges", json={"amount": 5}, headers=_key())
        clock.advance(24 * 3600 - 1)
        replay = await client.post("/charges", json={"amount": 5}, headers=_key())
        assert replay.headers.get("idempotent-replayed") == "true"
        clock.advance(1)
        fresh = await client.post("/charges", json={"amount": 5}, headers=_key())
        assert "idempotent-replayed" not in fresh.headers
    assert billing.charges == [5, 5]
    await store.aclose()


async def test_safe_methods_optional_keys_scopes_and_bad_keys(db: SqliteStore) -> None:
    billing = Billing()
    store = DatabaseIdempotencyStore(db)
    async with client_for(store, billing, required=False) as client:
        assert (await client.get("/charges", headers=_key())).status_code == 200
        assert (await client.post("/charges", json={"amount": 1})).status_code == 201
        bad = await client.post("/charges", json={"amount": 1}, headers=_key(key="x" * 256))
        assert bad.status_code == 400 and bad.json()["code"] == "MITIGATE.IDEMPOTENCY.KEY_INVALID"
        # Two clients may use the same key without colliding.
        alice = await client.post(
            "/charges", json={"amount": 2}, headers=_key({"Authorization": "Bearer alice"})
        )
        bob = await client.post(
            "/charges", json={"amount": 3}, headers=_key({"Authorization": "Bearer bob"})
        )
        assert alice.status_code == bob.status_code == 201
    assert billing.charges == [1, 2, 3]
    with pytest.raises(ConfigError, match="ttl and lock"):
        IdempotencyMiddleware(billing.app(), store, ttl=0)
