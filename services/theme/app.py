"""The theme service's ASGI app: the platform's app factory plus the theme routers."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

import mitigate
from mitigate.web import Health
from services.kit.app import create_app, standard_health

from .api import csp, ops, previews, tenants, themes
from .tenancy import RequestTenant

__all__ = ["ROUTERS", "build_app"]

ROUTERS = [themes.router, ops.router, csp.router, previews.router, tenants.router]


def tenant_resolver(theme: Any) -> mitigate.TenantResolver:
    registry = mitigate.StaticTenantRegistry()
    for tenant, plan in theme.settings.tenants.items():
        registry.add(mitigate.Tenant(tenant, plan=plan))
    return mitigate.TenantResolver(registry, use_host=False, clock=theme.runtime.clock)


def health(theme: Any) -> Health:
    """The platform's readiness checks, plus the primary database through the same
    ``theme.db`` policy the use cases use: not ready while it is cut or its breaker open."""
    checks = standard_health(theme.runtime)

    async def database() -> bool:
        await theme.themes.guarded(theme.runtime.store.fetch, "SELECT 1")
        return True

    checks.check("database", database)
    return checks


def build_app(theme: Any) -> FastAPI:
    app = create_app(
        theme.runtime,
        ROUTERS,
        title="theme service",
        tenants=tenant_resolver(theme),
        exempt=(csp.REPORT_PATH, previews.PREVIEW_PATH),
        inner_middleware=[(RequestTenant, {})],
        health=health(theme),
        # A repeated request with its Idempotency-Key gets the first answer (principle 3).
        idempotency=theme.runtime.switches.enabled("theme.switch.idempotency-key"),
    )
    app.state.theme = theme
    app.add_middleware(csp.CspHeader, switches=theme.runtime.switches)
    return app
