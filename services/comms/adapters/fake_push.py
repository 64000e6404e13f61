"""A fake push provider with the HTTP shape of FCM's v1 send API, plus a delivery
feedback feed:

- ``POST /v1/projects/{project}/messages:send`` ``{"message": {"token", "notification",
  "data"}}`` -> ``{"name": "projects/{project}/messages/{n}"}``; it keeps every payload it
  received, so an experiment can see whether protected data ever reached it;
- ``GET /v1/projects/{project}/receipts?after=N[&subscribe=1]`` -> ``{"receipts": [{"seq",
  "name", "status"}], "subscription": S}``: delivery receipts after sequence ``N``. Reading
  with ``subscribe=1`` opens a new subscription (a reconnect).

Faults: ``stall()`` makes the current subscription serve nothing (a feed stuck on the
provider's side of one connection: a reconnect cures it); ``pause()`` stops every receipt
(the provider's feedback is down: receipts pile up and arrive late after ``resume()``).
"""

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
        self.receipts: list[dict[str, Any]] = []
        self.subscription = 1
        self.stalled: int | None = None  # the subscription that serves nothing
        self.paused = False
        self.app = Starlette(
            routes=[
                Route("/v1/projects/{project}/messages:send", self._send, methods=["POST"]),
                Route("/v1/projects/{project}/receipts", self._receipts, methods=["GET"]),
            ]
        )

    def stall(self) -> None:
        self.stalled = self.subscription

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.paused = False
        self.stalled = None

    async def _send(self, request: Request) -> Response:
        try:
            message = json.loads(await request.body())["message"]
            token = str(message["token"])
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": {"code": 400, "message": "message.token required"}}, 400)
        self.received.append(message)
        project = request.path_params["project"]
        name = f"projects/{project}/messages/{len(self.received)}"
        self.receipts.append({"seq": len(self.receipts) + 1, "name": name, "status": "delivered"})
        return JSONResponse({"name": name, "token": token})

    async def _receipts(self, request: Request) -> Response:
        try:
            after = int(request.query_params.get("after", "0"))
        except ValueError:
            return JSONResponse({"error": {"code": 400, "message": "after: an integer"}}, 400)
        if request.query_params.get("subscribe") == "1":
            self.subscription += 1
        served: list[dict[str, Any]] = []
        if not self.paused and self.stalled != self.subscription:
            served = [r for r in self.receipts if r["seq"] > after]
        return JSONResponse({"receipts": served, "subscription": self.subscription})
