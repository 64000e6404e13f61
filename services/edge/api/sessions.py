"""Chat sessions of the resolved tenant: append a message; read the whole history."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, Field

from ._service import edge_of, tenant_of

router = APIRouter(tags=["sessions"])

SESSION = r"^[a-z0-9][a-z0-9_-]{0,63}$"


class Message(BaseModel):
    text: str = Field(min_length=1, max_length=4000)


@router.post("/v1/sessions/{session}/messages", status_code=201)
async def append_message(
    request: Request, body: Message, session: str = Path(pattern=SESSION)
) -> dict[str, Any]:
    """Append a message; older messages over the cap move to the archive."""
    result: dict[str, Any] = await edge_of(request).chat.append(
        tenant_of(request), session, body.text
    )
    return result


@router.get("/v1/sessions/{session}")
async def session_history(request: Request, session: str = Path(pattern=SESSION)) -> dict[str, Any]:
    """Archived and live messages, archives checked against their digests."""
    result: dict[str, Any] = await edge_of(request).chat.history(tenant_of(request), session)
    return result
