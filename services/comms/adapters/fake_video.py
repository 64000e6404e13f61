"""A fake video-room provider (Jitsi-like) with two pools, ``a`` and ``b``:

- ``POST /pools/{pool}/rooms`` ``{"room"}`` -> 201 ``{"room", "pool", "url"}``;
- ``DELETE /pools/{pool}/rooms/{room}`` -> 204 (the room is closed, its participants out).

Faults: ``down`` (pools answering 503: unreachable behind their load balancer) and
``failing_rooms`` (room names that fail on every pool: one patient's rooms)."""

from __future__ import annotations

import json

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

__all__ = ["FakeVideoPools"]


class FakeVideoPools:
    def __init__(self) -> None:
        self.down: set[str] = set()
        self.failing_rooms: set[str] = set()
        self.rooms: dict[str, str] = {}  # open room -> pool
        self.closed: list[str] = []
        self.app = Starlette(
            routes=[
                Route("/pools/{pool}/rooms", self._create, methods=["POST"]),
                Route("/pools/{pool}/rooms/{room}", self._close, methods=["DELETE"]),
            ]
        )

    async def _create(self, request: Request) -> Response:
        pool = request.path_params["pool"]
        try:
            room = str(json.loads(await request.body())["room"])
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": "room required"}, 400)
        if pool in self.down or room in self.failing_rooms:
            return JSONResponse({"error": f"pool {pool} unreachable"}, 503)
        self.rooms[room] = pool
        return JSONResponse(
            {"room": room, "pool": pool, "url": f"https://{pool}.video.fake/{room}"}, 201
        )

    async def _close(self, request: Request) -> Response:
        room = request.path_params["room"]
        if self.rooms.pop(room, None) is not None:
            self.closed.append(room)
        return Response(status_code=204)
