"""Operator routes: hot reload of the tenant configs (a bad set keeps the last valid one)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from services.kit.errors import ServiceError

from ..domain.tenant_config import InvalidConfigError
from ._service import edge_of, require_ops

router = APIRouter(tags=["ops"])


@router.post("/ops/tenants/reload")
async def reload_tenants(request: Request) -> dict[str, Any]:
    """Validate and load the tenant config folder; on any problem nothing changes."""
    require_ops(request)
    edge = edge_of(request)
    try:
        configs = await edge.directory.load()
    except InvalidConfigError as exc:
        raise ServiceError(
            "EDGE.CONFIG.INVALID",
            f"tenant config rejected, last valid config kept: {exc}",
            status=422,
        ) from exc
    return {"tenants": sorted(c.id for c in configs)}


@router.post("/ops/pool/scale-to-zero")
async def scale_to_zero(request: Request) -> dict[str, Any]:
    """Stop every warm worker instance (the next request of each tenant starts cold,
    unless the keep-warm loop re-warmed it)."""
    require_ops(request)
    edge_of(request).pool.scale_to_zero()
    return {"warm": 0}
