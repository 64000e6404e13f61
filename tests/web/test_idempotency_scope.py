"""Idempotency keys are scoped by the resolved tenant and credential, never shared."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mitigate.durable.idempotency import DatabaseIdempotencyStore
from mitigate.durable.sqlite import SqliteStore
from mitigate.guard.tenancy import StaticTenantRegistry, Tenant, TenantResolver
from mitigate.web.idempotency import IdempotencyMiddleware
from mitigate.web.tenancy import TenantMiddleware


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = await SqliteStore.open(tmp_path / "idem.db", durability="normal")
    yield store
    await store.aclose()


def _tenant_app(db: SqliteStore, calls: list[tuple[str, object]]) -> TenantMiddleware:
    async def create(request: Request) -> Response:
        body = await request.json()
        calls.append((request.state.tenant.id, body))
        return JSONResponse({"tenant": request.state.tenant.id, "n": len(calls)}, status_code=201)

    inner = Starlette(routes=[Route("/notes", create, methods=["POST"])])
    registry = StaticTenantRegistry()
    registry.add(Tenant("acme"), hosts=["acme.test"], api_keys=["acme-key"])
    registry.add(Tenant("globex"), hosts=["globex.test"], api_keys=["globex-key"])
    guarded = IdempotencyMiddleware(inner, DatabaseIdempotencyStore(db))
    return TenantMiddleware(guarded, TenantResolver(registry, shared_hosts=["api.test"]))


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"x-api-key": "acme-key"}, {"x-api-key": "globex-key"}),
        ({"host": "acme.test"}, {"host": "globex.test"}),
        ({"x-tenant-id": "acme"}, {"x-tenant-id": "globex"}),
    ],
    ids=["api-key", "host", "tenant-header"],
)
async def test_two_tenants_with_one_key_never_see_each_others_response(
    db: SqliteStore, first: dict[str, str], second: dict[str, str]
) -> None:
    calls: list[tuple[str, object]] = []
    app = _tenant_app(db, calls)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        a = await client.post("/notes", json={"x": 1}, headers={"Idempotency-Key": "k-1", **first})
        b_same = await client.post(
            "/notes", json={"x": 1}, headers={"Idempotency-Key": "k-1", **second}
        )
        b_other = await client.post(
            "/notes", json={"x": 2}, headers={"Idempotency-Key": "k-2", **second}
        )
        a_probe = await client.post(
            "/notes", json={"x": 3}, headers={"Idempotency-Key": "k-2", **first}
        )
    assert a.status_code == 201 and a.json()["tenant"] == "acme"
    # The second tenant's request ran as its own, not a replay of the first's response.
    assert b_same.status_code == 201 and "idempotent-replayed" not in b_same.headers
    assert b_same.json()["tenant"] == "globex"
    # A key another tenant used is neither a 422 probe nor blocked for this tenant.
    assert b_other.status_code == 201 and a_probe.status_code == 201
    assert calls == [("acme", {"x": 1}), ("globex", {"x": 1}), ("globex", {"x": 2}),
                     ("acme", {"x": 3})]  # fmt: skip


async def test_the_same_tenant_with_two_credentials_gets_two_scopes(db: SqliteStore) -> None:
    calls: list[tuple[str, object]] = []
    app = _tenant_app(db, calls)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://acme.test") as client:
        one = await client.post(
            "/notes", json={"x": 1}, headers={"Idempotency-Key": "k", "Authorization": "Bearer a"}
        )
        two = await client.post(
            "/notes", json={"x": 1}, headers={"Idempotency-Key": "k", "Authorization": "Bearer b"}
        )
        again = await client.post(
            "/notes", json={"x": 1}, headers={"Idempotency-Key": "k", "Authorization": "Bearer a"}
        )
    assert one.status_code == two.status_code == 201
    assert "idempotent-replayed" not in two.headers
    assert again.headers["idempotent-replayed"] == "true"
    assert len(calls) == 2


async def test_an_empty_default_scope_is_refused_and_the_app_never_runs(db: SqliteStore) -> None:
    calls: list[int] = []

    async def create(request: Request) -> Response:
        calls.append(1)
        return JSONResponse({}, status_code=201)

    app = IdempotencyMiddleware(
        Starlette(routes=[Route("/notes", create, methods=["POST"])]),
        DatabaseIdempotencyStore(db),
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        r = await client.post("/notes", json={}, headers={"Idempotency-Key": "k"})
    assert r.status_code == 500
    assert r.json()["code"] == "MITIGATE.IDEMPOTENCY.NO_SCOPE"
    assert calls == []


async def test_an_explicit_scope_may_be_shared_on_purpose(db: SqliteStore) -> None:
    calls: list[int] = []

    async def create(request: Request) -> Response:
        calls.append(1)
        return JSONResponse({}, status_code=201)

    app = IdempotencyMiddleware(
        Starlette(routes=[Route("/notes", create, methods=["POST"])]),
        DatabaseIdempotencyStore(db),
        scope_key=lambda scope: "",
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        first = await client.post("/notes", json={}, headers={"Idempotency-Key": "k"})
        again = await client.post("/notes", json={}, headers={"Idempotency-Key": "k"})
    assert first.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert calls == [1]
