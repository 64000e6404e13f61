"""Drafts and the publish saga over HTTP (the author's side)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse

from ..domain.manifest import Manifest
from ._service import content_of, tenant_of

router = APIRouter(tags=["publish"])


@router.put("/v1/drafts/{draft_id}")
async def save_draft(draft_id: str, manifest: Manifest, request: Request) -> dict[str, Any]:
    """Store an approved draft's manifest (what the authoring service hands over)."""
    _check_id(draft_id)
    return await content_of(request).publisher.save_draft(tenant_of(request), draft_id, manifest)


@router.get("/v1/drafts/{draft_id}")
async def get_draft(draft_id: str, request: Request) -> dict[str, Any]:
    return await content_of(request).publisher.draft(tenant_of(request), draft_id)


@router.post("/v1/drafts/{draft_id}/publish", status_code=202)
async def publish(draft_id: str, request: Request) -> JSONResponse:
    """Start the publish saga; poll ``/v1/publishes/{id}`` or the draft for its end."""
    answer = await content_of(request).publisher.request(tenant_of(request), draft_id)
    return JSONResponse(answer, status_code=202)


@router.get("/v1/publishes/{publish_id}")
async def publish_status(publish_id: str, request: Request) -> dict[str, Any]:
    return await content_of(request).publisher.status(tenant_of(request), publish_id)


@router.get("/v1/packages/{package_id}")
async def package(package_id: str, request: Request) -> dict[str, Any]:
    return await content_of(request).publisher.package(tenant_of(request), package_id)


@router.get(
    "/v1/packages/{package_id}/content",
    response_class=StreamingResponse,
    responses={206: {"description": "the requested byte range"}},
)
async def package_content(package_id: str, request: Request) -> StreamingResponse:
    """The package bytes; ``Range: bytes=N-`` resumes an interrupted download (206)."""
    content = content_of(request)
    found = await content.publisher.package(tenant_of(request), package_id)
    key = f"packages/{tenant_of(request)}/{package_id}/content.bin"
    size = int(found["size"])
    start, end = parse_range(request.headers.get("range"), size)
    headers = {
        "accept-ranges": "bytes",
        "content-length": str(end - start),
        "x-content-sha256": str(found["contentSha256"]),
    }
    status = 200
    if request.headers.get("range"):
        status = 206
        headers["content-range"] = f"bytes {start}-{end - 1}/{size}"
    chunks = content.runtime.objects.read(key, start, end)
    return StreamingResponse(
        chunks, status_code=status, headers=headers, media_type="application/octet-stream"
    )


def parse_range(header: str | None, size: int) -> tuple[int, int]:
    """``bytes=a-b`` / ``bytes=a-`` / ``bytes=-n`` as [start, end); 416 when unsatisfiable."""
    from services.kit.errors import ServiceError

    if not header:
        return 0, size
    unit, _, spec = header.partition("=")
    first, dash, last = spec.strip().partition("-")
    try:
        if unit.strip() != "bytes" or not dash or "," in spec:
            raise ValueError(header)
        if first:
            start, end = int(first), (int(last) + 1 if last else size)
        else:
            start, end = max(0, size - int(last)), size
    except ValueError:
        raise ServiceError(
            "CONTENT.DOWNLOAD.BAD_RANGE", f"cannot read the Range {header!r}", status=416
        ) from None
    end = min(end, size)
    if start < 0 or start >= end:
        raise ServiceError(
            "CONTENT.DOWNLOAD.BAD_RANGE", f"the Range {header!r} is outside 0-{size}", status=416
        )
    return start, end


@router.get("/v1/builds/{package_id}")
async def build(package_id: str, request: Request) -> dict[str, Any]:
    """The package's build: ``built`` with the builder's peak RSS, or ``parked`` for review."""
    return await content_of(request).publisher.build(tenant_of(request), package_id)


@router.get("/v1/alerts")
async def alerts(request: Request, audience: str = "author") -> list[dict[str, Any]]:
    """Alerts raised for the tenant's authors (failed publishes) or admins (parked builds)."""
    return await content_of(request).publisher.alerts(tenant_of(request), audience)


def _check_id(value: str) -> None:
    from services.kit.errors import ServiceError

    if not (0 < len(value) <= 128) or not value.replace("-", "").replace("_", "").isalnum():
        raise ServiceError(
            "CONTENT.DRAFT.BAD_ID", "a draft id is 1-128 letters, digits, '-' or '_'"
        )
