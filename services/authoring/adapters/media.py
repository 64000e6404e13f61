"""The media service port: does each referenced asset exist and is it ``ready``?

:class:`FakeMedia` is a fake of the media service (another team's), with the HTTP shape
the client speaks: ``GET /v1/assets/{id}`` -> ``{"id", "status"}`` or 404; the fake's own
``PUT /_fake/assets/{id}`` ``{"status"}`` and ``DELETE /_fake/assets/{id}`` set it up.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from services.kit.http import Remote, RemoteRefusedError

__all__ = ["FakeMedia", "MediaClient"]


class MediaClient:
    """Asks the media service through the ``media.check`` pipeline (retry, breaker)."""

    def __init__(self, remote: Remote) -> None:
        self.remote = remote

    async def status(self, asset: str) -> str:
        """``ready``, another status, or ``missing`` (404); transport failures raise."""
        try:
            body = await self.remote.request("media.check", "GET", f"/v1/assets/{asset}")
        except RemoteRefusedError as exc:
            if exc.status == 404:
                return "missing"
            raise
        return str(body.get("status", "unknown"))


class FakeMedia:
    def __init__(self) -> None:
        self.assets: dict[str, str] = {}
        self.requests = 0
        self.app = Starlette(
            routes=[
                Route("/v1/assets/{asset}", self._get, methods=["GET"]),
                Route("/_fake/assets/{asset}", self._put, methods=["PUT"]),
                Route("/_fake/assets/{asset}", self._delete, methods=["DELETE"]),
            ]
        )

    async def _get(self, request: Request) -> Response:
        self.requests += 1
        asset = request.path_params["asset"]
        if asset not in self.assets:
            return JSONResponse({"error": "no such asset"}, status_code=404)
        return JSONResponse({"id": asset, "status": self.assets[asset]})

    async def _put(self, request: Request) -> Response:
        body: dict[str, Any] = await request.json()
        self.assets[request.path_params["asset"]] = str(body.get("status", "ready"))
        return Response(status_code=204)

    async def _delete(self, request: Request) -> Response:
        self.assets.pop(request.path_params["asset"], None)
        return Response(status_code=204)
