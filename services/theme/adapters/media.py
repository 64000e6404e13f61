"""A fake of the file-storage (media) service: it keeps files in the shared object store
(the origin) and announces deletions as ``media.deleted.v1``, as the real one does."""

from __future__ import annotations

import json
from typing import Any

import mitigate

from ..assets import DELETED, media_key

__all__ = ["FakeMedia"]


class FakeMedia:
    def __init__(self, runtime: Any) -> None:
        self.rt = runtime

    async def upload(self, tenant: str, asset: str, data: bytes) -> None:
        await self.rt.objects.put(media_key(tenant, asset), data)

    def deleted(self, tenant: str, asset: str) -> mitigate.Message:
        body = {"tenant": tenant, "assetId": asset}
        return mitigate.Message(
            self.rt.settings.subject(DELETED),
            json.dumps(body).encode(),
            id=f"media.deleted:{tenant}:{asset}",
            key=f"{tenant}/{asset}",
        )

    async def delete(self, tenant: str, asset: str, *, announce: bool = True) -> None:
        """Delete the file; announce it unless the deletion is a silent one."""
        await self.rt.objects.delete(media_key(tenant, asset))
        if announce:
            await self.rt.bus.publish(self.deleted(tenant, asset))
