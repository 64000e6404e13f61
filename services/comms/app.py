"""The comms service's ASGI app: the platform's app factory plus the comms routers."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

import mitigate
from services.kit.app import create_app

from .api import dispatches, ops, receipts, sessions
from .receipts import PATH as RECEIPTS

__all__ = ["ROUTERS", "build_app"]

ROUTERS = [dispatches.router, ops.router, receipts.router, sessions.router]


def tenant_resolver(comms: Any) -> mitigate.TenantResolver:
    registry = mitigate.StaticTenantRegistry()
    for tenant in comms.settings.tenants:
        registry.add(mitigate.Tenant(tenant))
    return mitigate.TenantResolver(registry, use_host=False, clock=comms.runtime.clock)


def build_app(comms: Any) -> FastAPI:
    app = create_app(
        comms.runtime,
        ROUTERS,
        title="comms service",
        tenants=tenant_resolver(comms),
        exempt=(RECEIPTS,),  # providers call back without a tenant
    )
    app.state.comms = comms
    return app
