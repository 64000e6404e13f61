"""The object-store port: put, stat, read (with ranges), delete, list; atomic and by key.

Two adapters: :class:`LocalObjects` (files under a root, the embedded default) and
:class:`~services.kit.s3.S3Objects` (the S3 protocol). Both stream: ``put`` takes an
iterator of chunks and hashes them with SHA-256 as they pass, ``read`` yields chunks.
A put is atomic (a reader sees the old object or the new one, never a partial file) and
putting the same key again replaces it, so a retried upload leaves one object.

Fault points where the disk itself fails (chaos plants them through the run's injector):
``objects.disk.write`` (ENOSPC, permission denied: raise the ``OSError`` the kernel would,
after part of the bytes were written) and ``objects.disk.read`` (corruption: the bytes read
are passed through the fault's ``corrupt``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from .errors import ServiceError

__all__ = [
    "CHUNK",
    "DISK_READ",
    "DISK_WRITE",
    "LocalObjects",
    "ObjectInfo",
    "ObjectStore",
    "open_objects",
]

CHUNK = 1 << 20
DISK_WRITE = "objects.disk.write"
DISK_READ = "objects.disk.read"

Chunks = bytes | Iterable[bytes] | AsyncIterable[bytes]


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str
    size: int
    sha256: str


class ObjectStore(Protocol):
    async def put(self, key: str, data: Chunks) -> ObjectInfo: ...
    async def stat(self, key: str) -> ObjectInfo | None: ...
    async def exists(self, key: str) -> bool: ...
    async def size(self, key: str) -> int | None: ...
    def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]: ...
    async def get(self, key: str) -> bytes: ...
    async def delete(self, key: str) -> None: ...
    async def list(self, prefix: str = "") -> list[str]: ...
    async def aclose(self) -> None: ...


async def iter_chunks(data: Chunks) -> AsyncIterator[bytes]:
    """Any of bytes, an iterable or an async iterable of chunks, as an async iterator."""
    if isinstance(data, bytes | bytearray | memoryview):
        yield bytes(data)
    elif isinstance(data, AsyncIterable):
        async for chunk in data:
            yield chunk
    else:
        for chunk in data:
            yield chunk


def check_key(key: str) -> str:
    """Keys are relative paths of safe segments: no ``..``, no absolute path, no NUL."""
    parts = key.split("/")
    if not key or key.startswith("/") or "\x00" in key or any(p in ("", ".", "..") for p in parts):
        raise ServiceError("PLATFORM.OBJECTS.BAD_KEY", f"object key {key!r} is not a safe path")
    return key


class LocalObjects:
    """Objects as files under ``root``; written to a temporary file, fsynced, then renamed.

    ``injector`` (a fault injector with ``decide(target, now)``) and ``clock`` enable the
    disk fault points; production passes neither.
    """

    def __init__(self, root: str | Path, *, injector: Any = None, clock: Any = None) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._tmp = self.root / ".tmp"
        self._tmp.mkdir(exist_ok=True)
        self.injector = injector
        self.clock = clock
        self.writes = 0  # puts that reached the disk (a breaker's "no call while open")

    def __repr__(self) -> str:
        return f"LocalObjects({str(self.root)!r})"

    def path(self, key: str) -> Path:
        return self.root / check_key(key)

    def _fault(self, target: str) -> Any:
        if self.injector is None:
            return None
        now = self.clock.now() if self.clock is not None else 0.0
        return self.injector.decide(target, now)

    async def put(self, key: str, data: Chunks) -> ObjectInfo:
        final = self.path(key)
        self.writes += 1
        tmp = self._tmp / f"{uuid.uuid4().hex}.part"
        digest = hashlib.sha256()
        size = 0
        fault = self._fault(DISK_WRITE)
        try:
            # Local disk: short sequential writes; a thread per chunk would cost more.
            with open(tmp, "wb") as out:  # noqa: ASYNC230
                async for chunk in iter_chunks(data):
                    out.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
                    if fault is not None and fault.error is not None:
                        raise fault.error  # the disk fills up (or refuses) mid-write
                out.flush()
                os.fsync(out.fileno())
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, final)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        return ObjectInfo(key, size, digest.hexdigest())

    async def stat(self, key: str) -> ObjectInfo | None:
        path = self.path(key)
        if not path.is_file():
            return None
        digest = hashlib.sha256()
        async for chunk in self.read(key):
            digest.update(chunk)
        return ObjectInfo(key, path.stat().st_size, digest.hexdigest())

    async def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    async def size(self, key: str) -> int | None:
        path = self.path(key)
        return path.stat().st_size if path.is_file() else None

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """The bytes ``[start, end)`` of the object, in chunks."""
        path = self.path(key)
        if not path.is_file():
            raise ServiceError("PLATFORM.OBJECTS.NOT_FOUND", f"no object {key!r}", status=404)
        fault = self._fault(DISK_READ)
        if fault is not None and fault.error is not None:
            raise fault.error
        with open(path, "rb") as f:  # noqa: ASYNC230 (local disk, chunked)
            f.seek(start)
            left = None if end is None else max(0, end - start)
            while left is None or left > 0:
                chunk = f.read(CHUNK if left is None else min(CHUNK, left))
                if not chunk:
                    break
                if left is not None:
                    left -= len(chunk)
                if fault is not None and fault.corrupt is not None:
                    chunk = fault.corrupt(chunk)
                yield chunk

    async def get(self, key: str) -> bytes:
        return b"".join([c async for c in self.read(key)])

    async def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(key).unlink()

    async def list(self, prefix: str = "") -> list[str]:
        keys = []
        for path in self.root.rglob("*"):
            if path.is_file() and self._tmp not in path.parents:
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    async def aclose(self) -> None:
        return None


def open_objects(url: str, *, injector: Any = None, clock: Any = None) -> ObjectStore:
    """The object store a URL names: ``file:///dir`` or ``s3://bucket?endpoint=...``."""
    parts = urlsplit(url)
    if parts.scheme in ("", "file"):
        return LocalObjects(parts.netloc + parts.path, injector=injector, clock=clock)
    if parts.scheme == "s3":
        from .s3 import S3Objects

        return S3Objects.from_url(url)
    raise ServiceError(
        "PLATFORM.CONFIG.OBJECTS",
        f"unknown object store URL {url!r}; use file:///dir or s3://bucket?endpoint=http://...",
        status=500,
    )
