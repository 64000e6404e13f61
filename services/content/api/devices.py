"""Devices, offline bundles, licences and sync."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from ..devices import ContentError
from ..domain.bundles import BundleStatus
from ._errors import answer, side, tenant_of

router = APIRouter(tags=["devices"])


class DeviceIn(BaseModel):
    device_id: str = Field(min_length=1, max_length=200)
    tenant: str = Field(min_length=1, max_length=200)
    public_key: str | None = None
    push_token: str = ""


class BundleIn(BaseModel):
    course_id: str = Field(min_length=1, max_length=200)


class SyncIn(BaseModel):
    cursor: int = Field(default=0, ge=0)
    tamper_reports: list[dict[str, Any]] = Field(default_factory=list)


@router.post("/v1/devices", status_code=201)
async def register_device(body: DeviceIn, request: Request) -> JSONResponse:
    def run() -> dict[str, Any]:
        tenant = tenant_of(request)
        if tenant is not None and tenant != body.tenant:
            raise ContentError(
                "CONTENT.DEVICE.TENANT_MISMATCH",
                f"device {body.device_id}: tenant {body.tenant!r} is not this request's tenant",
            )
        existing = side(request).devices.get(body.device_id)
        if existing is not None and existing.tenant != body.tenant:
            raise ContentError(
                "CONTENT.DEVICE.TAKEN", f"device id {body.device_id} is registered elsewhere", 409
            )
        d = side(request).register(body.device_id, body.tenant, body.public_key, body.push_token)
        return {"deviceId": d.device_id, "tenant": d.tenant}

    return await answer(request, run, 201)


@router.post("/v1/devices/{device_id}/bundles")
async def request_bundle(device_id: str, body: BundleIn, request: Request) -> JSONResponse:
    response = await answer(
        request, lambda: side(request).request_bundle(device_id, body.course_id), device=device_id
    )
    if response.status_code == 200 and b'"preparing"' in bytes(response.body):
        response.status_code = 202  # accepted: built by the worker, learner sees "preparing"
    return response


@router.get("/v1/devices/{device_id}/bundles/{bundle_id}")
async def bundle_status(device_id: str, bundle_id: str, request: Request) -> JSONResponse:
    def run() -> dict[str, Any]:
        s = side(request)
        s.device(device_id)
        s.owned_bundle(device_id, bundle_id)
        view = s.bundle_view(bundle_id)
        if view["status"] == BundleStatus.READY.value:
            s.mark_fetched(view["licenseId"])
        return view

    return await answer(request, run, device=device_id)


@router.post("/v1/devices/{device_id}/sync")
async def sync(device_id: str, body: SyncIn, request: Request) -> JSONResponse:
    return await answer(
        request,
        lambda: side(request).sync(device_id, body.cursor, body.tamper_reports),
        device=device_id,
    )


@router.get("/v1/licenses/{license_id}/status")
async def license_status(license_id: str, request: Request) -> JSONResponse:
    record = side(request).licenses.get(license_id)
    owner = None if record is None else record.device_id
    return await answer(request, lambda: side(request).license_status(license_id), device=owner)


@router.post("/ops/bundles/{bundle_id}/revoke")
async def revoke(bundle_id: str, request: Request) -> JSONResponse:
    return await answer(request, lambda: side(request).revoke(bundle_id), operator=True)


@router.post("/ops/devices/{device_id}/restore")
async def restore(device_id: str, request: Request) -> JSONResponse:
    def run() -> dict[str, Any]:
        side(request).device_any(device_id)
        side(request).restore_device(device_id)
        return {"deviceId": device_id, "trusted": True}

    return await answer(request, run, operator=True)


@router.put("/ops/courses/{course_id}/offline-source", status_code=204)
async def offline_source(course_id: str, request: Request) -> JSONResponse:
    body = await request.body()
    response = await answer(
        request, lambda: side(request).add_course(course_id, body), operator=True
    )
    return response if response.status_code != 200 else JSONResponse(None, 204)
