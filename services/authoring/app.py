"""The authoring service's ASGI app: the platform's app factory plus its routers."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

import mitigate
from services.kit.app import create_app

from .api import coauthor, collab, drafts, imports, media, publish
from .previews import ORIGIN

__all__ = ["ROUTERS", "build_app"]

ROUTERS = [
    drafts.router,
    publish.router,
    coauthor.router,
    media.router,
    imports.router,
    collab.router,
]


def tenant_resolver(service: Any) -> mitigate.TenantResolver:
    registry = mitigate.StaticTenantRegistry()
    for tenant, plan in service.settings.tenants.items():
        registry.add(mitigate.Tenant(tenant, plan=plan))
    return mitigate.TenantResolver(registry, use_host=False, clock=service.runtime.clock)


def build_app(service: Any) -> FastAPI:
    app = create_app(
        service.runtime, ROUTERS, title="authoring service", tenants=tenant_resolver(service)
    )
    app.state.authoring = service
    if service.origin is not None:  # signed origin URLs of media previews (fallback.3)
        app.mount(ORIGIN, service.origin)
    for server in service.collab:  # the embedded collab processes' WebSockets
        app.mount(f"/collab/{server.name}", server.app)
    return app
