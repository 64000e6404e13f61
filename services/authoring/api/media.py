"""Media previews for the editor: the bytes through the CDN, or a redirect to the origin."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from ._service import authoring, tenant_of

router = APIRouter(prefix="/v1", tags=["media"])


@router.get("/media/{asset}/preview", response_model=None)
async def preview(request: Request, asset: str) -> Response:
    previews = authoring(request).previews
    assert previews is not None
    content, origin_url = await previews.get(tenant_of(request), asset)
    if content is not None:
        return Response(content, media_type="application/octet-stream", headers={"x-via": "cdn"})
    assert origin_url is not None
    return RedirectResponse(origin_url, status_code=307)
