"""How routes reach the comms service, the request's tenant and the operator check."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from services.kit.errors import ServiceError


def comms_of(request: Request) -> Any:
    return request.app.state.comms


def tenant_of(request: Request) -> str:
    tenant = getattr(request.state, "tenant", None)
    if tenant is None:
        raise ServiceError("COMMS.TENANT.MISSING", "name the tenant in x-tenant-id")
    return str(tenant.id)


def require_operator(request: Request) -> None:
    token = request.headers.get("x-ops-token", "")
    if not token or token != comms_of(request).settings.ops_token:
        raise ServiceError("COMMS.OPS.FORBIDDEN", "operator token missing or wrong", status=403)
