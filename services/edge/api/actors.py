"""Counters actors of the resolved tenant: each key is one single-writer actor."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, Field

from services.kit.errors import ServiceError

from ..domain.ledger import LedgerError, Operation, apply
from ._service import edge_of, tenant_of

router = APIRouter(tags=["actors"])

KEY = r"^[a-z0-9][a-z0-9_-]{0,63}$"


class Operations(BaseModel):
    operations: list[Operation] = Field(min_length=1, max_length=100)


def _actor(tenant: str, key: str) -> str:
    return f"{tenant}:counters:{key}"


@router.post("/v1/counters/{key}/apply")
async def apply_operations(
    request: Request, body: Operations, key: str = Path(pattern=KEY)
) -> dict[str, Any]:
    """Apply the operations in order, all or nothing (one transaction per call)."""
    tenant = tenant_of(request)

    async def method(state: dict[str, Any], tx: Any) -> dict[str, int]:
        return apply(state, body.operations)

    try:
        counters = await edge_of(request).actors.call(_actor(tenant, key), tenant, "apply", method)
    except LedgerError as exc:
        raise ServiceError("EDGE.COUNTERS.INVALID_OPERATION", str(exc), status=422) from exc
    return {"key": key, "counters": counters}


@router.get("/v1/counters/{key}")
async def read_counters(request: Request, key: str = Path(pattern=KEY)) -> dict[str, Any]:
    state = await edge_of(request).actors.state(_actor(tenant_of(request), key))
    return {"key": key, "counters": state.get("counters", {})}
