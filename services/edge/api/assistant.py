"""The AI assistant of the resolved tenant, through the gateway (budgets, fallback)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from ._service import edge_of, tenant_of

router = APIRouter(tags=["assistant"])


class Prompt(BaseModel):
    prompt: str = Field(min_length=1, max_length=4000)


@router.post("/v1/assistant/answer")
async def answer(request: Request, body: Prompt) -> dict[str, Any]:
    """An answer from the primary model, or the fallback model (``fallback: true``)."""
    result: dict[str, Any] = await edge_of(request).ai.answer(tenant_of(request), body.prompt)
    return result
