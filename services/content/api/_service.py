"""How routes reach the content service and the request's tenant."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from services.kit.errors import ServiceError


def content_of(request: Request) -> Any:
    return request.app.state.content


def tenant_of(request: Request) -> str:
    tenant = getattr(request.state, "tenant", None)
    if tenant is None:
        raise ServiceError("CONTENT.TENANT.MISSING", "name the tenant in x-tenant-id")
    return str(tenant.id)


def require_operator(request: Request) -> None:
    token = request.headers.get("x-ops-token", "")
    if not token or token != content_of(request).settings.ops_token:
        raise ServiceError("CONTENT.OPS.FORBIDDEN", "operator token missing or wrong", status=403)
