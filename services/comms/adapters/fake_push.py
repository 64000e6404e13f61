"""A fake push provider with the HTTP shape of FCM's v1 send API:
``POST /v1/projects/{project}/messages:send`` ``{"message": {"token", "notification",
"data"}}`` -> ``{"name": "projects/{project}/messages/{n}"}``. It keeps every payload it
received, so an experiment can see whether protected data ever reached it."""

from __future__ import annotations

import json
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

__all__ = ["FakePushProvider"]


class FakePushProvider:
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.app = Starlette(
            routes=[Route("/v1/projects/{project}/messages:send", self._send, methods=["POST"])]
        )

    async def _send(self, request: Request) -> Response:
        try:
            message = json.loads(await request.body())["message"]
            token = str(message["token"])
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": {"code": 400, "message": "message.token required"}}, 400)
        self.received.append(message)
        project = request.path_params["project"]
        return JSONResponse(
            {"name": f"projects/{project}/messages/{len(self.received)}", "token": token}
        )
