"""Drafts and their blocks: create, read, retitle, add a block, approve."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from ._service import authoring, tenant_of

router = APIRouter(prefix="/v1", tags=["drafts"])


class NewDraft(BaseModel):
    title: str = Field(min_length=1, max_length=200)


class NewBlock(BaseModel):
    kind: str = Field(min_length=1, max_length=64)
    body: dict[str, Any] = Field(default_factory=dict)
    media: list[str] = Field(default_factory=list, max_length=100)
    aiProvenance: dict[str, Any] | None = None  # noqa: N815 (the API's field name)
    # The client's id for this write: a resend after a lost answer adds no second block.
    operationId: str | None = Field(  # noqa: N815 (the API's field name)
        default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$"
    )


@router.post("/drafts", status_code=201)
async def create_draft(request: Request, spec: NewDraft) -> dict[str, Any]:
    return await authoring(request).drafts.create(tenant_of(request), spec.title)


@router.get("/drafts/{draft_id}")
async def get_draft(request: Request, draft_id: str) -> dict[str, Any]:
    return await authoring(request).drafts.get(tenant_of(request), draft_id)


@router.patch("/drafts/{draft_id}")
async def edit_draft(request: Request, draft_id: str, spec: NewDraft) -> dict[str, Any]:
    return await authoring(request).drafts.edit(tenant_of(request), draft_id, spec.title)


@router.post("/drafts/{draft_id}/blocks", status_code=201)
async def add_block(request: Request, draft_id: str, spec: NewBlock) -> dict[str, Any]:
    drafts = authoring(request).drafts
    return await drafts.add_block(tenant_of(request), draft_id, spec.model_dump())


@router.post("/drafts/{draft_id}/approve")
async def approve(request: Request, draft_id: str) -> dict[str, Any]:
    return await authoring(request).drafts.approve(tenant_of(request), draft_id)
