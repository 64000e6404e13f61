"""The CDN port: a fake caching edge in front of the origin, with the HTTP shape of a
signed-URL CDN (the edge checks the URL's signature and expiry itself), a purge API,
single-range requests for resuming, and scripting to fail (5xx), throttle or cut a
transfer. A miss fills from the origin over HTTP and is kept only when its bytes match
the hash carried in the signed URL (seed 1.10: "CDN validates"). Its copies live in a
:class:`~.cdn_cache.CdnCache` (memory, or local files indexed in Redis)."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

import mitigate
from mitigate.web import parse_range

from .cdn_cache import CdnCache, MemoryCdnCache


class FakeCdn:
    def __init__(
        self,
        signer: mitigate.UrlSigner,
        origin: httpx.AsyncClient,
        clock: mitigate.Clock,
        cache: CdnCache | None = None,
    ) -> None:
        self.signer = signer
        self.origin = origin
        self.clock = clock
        self.cache: CdnCache = cache or MemoryCdnCache()
        self.fail_status = 0  # e.g. 503: every request answered with it
        self.cut_fraction = 0.0  # the next full transfer stops after this share of the object
        self.cut_stall = 0.0  # seconds the cut transfer stalls before it dies
        self.cut_transfers = 1  # how many transfers in a row the cut applies to
        self.hits = 0
        self.fills = 0
        self.purges: list[str] = []
        self.refusals: list[str] = []  # error codes of 403 answers (expired, invalid URLs)

    async def corrupt(self, key: str) -> None:
        """Plant poison in the cache (chaos): flip a byte of the cached copy."""
        await self.cache.corrupt(key)

    async def holds(self, key: str) -> bool:
        return await self.cache.get(key) is not None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        response = await self._handle(request)
        await response(scope, receive, send)

    async def _handle(self, request: Request) -> Response:
        if request.method == "POST" and request.url.path == "/purge":
            body: dict[str, Any] = await request.json()
            key = str(body.get("key", ""))
            await self.cache.purge(key)
            self.purges.append(key)
            return JSONResponse({"purged": key})
        if self.fail_status:
            return JSONResponse({"error": "edge unavailable"}, self.fail_status)
        path = request.url.path
        try:
            target = self.signer.verify(path, request.url.query)
        except mitigate.SignedUrlError as err:
            self.refusals.append(err.code)
            return JSONResponse({"code": err.code, "message": str(err)}, 403)
        key = path.removeprefix("/objects/")
        data = await self.cache.get(key)
        if data is None:
            fill = await self.origin.get(f"{path}?{request.url.query}")
            if fill.status_code != 200:
                return JSONResponse({"error": "origin refused"}, 502)
            if hashlib.sha256(fill.content).digest() != target.sha256:
                return JSONResponse({"error": "origin bytes do not match the URL's hash"}, 502)
            data = fill.content
            await self.cache.put(key, data)
            self.fills += 1
        else:
            self.hits += 1
        return self._serve(request, data, target.etag)

    def _serve(self, request: Request, data: bytes, etag: str) -> Response:
        size = len(data)
        start, end, status = 0, size - 1, 200
        wanted = request.headers.get("range")
        if wanted and request.headers.get("if-range", etag) == etag:
            parsed = parse_range(wanted, size)
            if parsed is False:
                return Response(status_code=416, headers={"content-range": f"bytes */{size}"})
            if parsed is not None:
                start, end, status = parsed[0], parsed[1], 206
        headers = {"etag": etag, "accept-ranges": "bytes", "content-length": str(end - start + 1)}
        if status == 206:
            headers["content-range"] = f"bytes {start}-{end}/{size}"
        body = data[start : end + 1]
        if self.cut_fraction and status == 200:  # a first transfer; resumes go through
            body = body[: int(size * self.cut_fraction)]
            self.cut_transfers -= 1
            if self.cut_transfers <= 0:
                self.cut_fraction, self.cut_transfers = 0.0, 1
            return StreamingResponse(self._stalled(body), status, headers=headers)
        return Response(body, status, headers=headers)

    async def _stalled(self, body: bytes) -> Any:
        yield body
        await self.clock.asleep(self.cut_stall)  # the slow link, then the connection dies
