"""The tenant's request limiter: take one token of a key's limit per window."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Request

from services.kit.errors import ServiceError

from ._service import edge_of, tenant_of

router = APIRouter(tags=["limits"])

KEY = r"^[a-z0-9][a-z0-9_-]{0,63}$"


@router.post("/v1/limits/{key}/take")
async def take(request: Request, key: str = Path(pattern=KEY)) -> dict[str, Any]:
    """One token, or 429 when the key's limit for this window is spent."""
    edge = edge_of(request)
    tenant = tenant_of(request)
    caller = request.headers.get("x-caller", request.client.host if request.client else "")
    limit = await edge.tenant_limit(tenant, "requests_per_minute", 600)
    result: dict[str, Any] = await edge.limiters.take(f"{tenant}:{key}", caller, limit)
    if not result["allowed"]:
        raise ServiceError(
            "EDGE.LIMIT.EXCEEDED", f"limit of {limit} per minute spent", status=429, retry_after=60
        )
    return result
