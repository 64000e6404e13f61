"""Dispatches: ask for a message to be sent, read how it went."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from services.kit.errors import ServiceError

from ._service import comms_of, tenant_of

router = APIRouter(tags=["dispatches"])

Name = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")


class DispatchRequest(BaseModel):
    category: str = Name
    channel: Literal["sms", "push", "email"]
    template: str = Name
    to: str = Field(
        min_length=1, max_length=256, description="phone number, device token or email address"
    )
    vars: dict[str, str] = Field(default_factory=dict, max_length=32)


@router.post("/v1/dispatches", status_code=202)
async def create_dispatch(body: DispatchRequest, request: Request) -> JSONResponse:
    """Queue one message; the worker renders its template and sends it."""
    view = await comms_of(request).dispatcher.create(tenant_of(request), body.model_dump())
    return JSONResponse(view, status_code=202)


@router.get("/v1/dispatches/{dispatch_id}")
async def get_dispatch(dispatch_id: str, request: Request) -> JSONResponse:
    """The dispatch; from the read replica while the primary database is away
    (``x-served-by: replica``), or still waiting in the preflight store."""
    comms = comms_of(request)
    tenant = tenant_of(request)
    found, source = await comms.failover.read(
        lambda store: comms.dispatcher.get(tenant, dispatch_id, store)
    )
    if found is None:
        waiting = await comms.failover.waiting(tenant, dispatch_id)
        found, source = (waiting[0], "preflight") if waiting else (None, source)
    if found is None:
        raise ServiceError("COMMS.DISPATCH.UNKNOWN", f"no dispatch {dispatch_id}", status=404)
    return JSONResponse(found, headers={"x-served-by": source})


@router.get("/v1/dispatches")
async def list_dispatches(
    request: Request,
    state: Literal[
        "queued",
        "sent",
        "delivered",
        "unknown",
        "held",
        "blocked",
        "halted",
        "bounced",
        "suppressed",
        "failed",
        "preflight",
    ]
    | None = None,
) -> JSONResponse:
    """The tenant's dispatches (from the read replica while the primary is away), then
    those still waiting in the preflight store."""
    comms = comms_of(request)
    tenant = tenant_of(request)
    found, source = await comms.failover.read(
        lambda store: comms.dispatcher.listing(tenant, state, store=store)
    )
    if state in (None, "preflight"):
        found = [*found, *await comms.failover.waiting(tenant)]
    return JSONResponse(found, headers={"x-served-by": source})
