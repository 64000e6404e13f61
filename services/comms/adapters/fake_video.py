"""A fake video-room provider (Jitsi-like) with two pools, ``a`` and ``b``:

- ``POST /pools/{pool}/rooms`` ``{"room"}`` -> 201 ``{"room", "pool", "url"}``;
- ``DELETE /pools/{pool}/rooms/{room}`` -> 204 (the room is closed, its participants out;
  its recording becomes available);
- ``GET /pools/{pool}/recordings/{room}`` -> the recording's bytes (404 when none);
- ``DELETE /pools/{pool}/recordings/{room}`` -> 204 (the source deleted once ingested).

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
        self.recordings: dict[str, bytes] = {}  # room -> the source recording
        self.app = Starlette(
            routes=[
                Route("/pools/{pool}/rooms", self._create, methods=["POST"]),
                Route("/pools/{pool}/rooms/{room}", self._close, methods=["DELETE"]),
                Route("/pools/{pool}/recordings/{room}", self._recording, methods=["GET"]),
                Route("/pools/{pool}/recordings/{room}", self._forget, methods=["DELETE"]),
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
            self.recordings[room] = (f"recording of {room}\n".encode()) * 4096
        return Response(status_code=204)

    async def _recording(self, request: Request) -> Response:
        found = self.recordings.get(request.path_params["room"])
        if found is None:
            return JSONResponse({"error": "no recording"}, 404)
        return Response(found, media_type="video/webm")

    async def _forget(self, request: Request) -> Response:
        self.recordings.pop(request.path_params["room"], None)
        return Response(status_code=204)
