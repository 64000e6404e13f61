"""The AI co-author: write an AI block into a draft; the tenant's AI budget status."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from ._service import authoring, tenant_of

router = APIRouter(prefix="/v1", tags=["ai"])


class AiRequest(BaseModel):
    prompt: str = Field(min_length=1, max_length=4000)
    consent: bool = False  # the user agrees to the local model when the cloud one fails


@router.post("/drafts/{draft_id}/ai-blocks", status_code=201)
async def ai_block(request: Request, draft_id: str, spec: AiRequest) -> dict[str, Any]:
    coauthor = authoring(request).coauthor
    assert coauthor is not None
    return await coauthor.write(tenant_of(request), draft_id, spec.prompt, consent=spec.consent)


@router.get("/ai/budget")
async def ai_budget(request: Request) -> dict[str, Any]:
    coauthor = authoring(request).coauthor
    assert coauthor is not None
    return await coauthor.budget(tenant_of(request))
