"""SCORM imports: upload a zip (the request body), see an import, and the operator's
clearing of a tenant's importer block."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ._service import content_of, require_operator, tenant_of

router = APIRouter(tags=["imports"])


@router.post(
    "/v1/imports",
    status_code=201,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def upload(request: Request) -> JSONResponse:
    """Import a SCORM zip. A hostile archive is quarantined (422) and the tenant's importer
    is blocked (423 on later uploads) until an operator clears it."""
    answer = await content_of(request).importer.upload(tenant_of(request), request.stream())
    return JSONResponse(answer, status_code=201)


@router.get("/v1/imports/{import_id}")
async def get_import(import_id: str, request: Request) -> dict[str, Any]:
    return await content_of(request).importer.get(tenant_of(request), import_id)


@router.get("/ops/importer-blocks")
async def blocks(request: Request) -> dict[str, str]:
    require_operator(request)
    return await content_of(request).importer.blocked()  # type: ignore[no-any-return]


@router.post("/ops/importer-blocks/{tenant}/clear")
async def clear(tenant: str, request: Request) -> dict[str, Any]:
    """An operator reviewed the quarantine: the tenant may import again."""
    require_operator(request)
    return await content_of(request).importer.clear(tenant)  # type: ignore[no-any-return]
