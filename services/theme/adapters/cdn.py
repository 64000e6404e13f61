"""The CDN port: purge cached objects by tag over HTTP, and a fake CDN server with the
same HTTP shape (``POST /purge`` with ``{"tags": [...]}``) that a test can make hang or
fail. The client is the production code; only the server is a stand-in."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

__all__ = ["CdnClient", "FakeCdn"]


class CdnClient:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def purge(self, tag: str) -> None:
        answer = await self.http.post("/purge", json={"tags": [tag]})
        answer.raise_for_status()

    async def aclose(self) -> None:
        await self.http.aclose()


@dataclass
class FakeCdn:
    """Records purges; ``hang_next`` purge requests sleep ``hang`` seconds on ``clock``
    first, and ``fail_all`` answers every purge with 503."""

    clock: Any
    hang_next: int = 0
    hang: float = 30.0
    fail_all: bool = False
    purged: list[tuple[float, str]] = field(default_factory=list)
    requests: int = 0
    app: FastAPI = field(init=False)

    def __post_init__(self) -> None:
        self.app = FastAPI(title="fake CDN")

        @self.app.post("/purge")
        async def purge(request: Request) -> JSONResponse:
            body = await request.json()
            self.requests += 1
            if self.hang_next > 0:
                self.hang_next -= 1
                await self.clock.asleep(self.hang)
            if self.fail_all:
                return JSONResponse({"error": "purge backend unavailable"}, status_code=503)
            for tag in body.get("tags", []):
                self.purged.append((self.clock.now(), str(tag)))
            return JSONResponse({"purged": body.get("tags", [])})
