"""Operator commands: the manual CDN purge of the runbook, and the purge queue."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, Field

from services.kit.errors import ServiceError

from ._service import theme_of

router = APIRouter(tags=["ops"])


class PresetState(BaseModel):
    active: bool


class PurgeRequest(BaseModel):
    tag: str = Field(min_length=1, max_length=200)


def _require_operator(request: Request) -> None:
    token = request.headers.get("x-ops-token", "")
    if not token or token != theme_of(request).settings.ops_token:
        raise ServiceError(
            "MELMASTOON.OPS.FORBIDDEN", "operator token missing or wrong", status=403
        )


@router.post("/ops/cdn/purge", responses={403: {"description": "no operator token"}})
async def manual_purge(body: PurgeRequest, request: Request) -> dict[str, Any]:
    """Purge one cache tag now (runbooks/cdn-invalidation.md)."""
    _require_operator(request)
    await theme_of(request).purges.purge_now(body.tag)
    return {"purged": body.tag}


@router.put("/ops/layout-presets/{key}", responses={403: {"description": "no operator token"}})
async def set_layout_preset(
    key: Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")],
    body: PresetState,
    request: Request,
) -> dict[str, Any]:
    """The front-end platform's registry: activate or deactivate a layout preset."""
    _require_operator(request)
    result: dict[str, Any] = await theme_of(request).themes.set_preset(key, body.active)
    return result
