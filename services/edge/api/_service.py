"""How a route reaches the edge service and checks the operator token."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from services.kit.errors import ServiceError

__all__ = ["edge_of", "require_ops", "tenant_of"]


def edge_of(request: Request) -> Any:
    return request.app.state.edge


def tenant_of(request: Request) -> str:
    return str(request.state.tenant.id)


def require_ops(request: Request) -> None:
    if request.headers.get("x-ops-token") != edge_of(request).settings.ops_token:
        raise ServiceError("EDGE.OPS.FORBIDDEN", "operator token missing or wrong", status=403)
