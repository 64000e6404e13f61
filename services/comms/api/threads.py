"""Message threads and their participants (users of the thread's tenant only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from ._service import comms_of, tenant_of

router = APIRouter(tags=["threads"])

Ident = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")


class UserRequest(BaseModel):
    user: str = Ident


class ThreadRequest(BaseModel):
    patient: str = Ident


@router.post("/v1/users", status_code=201)
async def register_user(body: UserRequest, request: Request) -> dict[str, Any]:
    """Put a user (clinician, patient) in the tenant's directory."""
    return await comms_of(request).participants.register(tenant_of(request), body.user)  # type: ignore[no-any-return]


@router.post("/v1/threads", status_code=201)
async def open_thread(body: ThreadRequest, request: Request) -> dict[str, Any]:
    return await comms_of(request).participants.open_thread(tenant_of(request), body.patient)  # type: ignore[no-any-return]


@router.post("/v1/threads/{thread_id}/participants")
async def add_participant(thread_id: str, body: UserRequest, request: Request) -> JSONResponse:
    """Add a user of this tenant to the thread; a user of another tenant is refused (403)."""
    added = await comms_of(request).participants.add(tenant_of(request), thread_id, body.user)
    return JSONResponse(added, status_code=201)


@router.get("/v1/threads/{thread_id}/participants")
async def participants(thread_id: str, request: Request) -> list[str]:
    return await comms_of(request).participants.listing(tenant_of(request), thread_id)  # type: ignore[no-any-return]
