"""The publish command, a publish's saga state, and the author's alerts."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from ._service import authoring, tenant_of

router = APIRouter(prefix="/v1", tags=["publish"])


@router.post("/drafts/{draft_id}/publish", status_code=202)
async def publish(request: Request, draft_id: str) -> dict[str, Any]:
    return await authoring(request).publisher.request(tenant_of(request), draft_id)


@router.get("/publishes/{publish_id}")
async def publish_status(request: Request, publish_id: str) -> dict[str, Any]:
    return await authoring(request).publisher.status(tenant_of(request), publish_id)


@router.get("/alerts")
async def alerts(request: Request, audience: str = Query("author", max_length=16)) -> Any:
    return await authoring(request).publisher.alerts(tenant_of(request), audience)
