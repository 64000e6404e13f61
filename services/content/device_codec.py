"""The device side's entities as JSON rows (kind, id, data) and back, for the state store."""

from __future__ import annotations

import base64
from dataclasses import asdict
from typing import Any

from .domain.bundles import BundleRequest, BundleStatus
from .domain.licenses import LicenseRecord
from .domain.sync import Delta


def b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode()


def unb64(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text)


def request_data(request: BundleRequest) -> dict[str, Any]:
    return {
        "tenant": request.tenant,
        "device_id": request.device_id,
        "course_id": request.course_id,
    }


def request_from(data: dict[str, Any]) -> BundleRequest:
    return BundleRequest(data["tenant"], data["device_id"], data["course_id"])


def device_data(device: Any) -> dict[str, Any]:
    return {
        "device_id": device.device_id,
        "tenant": device.tenant,
        "public_key": b64(device.public_key),
        "push_token": device.push_token,
        "seq_seen": device.seq_seen,
    }


def bundle_data(bundle: Any) -> dict[str, Any]:
    return {
        "request": request_data(bundle.request),
        "status": bundle.status.value,
        "version": bundle.version,
        "object_key": bundle.object_key,
        "sha256": b64(bundle.sha256),
        "envelope": bundle.envelope,
        "sealed_key": b64(bundle.sealed_key),
        "license_id": bundle.license_id,
        "reason": bundle.reason,
        "flagged": bundle.flagged,
    }


def bundle_fields(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "request": request_from(data["request"]),
        "status": BundleStatus(data["status"]),
        "version": data["version"],
        "object_key": data["object_key"],
        "sha256": unb64(data["sha256"]) or b"",
        "envelope": data["envelope"],
        "sealed_key": unb64(data["sealed_key"]) or b"",
        "license_id": data["license_id"],
        "reason": data["reason"],
        "flagged": data["flagged"],
    }


def job_data(job: Any) -> dict[str, Any]:
    # A job that was running when the process stopped runs again: it is queued.
    state = "queued" if job.state == "running" else job.state
    return {
        "job_id": job.job_id,
        "request": request_data(job.request),
        "state": state,
        "reason": job.reason,
        "parked_at": job.parked_at,
        "runs": job.runs,
    }


def license_data(record: LicenseRecord, token: str) -> dict[str, Any]:
    return {**asdict(record), "token": token}


def license_from(data: dict[str, Any]) -> tuple[LicenseRecord, str]:
    fields = {k: v for k, v in data.items() if k != "token"}
    return LicenseRecord(**fields), data["token"]


def delta_data(device_id: str, delta: Delta) -> dict[str, Any]:
    return {
        "device": device_id,
        "kind": delta.kind,
        "id": delta.id,
        "data": delta.data,
        "seq": delta.seq,
    }


def delta_from(data: dict[str, Any]) -> tuple[str, Delta]:
    return data["device"], Delta(data["kind"], data["id"], data["data"], data["seq"])
