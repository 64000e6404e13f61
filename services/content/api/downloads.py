"""Signed download URLs (CDN or origin) and CDN integrity reports."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from ._errors import answer, side

router = APIRouter(tags=["downloads"])


class UrlIn(BaseModel):
    via: str = "cdn"


@router.post("/v1/devices/{device_id}/bundles/{bundle_id}/url")
async def signed_url(device_id: str, bundle_id: str, body: UrlIn, request: Request) -> JSONResponse:
    via = "origin" if body.via == "origin" else "cdn"
    return await answer(
        request, lambda: side(request).download_url(device_id, bundle_id, via), device=device_id
    )


@router.post("/v1/devices/{device_id}/bundles/{bundle_id}/cdn-integrity")
async def cdn_integrity(device_id: str, bundle_id: str, request: Request) -> JSONResponse:
    return await answer(
        request, lambda: side(request).cdn_integrity_failure(device_id, bundle_id), device=device_id
    )
