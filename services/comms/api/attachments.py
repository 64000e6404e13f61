"""Attachments: upload through the API, or through a pre-signed upload URL."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from ._service import comms_of, tenant_of

router = APIRouter(tags=["attachments"])


class UrlRequest(BaseModel):
    size: int = Field(ge=1, description="bytes the client will upload")


@router.post("/v1/attachments")
async def upload(request: Request) -> JSONResponse:
    """The body is the attachment; over ``max_upload_size`` it is refused with 413."""
    stored = await comms_of(request).attachments.store(tenant_of(request), request.stream())
    return JSONResponse(stored, status_code=201)


@router.post("/v1/attachments/upload-url")
async def upload_url(body: UrlRequest, request: Request) -> dict[str, Any]:
    """A pre-signed URL to PUT at most ``size`` bytes (over the limit: 413)."""
    url = comms_of(request).attachments.upload_url(tenant_of(request), body.size)
    return {"url": url, "maxSize": body.size}


@router.put("/uploads/{tenant}/{upload}/{granted}")
async def signed_upload(tenant: str, upload: str, granted: str, request: Request) -> JSONResponse:
    """Upload through a pre-signed URL (its signature is the authority, no tenant header)."""
    stored = await comms_of(request).attachments.upload(
        request.url.path, request.url.query, request.stream()
    )
    return JSONResponse(stored, status_code=201)


@router.get("/v1/attachments/{attachment_id}")
async def download(attachment_id: str, request: Request) -> Response:
    """The attachment's bytes once its virus scan found it clean; 409 while the scan is
    pending, 403 when it found something."""
    data = await comms_of(request).scanning.download(tenant_of(request), attachment_id)
    return Response(data, media_type="application/octet-stream")
