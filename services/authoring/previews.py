"""Media previews for the editor: through the CDN, or from the origin by signed URL.

The CDN is called through the ``media.preview`` pipeline (an attempt timeout, so an edge
that hangs fails fast). When it fails, the editor is redirected to the origin: a URL
signed for this object's path and SHA-256, valid 10 minutes, served by the service's
``/origin`` mount (authoring.fallback.3). The next preview tries the CDN again.
"""

from __future__ import annotations

from typing import Any

import httpx

import mitigate
from services.kit.errors import ServiceError

__all__ = ["ORIGIN", "Previews", "preview_key"]

ORIGIN = "/origin"


def preview_key(tenant: str, asset: str) -> str:
    return f"previews/{tenant}/{asset}"


class Previews:
    def __init__(self, runtime: Any, cdn: httpx.AsyncClient, signer: mitigate.UrlSigner) -> None:
        self.rt = runtime
        self.cdn = cdn
        self.signer = signer
        self.fallback = runtime.switches.enabled("authoring.switch.preview-origin")

    async def get(self, tenant: str, asset: str) -> tuple[bytes | None, str | None]:
        """``(content, None)`` from the CDN, or ``(None, signed origin URL)``."""
        key = preview_key(tenant, asset)
        if not await self.rt.objects.exists(key):
            raise ServiceError("AUTHORING.PREVIEW.NOT_FOUND", f"no preview of {asset}", status=404)
        try:
            content: bytes = await self.rt.policy("media.preview").acall(self._via_cdn, key)
            return content, None
        except Exception as exc:  # the CDN failed, hung past its timeout, or refused
            if not self.fallback:
                raise ServiceError(
                    "AUTHORING.PREVIEW.UNAVAILABLE",
                    f"the preview CDN failed ({type(exc).__name__})",
                    status=503,
                    retry_after=30,
                ) from exc
            reason = type(exc).__name__
        info = await self.rt.objects.stat(key)
        assert info is not None
        url = self.signer.sign(f"{ORIGIN}/{key}", bytes.fromhex(info.sha256))
        self.rt.emit(
            mitigate.FallbackUsed(
                target="media.preview", at=self.rt.clock.now(), reason=reason, source="origin"
            )
        )
        return None, url

    async def _via_cdn(self, key: str) -> bytes:
        response = await self.cdn.get(f"/{key}")
        if response.status_code != 200:
            raise ConnectionError(f"CDN answered {response.status_code}")
        return response.content
