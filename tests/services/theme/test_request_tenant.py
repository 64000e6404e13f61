"""The request's tenant is the context's tenant while its route runs (the store sets it on
each PostgreSQL transaction), and no longer once the request is answered."""

from __future__ import annotations

import httpx
from fastapi import FastAPI, Request
from services.theme.tenancy import RequestTenant, current_tenant

import mitigate
from mitigate.web import TenantMiddleware


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/whoami")
    async def whoami(request: Request) -> dict[str, str | None]:
        return {"context": current_tenant(), "resolved": request.state.tenant.id}

    @app.get("/healthz")
    async def healthz() -> dict[str, str | None]:
        return {"context": current_tenant()}

    registry = mitigate.StaticTenantRegistry()
    for tenant in ("acme", "globex"):
        registry.add(mitigate.Tenant(tenant))
    app.add_middleware(RequestTenant)  # added first: inside tenant resolution
    resolver = mitigate.TenantResolver(registry, use_host=False, clock=mitigate.VirtualClock())
    app.add_middleware(TenantMiddleware, resolver=resolver, exempt=("/healthz",))
    return app


async def test_each_request_runs_as_its_tenant_and_leaves_none_behind() -> None:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        for tenant in ("acme", "globex", "acme"):
            seen = (await http.get("/whoami", headers={"x-tenant-id": tenant})).json()
            assert seen == {"context": tenant, "resolved": tenant}
            assert current_tenant() is None  # the caller's context is untouched
        exempt = (await http.get("/healthz")).json()
        assert exempt == {"context": None}  # no tenant: a tenant table would fail closed
