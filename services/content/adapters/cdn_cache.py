"""Where the fake CDN edge keeps its copies: in memory (the embedded default), or as an
edge does, objects on local disk named by their SHA-256 with the index (object key ->
digest) in Redis, so the cache rows run against the real Redis under
``--backend ...+redis``. A digest in the index whose file is gone is a miss."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any, Protocol

__all__ = ["CdnCache", "MemoryCdnCache", "RedisIndexedCdnCache"]


class CdnCache(Protocol):
    async def get(self, key: str) -> bytes | None: ...

    async def put(self, key: str, data: bytes) -> None: ...

    async def purge(self, key: str) -> None: ...

    async def corrupt(self, key: str) -> None:
        """Chaos: flip a byte of the cached copy (poison inside the CDN layer)."""
        ...

    async def aclose(self) -> None: ...


class MemoryCdnCache:
    def __init__(self) -> None:
        self.copies: dict[str, bytes] = {}

    async def get(self, key: str) -> bytes | None:
        return self.copies.get(key)

    async def put(self, key: str, data: bytes) -> None:
        self.copies[key] = data

    async def purge(self, key: str) -> None:
        self.copies.pop(key, None)

    async def corrupt(self, key: str) -> None:
        data = bytearray(self.copies[key])
        data[len(data) // 2] ^= 0xFF
        self.copies[key] = bytes(data)

    async def aclose(self) -> None:
        self.copies.clear()


class RedisIndexedCdnCache:
    """Copies in ``folder`` by digest; the index is the Redis hash ``index``."""

    def __init__(self, redis: Any, folder: Path, index: str) -> None:
        self.redis = redis
        self.folder = folder
        self.index = index
        folder.mkdir(parents=True, exist_ok=True)

    async def get(self, key: str) -> bytes | None:
        digest = await self.redis.hget(self.index, key)
        if digest is None:
            return None
        path = self.folder / digest.decode()
        return path.read_bytes() if path.exists() else None

    async def put(self, key: str, data: bytes) -> None:
        digest = hashlib.sha256(data).hexdigest()
        path = self.folder / digest
        if not path.exists():  # write whole or not at all: a reader never sees half a copy
            fd, tmp = tempfile.mkstemp(dir=self.folder)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        await self.redis.hset(self.index, key, digest)

    async def purge(self, key: str) -> None:
        await self.redis.hdel(self.index, key)

    async def corrupt(self, key: str) -> None:
        digest = await self.redis.hget(self.index, key)
        path = self.folder / digest.decode()
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))

    async def aclose(self) -> None:
        await self.redis.delete(self.index)
        await self.redis.aclose()
