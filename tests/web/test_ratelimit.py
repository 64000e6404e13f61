"""Preview-link guessing is throttled and blocked (theme.fm.2.13), in process and in Redis.

60 requests per minute per token hash, 600 per minute per tenant, an IP with 100 failed
requests in one minute blocked (99 not), other tenants unaffected.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
import redis.asyncio as aioredis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.types import Scope

from mitigate.clock import VirtualClock
from mitigate.guard.blocklist import IpBlocker
from mitigate.guard.redis_limits import RedisIpBlocker, RedisRateLimiter
from mitigate.guard.tenancy import StaticTenantRegistry, Tenant, TenantResolver
from mitigate.observe.events import IpBlocked, LimitHit
from mitigate.observe.observers import Recorder
from mitigate.policy.ratelimit import RateLimit
from mitigate.web.ratelimit import (
    RateLimitMiddleware,
    TenantRateLimitMiddleware,
    query_or_bearer_token,
    token_hash,
)
from mitigate.web.tenancy import TenantMiddleware
from tests.conftest import require_redis

BLOCK_FOR = 900.0  # a catalog value in the service; any value works here
DRAFTS = {"acme": {"good-token"}, "globex": {"other-token"}}


def preview_token(scope: Scope) -> str | None:
    path: str = scope["path"]
    return path.removeprefix("/preview/") if path.startswith("/preview/") else None


@dataclass
class Stack:
    app: object
    clock: VirtualClock
    recorder: Recorder
    served: list[str]

    def client(self, ip: str, host: str = "acme.test") -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app, client=(ip, 40000)),  # type: ignore[arg-type]
            base_url=f"http://{host}",
        )


@pytest.fixture(params=["memory", "redis"])
def backend(request) -> str:  # type: ignore[no-untyped-def]
    return str(request.param)


@pytest.fixture
async def redis_client(backend: str) -> AsyncIterator[aioredis.Redis | None]:
    if backend == "memory":
        yield None
        return
    client = aioredis.from_url(require_redis())
    client.test_prefix = f"mitigate-test-{uuid.uuid4().hex}"  # type: ignore[attr-defined]
    try:
        yield client
    finally:
        keys = [k async for k in client.scan_iter(match=f"{client.test_prefix}:*")]  # type: ignore[attr-defined]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@pytest.fixture
async def stack(redis_client) -> Stack:  # type: ignore[no-untyped-def]
    clock = VirtualClock(autojump=False)
    recorder = Recorder()
    if redis_client is None:
        token_limiter = RateLimit(60, per=60, algorithm="sliding_window").limiter(clock)
        tenant_limiter = RateLimit(600, per=60, algorithm="sliding_window").limiter(clock)
        blocker = IpBlocker(
            threshold=100, window=60, block_for=BLOCK_FOR, clock=clock, observers=[recorder]
        )
    else:
        client = redis_client
        prefix = client.test_prefix
        token_limiter = RedisRateLimiter(client, rate=60, per=60, prefix=prefix, clock=clock)
        tenant_limiter = RedisRateLimiter(client, rate=600, per=60, prefix=prefix, clock=clock)
        blocker = RedisIpBlocker(
            client,
            threshold=100,
            window=60,
            block_for=BLOCK_FOR,
            prefix=prefix,
            clock=clock,
            observers=[recorder],
        )
    served: list[str] = []

    async def preview(request: Request) -> PlainTextResponse:
        tenant = request.state.tenant.id
        token = request.path_params["token"]
        if token not in DRAFTS[tenant]:
            return PlainTextResponse("no such preview", status_code=404)
        served.append(f"{tenant}:{token}")
        return PlainTextResponse(f"draft of {tenant}")

    async def page(request: Request) -> PlainTextResponse:
        served.append(request.state.tenant.id)
        return PlainTextResponse("ok")

    registry = StaticTenantRegistry()
    registry.add(Tenant("acme"), hosts=["acme.test"])
    registry.add(Tenant("globex"), hosts=["globex.test"])
    inner = Starlette(routes=[Route("/preview/{token}", preview), Route("/page", page)])
    app = RateLimitMiddleware(
        TenantMiddleware(
            TenantRateLimitMiddleware(inner, tenant_limiter, clock=clock, observers=[recorder]),
            TenantResolver(registry, clock=clock),
        ),
        token_limiter=token_limiter,
        blocker=blocker,
        token_of=preview_token,
        clock=clock,
        observers=[recorder],
    )
    return Stack(app, clock, recorder, served)


async def test_an_ip_with_100_failures_in_a_minute_is_blocked_and_99_is_not(stack) -> None:
    async with stack.client("198.51.100.66") as bot, stack.client("198.51.100.99") as near:
        for i in range(100):
            assert (await bot.get(f"/preview/guess-{i}")).status_code == 404
            if i < 99:
                assert (await near.get(f"/preview/guess-{i}")).status_code == 404
            stack.clock.advance(0.5)
        blocked = await bot.get("/preview/good-token")
        assert blocked.status_code == 403
        assert blocked.json()["code"] == "MITIGATE.RATELIMIT.IP_BLOCKED"
        assert int(blocked.headers["retry-after"]) == pytest.approx(BLOCK_FOR, abs=1)
        assert (await near.get("/preview/good-token")).status_code == 200  # 99 failures
        assert stack.served == ["acme:good-token"]  # no draft for the bot
        [event] = stack.recorder.of(IpBlocked)
        assert event.ip == "198.51.100.66"
        stack.clock.advance(BLOCK_FOR)
        assert (await bot.get("/preview/good-token")).status_code == 200


async def test_61st_request_on_one_token_within_a_minute_is_429(stack) -> None:
    async with stack.client("203.0.113.1") as client:
        for _ in range(60):
            assert (await client.get("/preview/good-token")).status_code == 200
            stack.clock.advance(0.9)
        limited = await client.get("/preview/good-token")
        assert limited.status_code == 429
        assert limited.json()["code"] == "MITIGATE.RATELIMIT.EXCEEDED"
        assert int(limited.headers["retry-after"]) >= 1
        hits = stack.recorder.of(LimitHit)
        assert [h.key for h in hits] == [f"token:{token_hash('good-token')}"]
        assert "good-token" not in hits[0].key  # the token itself never leaves
        assert (await client.get("/preview/other-guess")).status_code == 404  # another hash
        stack.clock.advance(6.0)
        assert (await client.get("/preview/good-token")).status_code == 200


async def test_601st_tenant_request_is_429_and_other_tenants_are_unaffected(stack) -> None:
    for i in range(600):
        async with stack.client(f"10.1.{i // 250}.{i % 250}") as client:
            assert (await client.get("/page")).status_code == 200
    async with stack.client("10.9.9.9") as client:
        limited = await client.get("/page")
        assert limited.status_code == 429
        assert "tenant acme" in limited.json()["message"]
    async with stack.client("10.9.9.9", host="globex.test") as other:
        assert (await other.get("/page")).status_code == 200
    assert stack.served.count("acme") == 600 and stack.served.count("globex") == 1


async def test_tenant_resolution_failures_count_towards_the_block(stack) -> None:
    async with stack.client("192.0.2.200", host="probe.test") as prober:
        for _ in range(100):
            r = await prober.get("/page")
            assert r.status_code == 404 and r.json()["code"] == "MITIGATE.TENANT.UNKNOWN"
        assert (await prober.get("/page")).status_code == 403
    assert stack.served == []


def test_default_token_extraction() -> None:
    scope = {"query_string": b"a=1&token=abc", "headers": []}
    assert query_or_bearer_token(scope) == "abc"
    scope = {"query_string": b"", "headers": [(b"authorization", b"Bearer xyz")]}
    assert query_or_bearer_token(scope) == "xyz"
    assert query_or_bearer_token({"query_string": b"", "headers": []}) is None
