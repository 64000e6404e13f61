"""The content service port: the publish saga's bundling step hands the content service
the draft's blocks and gets a bundle; its compensation discards that bundle.

:class:`FakeContentService` has the HTTP shape the client speaks:
``PUT /v1/bundles/{id}`` ``{"tenant", "draftId", "blocks"}`` -> 201 (a repeat: 200,
idempotent), ``GET /v1/bundles/{id}``, ``DELETE /v1/bundles/{id}`` -> 204 (safe to
repeat). ``refuse`` scripts a refusal (4xx).
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

__all__ = ["FakeContentService"]


class FakeContentService:
    def __init__(self) -> None:
        self.bundles: dict[str, dict[str, Any]] = {}
        self.requests = 0
        self.refuse = 0  # when set: every bundle request is answered with this status
        self.app = Starlette(
            routes=[
                Route("/v1/bundles/{bundle}", self._put, methods=["PUT"]),
                Route("/v1/bundles/{bundle}", self._get, methods=["GET"]),
                Route("/v1/bundles/{bundle}", self._delete, methods=["DELETE"]),
            ]
        )

    async def _put(self, request: Request) -> Response:
        self.requests += 1
        if self.refuse:
            return JSONResponse({"error": "bundle refused"}, status_code=self.refuse)
        bundle = request.path_params["bundle"]
        if bundle in self.bundles and self.bundles[bundle]["state"] == "ready":
            return JSONResponse(self.bundles[bundle])
        body: dict[str, Any] = await request.json()
        self.bundles[bundle] = {
            "bundleId": bundle,
            "draftId": body.get("draftId"),
            "blocks": list(body.get("blocks", [])),
            "state": "ready",
        }
        return JSONResponse(self.bundles[bundle], status_code=201)

    async def _get(self, request: Request) -> Response:
        self.requests += 1
        found = self.bundles.get(request.path_params["bundle"])
        if found is None:
            return JSONResponse({"error": "no such bundle"}, status_code=404)
        return JSONResponse(found)

    async def _delete(self, request: Request) -> Response:
        self.requests += 1
        found = self.bundles.get(request.path_params["bundle"])
        if found is not None:
            found["state"] = "discarded"
        return Response(status_code=204)

    def ready(self) -> list[str]:
        return [b for b, v in self.bundles.items() if v["state"] == "ready"]
