"""Attachments with a size cap at two layers (comms.fm.17).

The gateway layer (:class:`UploadCap`, the place of Kong's limit) refuses an upload whose
``Content-Length`` is over ``max_upload_size`` before reading a byte. The service layer
streams the body into the object store and stops at the first chunk past the cap (a body
sent without a length, or a gateway that let it through): 413, and no partial object (an
object-store put is atomic). Pre-signed upload URLs carry the cap in their signed path: a
client that sends more than it was granted gets 413 the same way.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, ClassVar

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

import mitigate
from services.kit.errors import ServiceError

__all__ = ["Attachments", "UploadCap", "UploadRefused"]

UPLOADS = "/uploads/"
_NO_DIGEST = bytes(32)  # an upload URL is not bound to content it has not seen yet


@dataclass(frozen=True, slots=True, kw_only=True)
class UploadRefused(mitigate.Event):
    name: ClassVar[str] = "comms.upload_refused"
    layer: str = ""
    size: int = 0


class UploadCap:
    """Refuse an upload whose declared length is over the cap, before reading its body."""

    def __init__(self, app: ASGIApp, *, comms: Any) -> None:
        self.app = app
        self.comms = comms

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] == "http" and (path == "/v1/attachments" or path.startswith(UPLOADS)):
            attachments = self.comms.attachments
            if attachments is not None and attachments.on("gateway"):
                declared = dict(scope.get("headers") or []).get(b"content-length")
                cap = attachments.cap
                if declared is not None and declared.isdigit() and int(declared) > cap:
                    attachments.refused("gateway", int(declared))
                    message = f"upload of {int(declared)} bytes is over the {cap}-byte limit"
                    # Outside the envelope middleware (the gateway's place): its own trace id.
                    trace = uuid.uuid4().hex
                    response = JSONResponse(
                        {"code": "COMMS.UPLOAD.TOO_LARGE", "message": message, "traceId": trace},
                        status_code=413,
                        headers={"x-trace-id": trace},
                    )
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)


class Attachments:
    def __init__(self, runtime: Any, *, cap: int, secret: bytes, switches: dict[str, str]) -> None:
        self.runtime = runtime
        self.cap = cap
        self.switches = switches
        self.signer = mitigate.UrlSigner(secret, clock=runtime.clock)
        self.scanning: Any = None  # Scanning: admits uploads, scans each before download

    def on(self, what: str) -> bool:
        return bool(self.runtime.switches.enabled(self.switches[what]))

    def refused(self, layer: str, size: int) -> None:
        self.runtime.emit(
            UploadRefused(
                target=f"uploads.{layer}", at=self.runtime.clock.now(), layer=layer, size=size
            )
        )

    async def _capped(
        self, body: AsyncIterator[bytes], limit: int, layer: str
    ) -> AsyncIterator[bytes]:
        seen = 0
        async for chunk in body:
            seen += len(chunk)
            if seen > limit and self.on(layer):
                self.refused(layer, seen)
                raise ServiceError(
                    "COMMS.UPLOAD.TOO_LARGE", f"upload is over the {limit}-byte limit", status=413
                )
            yield chunk

    async def store(
        self,
        tenant: str,
        body: AsyncIterator[bytes],
        *,
        limit: int | None = None,
        key: str | None = None,
        layer: str = "service",
    ) -> dict[str, Any]:
        if self.scanning is not None:
            await self.scanning.admit()  # before a byte is read
        key = key or f"attachments/{tenant}/a-{uuid.uuid4().hex[:16]}"
        info = await self.runtime.objects.put(key, self._capped(body, limit or self.cap, layer))
        attachment = key.rsplit("/", 1)[1]
        if self.scanning is not None:
            await self.scanning.accepted(tenant, attachment, key)
        return {
            "id": attachment,
            "key": key,
            "size": info.size,
            "sha256": info.sha256,
            "scan": "pending",
        }

    def upload_url(self, tenant: str, size: int) -> str:
        if size > self.cap:
            self.refused("signed-url", size)
            raise ServiceError(
                "COMMS.UPLOAD.TOO_LARGE",
                f"{size} bytes is over the {self.cap}-byte limit",
                status=413,
            )
        path = f"{UPLOADS}{tenant}/u-{uuid.uuid4().hex[:16]}/max-{size}"
        return self.signer.sign(path, _NO_DIGEST)

    async def upload(self, path: str, query: str, body: AsyncIterator[bytes]) -> dict[str, Any]:
        try:
            self.signer.verify(path, query)
        except mitigate.SignedUrlError as exc:
            raise ServiceError("COMMS.UPLOAD.URL_REFUSED", str(exc), status=403) from None
        _, _, tenant, upload, granted = path.split("/")
        limit = int(granted.removeprefix("max-"))
        key = f"attachments/{tenant}/{upload}"
        return await self.store(tenant, body, limit=limit, key=key, layer="signed-url")
