"""Preview links over HTTP: create, open (no tenant: the token is the authority), revoke."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request

from ._service import tenant_of, theme_of

router = APIRouter(tags=["previews"])
PREVIEW_PATH = "/preview/"
ThemeId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")]
Token = Annotated[str, Path(min_length=1, max_length=200)]


@router.post("/v1/themes/{theme_id}/preview-links", status_code=201)
async def create_link(theme_id: ThemeId, request: Request) -> dict[str, Any]:
    result: dict[str, Any] = await theme_of(request).previews.create(tenant_of(request), theme_id)
    return result


@router.post("/v1/preview-links/revoke-all")
async def revoke_all(request: Request) -> dict[str, Any]:
    """Invalidate every preview link of the tenant (runbooks/sev3-preview-leak.md)."""
    result: dict[str, Any] = await theme_of(request).previews.revoke_all(tenant_of(request))
    return result


@router.get(
    PREVIEW_PATH + "{token}",
    responses={
        403: {"description": "address blocked"},
        404: {"description": "no such link"},
        429: {"description": "rate limited"},
    },
)
async def open_link(token: Token, request: Request) -> dict[str, Any]:
    ip = request.client.host if request.client else "unknown"
    result: dict[str, Any] = await theme_of(request).previews.open(token, ip)
    return result
