"""The collaborative document through plain requests: the editor's session (collab or
single-user), the document, single-user saves, the repair tool. The WebSocket itself is
served by the collab processes (``/collab/{process}/v1/collab/{draft}``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from ._service import authoring, tenant_of

router = APIRouter(prefix="/v1", tags=["collab"])


class Editor(BaseModel):
    user: str = Field(min_length=1, max_length=64)
    # In single-user mode, take the draft if free (false: only looking for collab).
    hold: bool = True


class Save(BaseModel):
    user: str = Field(min_length=1, max_length=64)
    text: str = Field(max_length=100_000)
    version: int = Field(ge=0)  # the document version the edit was made on


async def _documents(request: Request, draft_id: str) -> Any:
    service = authoring(request)
    await service.drafts.get(tenant_of(request), draft_id)  # 404 for another tenant's draft
    return service.documents


@router.post("/drafts/{draft_id}/editor")
async def open_editor(request: Request, draft_id: str, spec: Editor) -> dict[str, Any]:
    """Where to edit: a collab process, or single-user mode when none answers."""
    documents = await _documents(request, draft_id)
    result: dict[str, Any] = await documents.session(draft_id, spec.user, hold=spec.hold)
    return result


@router.get("/drafts/{draft_id}/document")
async def get_document(request: Request, draft_id: str) -> dict[str, Any]:
    documents = await _documents(request, draft_id)
    result: dict[str, Any] = await documents.document(draft_id)
    return result


@router.put("/drafts/{draft_id}/document/blocks/{key}")
async def save_block(request: Request, draft_id: str, key: str, spec: Save) -> dict[str, Any]:
    """A single-user save, made on ``version`` (412 when the document moved on)."""
    documents = await _documents(request, draft_id)
    result: dict[str, Any] = await documents.save(draft_id, spec.user, key, spec.text, spec.version)
    return result


@router.post("/drafts/{draft_id}/document/repair")
async def repair(request: Request, draft_id: str) -> dict[str, Any]:
    """Rebuild on a staging copy; promote only if the staging run succeeded."""
    documents = await _documents(request, draft_id)
    result: dict[str, Any] = await documents.repair(draft_id)
    return result
