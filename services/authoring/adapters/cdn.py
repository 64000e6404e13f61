"""The media preview CDN: a caching HTTP layer in front of the origin (the object store).

:class:`FakeCdn` has the HTTP shape of a pull CDN: ``GET /previews/{tenant}/{asset}`` is
served from its cache, filled from the origin on a miss (``fills`` counts them). Scripted
down (``down = True``), it behaves as a CDN edge that lost its backend: each request hangs
60 s, then ``504``.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

__all__ = ["HANG", "FakeCdn"]

HANG = 60.0  # seconds a downed edge holds a request before its 504


class FakeCdn:
    def __init__(self, objects: Any, clock: Any) -> None:
        self.objects = objects
        self.clock = clock
        self.down = False
        self.fills = 0
        self.requests = 0
        self.cache: dict[str, bytes] = {}
        self.app = Starlette(routes=[Route("/previews/{key:path}", self._get, methods=["GET"])])

    async def _get(self, request: Request) -> Response:
        self.requests += 1
        if self.down:
            await self.clock.asleep(HANG)
            return Response("edge timeout", status_code=504)
        key = f"previews/{request.path_params['key']}"
        if key not in self.cache:
            if not await self.objects.exists(key):
                return Response("not found", status_code=404)
            self.cache[key] = await self.objects.get(key)
            self.fills += 1
        return Response(self.cache[key], media_type="application/octet-stream")
