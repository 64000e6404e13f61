"""The content service's ASGI app: the platform's app factory plus the content routers.

Routes only: each router module parses the request, calls a use case on the service and
lets the platform map errors to the envelope. Add a router with one line below.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

import mitigate
from services.kit.app import create_app

from .api import assistant, devices, downloads, imports, keys, publish
from .device_wiring import attach_devices

__all__ = ["ROUTERS", "build_app"]

# One line per router. The device side (12b) adds its own: devices, downloads, keys, ...
ROUTERS = [publish.router, imports.router]
ROUTERS += [devices.router, downloads.router, keys.router, assistant.router]  # device side


def tenant_resolver(content: Any) -> mitigate.TenantResolver:
    registry = mitigate.StaticTenantRegistry()
    for tenant, plan in content.settings.tenants.items():
        registry.add(mitigate.Tenant(tenant, plan=plan))
    return mitigate.TenantResolver(registry, use_host=False, clock=content.runtime.clock)


def build_app(content: Any, extra_routers: tuple[Any, ...] = ()) -> FastAPI:
    app = create_app(
        content.runtime,
        [*ROUTERS, *extra_routers],
        title="content service",
        tenants=tenant_resolver(content),
    )
    app.state.content = content
    attach_devices(app, getattr(content, "devices", None))
    return app
