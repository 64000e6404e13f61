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


class ReplayRequest(BaseModel):
    ids: list[int] = Field(min_length=1, max_length=1000)


@router.get("/ops/dlq", responses={403: {"description": "no operator token"}})
async def dead_letters(request: Request) -> list[dict[str, Any]]:
    """Dead entries of the tenant-event inbox (runbooks/inbox-dlq.md)."""
    _require_operator(request)
    entries = await theme_of(request).provisioning.dlq.entries()
    return [
        {
            "id": e.id,
            "source": e.source,
            "msgId": e.msg_id,
            "subject": e.subject,
            "reason": e.reason,
            "attempts": e.attempts,
            "state": e.state,
        }
        for e in entries
    ]


@router.post("/ops/dlq/replay", responses={403: {"description": "no operator token"}})
async def replay_dead_letters(body: ReplayRequest, request: Request) -> dict[str, Any]:
    """Send DLQ entries again (through the outbox), after the fix."""
    _require_operator(request)
    replayed = await theme_of(request).provisioning.dlq.replay(body.ids)
    return {"replayed": replayed}
