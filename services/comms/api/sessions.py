"""Virtual sessions: start a patient's video session; read the patient's fallback threads."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from services.kit.errors import ServiceError

from ._service import comms_of, tenant_of

router = APIRouter(tags=["sessions"])

Patient = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")


class SessionRequest(BaseModel):
    patient: str = Patient


@router.post("/v1/sessions")
async def start_session(body: SessionRequest, request: Request) -> JSONResponse:
    """201 with the room when it opened; 200 with ``state: failed`` and the message
    thread the patient continues in when it could not."""
    started = await comms_of(request).sessions.start(tenant_of(request), body.patient)
    return JSONResponse(started, status_code=201 if started["state"] == "live" else 200)


@router.get("/v1/patients/{patient}/threads")
async def threads(patient: str, request: Request) -> list[dict[str, Any]]:
    return await comms_of(request).sessions.threads(tenant_of(request), patient)  # type: ignore[no-any-return]


class JoinRequest(BaseModel):
    token: str = Field(min_length=1, max_length=2048)


@router.post("/v1/sessions/{session_id}/join")
async def join(session_id: str, body: JoinRequest, request: Request) -> dict[str, Any]:
    """Join with a token the service signed for this session (401 when it does not verify)."""
    return await comms_of(request).tokens.join(tenant_of(request), session_id, body.token)  # type: ignore[no-any-return]


@router.post("/v1/sessions/{session_id}/end")
async def end(session_id: str, request: Request) -> dict[str, Any]:
    """End the session: its room closes and its recording is ingested."""
    ended = await comms_of(request).sessions.end(tenant_of(request), session_id)
    if ended is None:
        raise ServiceError("COMMS.SESSION.UNKNOWN", f"no session {session_id}", status=404)
    return ended  # type: ignore[no-any-return]


class ReadRequest(BaseModel):
    participant: str = Patient


@router.post("/v1/threads/{thread_id}/reads")
async def mark_read(thread_id: str, body: ReadRequest, request: Request) -> dict[str, Any]:
    """A read receipt, stamped by the worker named in ``x-worker`` (default: the first)."""
    comms = comms_of(request)
    worker = request.headers.get("x-worker") or comms.settings.receipt_workers[0]
    return await comms.reads.read(tenant_of(request), thread_id, body.participant, worker)  # type: ignore[no-any-return]


@router.get("/v1/threads/{thread_id}/reads")
async def reads(thread_id: str, request: Request) -> list[dict[str, Any]]:
    """Read receipts in commit order."""
    return await comms_of(request).reads.listing(tenant_of(request), thread_id)  # type: ignore[no-any-return]


@router.get("/v1/appointments")
async def appointments(request: Request) -> list[dict[str, Any]]:
    """Appointments booked by the scheduling service, each with its one session."""
    return await comms_of(request).scheduling.appointments(tenant_of(request))  # type: ignore[no-any-return]
