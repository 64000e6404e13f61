"""SCORM imports: upload a zip (the request body, streamed), follow it, re-drive it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ._service import authoring, tenant_of

router = APIRouter(prefix="/v1", tags=["imports"])


def _importer(request: Request) -> Any:
    importer = authoring(request).importer
    assert importer is not None
    return importer


@router.post(
    "/imports",
    status_code=202,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def upload(request: Request) -> JSONResponse:
    """Stream a SCORM zip; over the tenant's cap (500 MiB by default) it is rejected at
    once (413 "rejected — too large"); otherwise it is queued for import (202)."""
    answer = await _importer(request).upload(tenant_of(request), request.stream())
    return JSONResponse(answer, status_code=202)


@router.get("/imports/{import_id}")
async def get_import(request: Request, import_id: str) -> dict[str, Any]:
    result: dict[str, Any] = await _importer(request).get(tenant_of(request), import_id)
    return result


@router.post("/imports/{import_id}/retry")
async def redrive(request: Request, import_id: str) -> dict[str, Any]:
    result: dict[str, Any] = await _importer(request).redrive(tenant_of(request), import_id)
    return result
