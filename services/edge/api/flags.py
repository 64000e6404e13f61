"""Feature flags of the resolved tenant: read through KV (a failed read is a miss served
from the store), written to the store first, then to KV (a failed KV write is reported)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field

from services.kit.errors import ServiceError

from ._service import edge_of, tenant_of

router = APIRouter(tags=["flags"])

NAME = r"^[a-z0-9][a-z0-9_.-]{0,63}$"


class FlagValue(BaseModel):
    value: str = Field(max_length=1024)


@router.get("/v1/flags/{name}")
async def read_flag(
    request: Request,
    name: str = Path(pattern=NAME),
    location: str = Query("", max_length=32),
) -> dict[str, Any]:
    """The flag as the edge at ``location`` sees it (``servedFrom``: kv or source)."""
    result: dict[str, Any] = await edge_of(request).flags.read(
        tenant_of(request), name, location=location
    )
    if result["value"] is None:
        raise ServiceError("EDGE.FLAG.NOT_FOUND", f"no flag {name}", status=404)
    return result


@router.put("/v1/flags/{name}")
async def write_flag(
    request: Request, body: FlagValue, name: str = Path(pattern=NAME)
) -> dict[str, Any]:
    """Set a flag: stored, then copied to KV (``kv``: written or write-failed)."""
    result: dict[str, Any] = await edge_of(request).flags.write(
        tenant_of(request), name, body.value
    )
    return result
