"""How routes reach the theme service and the request's tenant."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from services.kit.errors import ServiceError


def theme_of(request: Request) -> Any:
    return request.app.state.theme


def tenant_of(request: Request) -> str:
    tenant = getattr(request.state, "tenant", None)
    if tenant is None:
        raise ServiceError("MELMASTOON.TENANT.MISSING", "name the tenant in x-tenant-id")
    return str(tenant.id)
