"""Delivery-receipt callbacks: a provider tells the service what became of a message."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, Field

from ._service import comms_of

router = APIRouter(tags=["receipts"])


class Receipt(BaseModel):
    receipt_id: str = Field(alias="receiptId", min_length=1, max_length=128)
    reference: str = Field(min_length=1, max_length=128, description="the dispatch id")
    status: Literal["delivered", "failed", "expired"]


Provider = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]{0,31}$")]


async def admitted(provider: Provider, request: Request) -> str:
    """Counted and rate-limited per provider before the body is read."""
    await comms_of(request).receipts.admit(provider)
    return provider


@router.post("/v1/receipts/{provider}")
async def receipt(
    body: Receipt, request: Request, provider: Annotated[str, Depends(admitted)]
) -> dict[str, Any]:
    """Apply one receipt (a repeat of the same receipt id changes nothing)."""
    applied = await comms_of(request).receipts.apply(
        provider, body.receipt_id, body.reference, body.status
    )
    return {"receiptId": body.receipt_id, "applied": applied}
