"""The tenant's side of tenant events: default-theme provisioning and onboarding steps."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from ._service import tenant_of, theme_of

router = APIRouter(tags=["tenants"])


@router.get("/v1/provisioning")
async def provisioning(request: Request) -> dict[str, Any]:
    """Whether the tenant's default theme was provisioned (or its event is in the DLQ)."""
    result: dict[str, Any] = await theme_of(request).provisioning.status(tenant_of(request))
    return result


@router.get("/v1/onboarding")
async def onboarding(request: Request) -> dict[str, Any]:
    """The onboarding steps of the tenant as recorded (a brand step may be degraded)."""
    steps = await theme_of(request).onboarding.steps(tenant_of(request))
    return {"tenant": tenant_of(request), "steps": steps}
