"""The asset source: where a course's media are read from while its package is built.

Embedded: one folder per tenant under ``root`` (production: the media store, the same
port). Reading streams in chunks; a missing asset is permanent (never retried).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from services.kit.calls import PermanentError

__all__ = ["AssetMissingError", "LocalAssets"]

CHUNK = 1 << 20


class AssetMissingError(PermanentError):
    code = "CONTENT.ASSET.MISSING"

    def __init__(self, tenant: str, name: str) -> None:
        super().__init__(f"[{self.code}] asset {name!r} of tenant {tenant!r} does not exist")
        self.name = name


class LocalAssets:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, tenant: str, name: str) -> Path:
        # Names are validated by the manifest model (simple relative segments).
        return self.root / tenant / name

    async def size(self, tenant: str, name: str) -> int:
        path = self.path(tenant, name)
        if not path.is_file():
            raise AssetMissingError(tenant, name)
        return path.stat().st_size

    async def read(self, tenant: str, name: str) -> AsyncIterator[bytes]:
        path = self.path(tenant, name)
        if not path.is_file():
            raise AssetMissingError(tenant, name)
        with open(path, "rb") as f:  # noqa: ASYNC230 (local disk, chunked)
            while chunk := f.read(CHUNK):
                yield chunk
