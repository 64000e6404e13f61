"""An ASGI app that serves objects behind signed URLs, with HTTP ranges for resuming.

``GET /objects/<key>?sha256=..&exp=..&sig=..``: the URL is verified first (403 with
``MITIGATE.URL.EXPIRED`` or ``MITIGATE.URL.INVALID`` otherwise). The object's SHA-256 must
equal the one in the URL (409 ``MITIGATE.URL.CONTENT_CHANGED`` and a tamper event
otherwise), and is its strong ETag. ``Range: bytes=a-b`` is answered 206 (one range;
416 when it cannot be satisfied); with ``If-Range`` the range is honoured only when the
validator is that ETag, else the whole object is sent (RFC 9110 §13.1.5).

>>> import httpx, asyncio, tempfile, pathlib
>>> from mitigate.clock import VirtualClock
>>> from mitigate.integrity.signed_url import UrlSigner
>>> from mitigate.integrity.digests import sha256
>>> root = pathlib.Path(tempfile.mkdtemp()); _ = (root / "a.bin").write_bytes(b"0123456789")
>>> signer = UrlSigner(b"s" * 32, clock=VirtualClock())
>>> app = SignedObjectApp(signer, LocalObjects(root))
>>> url = signer.sign("/objects/a.bin", sha256(b"0123456789"))
>>> async def get(headers):
...     async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
...                                  base_url="http://t") as client:
...         r = await client.get(url, headers=headers)
...         return r.status_code, r.content, r.headers.get("content-range")
>>> asyncio.run(get({"range": "bytes=4-"}))
(206, b'456789', 'bytes 4-9/10')

.. versionadded:: 0.1
"""

from __future__ import annotations

import base64
import os
import re
import threading
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal, Protocol

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from mitigate.clock import Clock, default_clock
from mitigate.integrity import errors as codes
from mitigate.integrity.digests import sha256_file
from mitigate.integrity.errors import SignedUrlError
from mitigate.integrity.signed_url import UrlSigner
from mitigate.observe.events import TamperDetected
from mitigate.observe.observers import Observer, Observers

__all__ = ["LocalObjects", "ObjectInfo", "ObjectSource", "SignedObjectApp", "parse_range"]

CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    size: int
    sha256: bytes


class ObjectSource(Protocol):
    """Where objects come from: their size and digest, and a binary file to read."""

    def stat(self, key: str) -> ObjectInfo | None: ...
    def open(self, key: str) -> BinaryIO: ...


class LocalObjects:
    """Objects as files under ``root``; digests cached per (inode, size, mtime)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        self._digests: dict[str, tuple[tuple[int, int, int], bytes]] = {}
        self._lock = threading.Lock()

    def _path(self, key: str) -> Path | None:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root) or not path.is_file():
            return None
        return path

    def stat(self, key: str) -> ObjectInfo | None:
        path = self._path(key)
        if path is None:
            return None
        st = path.stat()
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        with self._lock:
            cached = self._digests.get(key)
        if cached is not None and cached[0] == stamp:
            return ObjectInfo(st.st_size, cached[1])
        digest = sha256_file(path)
        with self._lock:
            self._digests[key] = (stamp, digest)
        return ObjectInfo(st.st_size, digest)

    def open(self, key: str) -> BinaryIO:
        path = self._path(key)
        if path is None:
            raise FileNotFoundError(key)
        return open(path, "rb")


_DIGITS = re.compile(r"[0-9]+")


def parse_range(header: str, size: int) -> tuple[int, int] | Literal[False] | None:
    """Read a single byte range: ``(start, end_inclusive)``, ``None`` to ignore it and
    send everything, or ``False`` when it cannot be satisfied (answer 416).

    >>> parse_range("bytes=0-99", 1000), parse_range("bytes=900-", 1000)
    ((0, 99), (900, 999))
    >>> parse_range("bytes=-100", 1000), parse_range("bytes=1000-", 1000)
    ((900, 999), False)
    >>> parse_range("bytes=0-1,5-6", 1000) is None, parse_range("items=1-2", 1000) is None
    (True, True)
    >>> parse_range("bytes=\xb2-", 1000) is None  # a superscript two is not a digit here
    True
    """
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None  # multi-range or other units: serve the full representation
    first, dash, last = spec.strip().partition("-")
    # ASCII digits only: str.isdigit() accepts "²" and "١", which int() refuses or reads.
    if not dash or not (_DIGITS.fullmatch(first) or _DIGITS.fullmatch(last)):
        return None
    if (first and not _DIGITS.fullmatch(first)) or (last and not _DIGITS.fullmatch(last)):
        return None
    if not first:  # suffix range: the last N bytes
        n = int(last)
        if n == 0 or size == 0:
            return False
        return (max(size - n, 0), size - 1)
    start = int(first)
    end = int(last) if last else size - 1
    if start >= size:
        return False
    if end < start:
        return None
    return (start, min(end, size - 1))


class SignedObjectApp:
    """The ASGI app; mount it at ``prefix`` (default ``/objects``).

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        signer: UrlSigner,
        objects: ObjectSource,
        *,
        prefix: str = "/objects",
        chunk: int = CHUNK,
        clock: Clock | None = None,
        observers: Iterable[Observer] = (),
        target: str = "objects.get",
    ) -> None:
        self.signer = signer
        self.objects = objects
        self.prefix = prefix.rstrip("/") + "/"
        self.chunk = chunk
        self.clock = clock or signer.clock or default_clock()
        self.observers = observers if isinstance(observers, Observers) else Observers(observers)
        self.target = target

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        response = await self._handle(request)
        await response(scope, receive, send)

    async def _handle(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return _error(405, "MITIGATE.URL.METHOD", "only GET and HEAD", {"allow": "GET, HEAD"})
        path = request.url.path
        try:
            target = self.signer.verify(path, request.url.query)
        except SignedUrlError as exc:
            return _error(403, exc.code, str(exc))
        if not path.startswith(self.prefix):
            return _error(404, "MITIGATE.URL.NOT_FOUND", "no such object")
        key = path[len(self.prefix) :]
        info = await anyio.to_thread.run_sync(self.objects.stat, key)
        if info is None:
            return _error(404, "MITIGATE.URL.NOT_FOUND", "no such object")
        if info.sha256 != target.sha256:
            if self.observers:
                self.observers.emit(
                    TamperDetected(
                        target=self.target,
                        at=self.clock.now(),
                        subject=path,
                        reason=codes.URL_CONTENT_CHANGED,
                    )
                )
            return _error(
                409,
                codes.URL_CONTENT_CHANGED,
                f"{path}: the object no longer matches the hash in its URL; request a fresh URL",
            )
        etag = target.etag
        headers = {
            "accept-ranges": "bytes",
            "etag": etag,
            "cache-control": "private, no-transform",
            "repr-digest": f"sha-256=:{_b64(info.sha256)}:",
        }
        start, end, status = 0, info.size - 1, 200
        range_header = request.headers.get("range")
        if range_header is not None and _if_range_matches(request.headers.get("if-range"), etag):
            wanted = parse_range(range_header, info.size)
            if wanted is False:
                headers["content-range"] = f"bytes */{info.size}"
                return Response(status_code=416, headers=headers)
            if wanted:
                start, end = wanted
                status = 206
                headers["content-range"] = f"bytes {start}-{end}/{info.size}"
        length = max(end - start + 1, 0)
        headers["content-length"] = str(length)
        if request.method == "HEAD":
            return Response(status_code=status, headers=headers)
        return StreamingResponse(
            self._body(key, start, length),
            status_code=status,
            headers=headers,
            media_type="application/octet-stream",
        )

    async def _body(self, key: str, start: int, length: int) -> AsyncIterator[bytes]:
        f = await anyio.to_thread.run_sync(self.objects.open, key)
        try:
            if start:
                await anyio.to_thread.run_sync(f.seek, start, os.SEEK_SET)
            left = length
            while left > 0:
                block = await anyio.to_thread.run_sync(f.read, min(self.chunk, left))
                if not block:
                    break
                left -= len(block)
                yield block
        finally:
            f.close()


def _if_range_matches(value: str | None, etag: str) -> bool:
    # No If-Range: honour the Range. A date or a weak tag never matches (strong compare).
    return value is None or value.strip() == etag


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"code": code, "message": message}, status_code=status, headers=headers)
