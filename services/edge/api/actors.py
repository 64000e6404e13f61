"""Counters actors of the resolved tenant: each key is one single-writer actor."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Path, Query, Request
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

    edge = edge_of(request)
    before = (await edge.actors.state(_actor(tenant, key))).get("counters", {})
    try:
        counters = await edge.actors.call(_actor(tenant, key), tenant, "apply", method)
    except LedgerError as exc:
        raise ServiceError("EDGE.COUNTERS.INVALID_OPERATION", str(exc), status=422) from exc
    if not edge.runtime.switches.enabled("edge.switch.state-off-kv"):
        # The mutation: session state copied to KV and read back from it.
        await edge.kv.put(_actor(tenant, key), json.dumps(counters), previous=json.dumps(before))
    return {"key": key, "counters": counters}


@router.get("/v1/counters/{key}")
async def read_counters(
    request: Request, key: str = Path(pattern=KEY), location: str = Query("", max_length=32)
) -> dict[str, Any]:
    """The actor's state: read from the actor's store, never from eventually consistent
    KV, so a read after a write sees it at every location."""
    edge = edge_of(request)
    actor = _actor(tenant_of(request), key)
    if not edge.runtime.switches.enabled("edge.switch.state-off-kv"):

        async def from_actor() -> str | None:
            return json.dumps((await edge.actors.state(actor)).get("counters", {}))

        raw, _ = await edge.kv.get(actor, from_actor, location=location)
        return {"key": key, "counters": json.loads(raw or "{}")}
    state = await edge.actors.state(actor)
    return {"key": key, "counters": state.get("counters", {})}
