"""The comms service's ASGI app: the platform's app factory plus the comms routers."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

import mitigate
from services.kit.app import create_app

from .api import attachments, dispatches, ops, receipts, sessions, threads
from .attachments import UPLOADS, UploadCap
from .dispatcher import SWITCHES
from .idempotency import idempotency_store
from .receipts import PATH as RECEIPTS

__all__ = ["ROUTERS", "build_app"]

ROUTERS = [
    dispatches.router,
    ops.router,
    receipts.router,
    sessions.router,
    attachments.router,
    threads.router,
]


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
        exempt=(RECEIPTS, UPLOADS),  # providers and signed URLs carry no tenant
        idempotency_store=idempotency_store(
            comms.runtime,
            prefix=comms.settings.idempotency_prefix,
            fallback_switch=SWITCHES["idempotency_fallback"],
        ),
    )
    app.add_middleware(UploadCap, comms=comms)  # outermost: the gateway's place
    app.state.comms = comms
    return app
