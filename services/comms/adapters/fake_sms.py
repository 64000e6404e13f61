"""A fake SMS gateway with the HTTP shape of common ones (a JSON messages resource with a
client reference and an idempotency key):

- ``POST /v1/messages`` ``{"to", "body", "reference"}`` with ``Idempotency-Key`` -> 201
  ``{"id", "reference", "status": "accepted"}``; a repeat of the key answers 200 with the
  message it already took (never a second message);
- ``GET /v1/messages?reference=R`` -> ``{"items": [...]}`` (the status query);
- ``POST /_fake/script`` ``{"mode": "5xx" | "hang" | "flaky" | "ok", "rate": 0.19}``:
  a scripted outage for real-time tests.

Faults (what the experiment sets in process, or ``/_fake/script`` over HTTP):
``fault_for(reference)`` returns ``"5xx"`` (refuse that message every time), ``"hang"``
(take it, then answer only after ``hang`` seconds: the client's timeout sees no outcome) or
``None``; ``flaky`` refuses a steady fraction of all requests (evenly spread: among any
``n`` consecutive requests at most ``ceil(n * rate)`` fail).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

__all__ = ["FakeSmsGateway"]


class FakeSmsGateway:
    def __init__(self, name: str, clock: Any, *, hang: float = 60.0) -> None:
        self.name = name
        self.clock = clock
        self.hang = hang
        self.messages: list[dict[str, Any]] = []  # every message taken, in order
        self._by_key: dict[str, dict[str, Any]] = {}
        self.fault_for: Callable[[str], str | None] = lambda reference: None
        self.flaky_rate = 0.0
        self.requests = 0
        self.refused = 0
        self.app = Starlette(
            routes=[
                Route("/v1/messages", self._send, methods=["POST"]),
                Route("/v1/messages", self._query, methods=["GET"]),
                Route("/_fake/script", self._script, methods=["POST"]),
            ]
        )

    def delivered(self, reference: str) -> int:
        return sum(1 for m in self.messages if m["reference"] == reference)

    def _flaky_refuses(self) -> bool:
        n = self.requests
        return math.floor(n * self.flaky_rate) > math.floor((n - 1) * self.flaky_rate)

    async def _script(self, request: Request) -> Response:
        body = await request.json()
        mode = str(body.get("mode", "ok"))
        self.flaky_rate = float(body.get("rate", 0.0)) if mode == "flaky" else 0.0
        fixed = None if mode in ("ok", "flaky") else mode
        self.fault_for = lambda reference: fixed
        return JSONResponse({"mode": mode})

    async def _send(self, request: Request) -> Response:
        self.requests += 1
        try:
            body = json.loads(await request.body())
            to, text, reference = str(body["to"]), str(body["body"]), str(body["reference"])
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": "to, body and reference are required"}, 400)
        fault = self.fault_for(reference)
        if fault == "5xx" or (self.flaky_rate and self._flaky_refuses()):
            self.refused += 1
            return JSONResponse({"error": "gateway unavailable"}, status_code=503)
        key = request.headers.get("idempotency-key") or f"auto-{len(self.messages)}"
        taken = self._by_key.get(key)
        status = 200
        if taken is None:
            taken = {
                "id": f"{self.name}-{len(self.messages) + 1}",
                "reference": reference,
                "to": to,
                "body": text,
                "status": "accepted",
            }
            self.messages.append(taken)
            self._by_key[key] = taken
            status = 201
        if fault == "hang":
            await self.clock.asleep(self.hang)  # taken, but the answer comes too late
        return JSONResponse(taken, status_code=status)

    async def _query(self, request: Request) -> Response:
        reference = request.query_params.get("reference", "")
        items = [m for m in self.messages if m["reference"] == reference]
        return JSONResponse({"items": items})
