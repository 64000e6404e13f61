"""The AI port: a fake gateway that generates an assistant configuration, and the client.
Scriptable to fail (5xx) or hang (longer than the policy's attempt timeout)."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.responses import JSONResponse

import mitigate


class FakeAiGateway:
    """``POST /v1/assistant-config`` ``{"course": ...}`` -> a generated configuration."""

    def __init__(self, clock: mitigate.Clock) -> None:
        self.clock = clock
        self.status = 200
        self.hang = 0.0
        self.calls = 0
        self.app = FastAPI(title="fake AI gateway")
        self.app.post("/v1/assistant-config")(self._generate)

    async def _generate(self, body: dict[str, Any]) -> JSONResponse:
        self.calls += 1
        if self.hang:
            await self.clock.asleep(self.hang)
        if self.status >= 400:
            return JSONResponse({"error": "model overloaded"}, self.status)
        course = str(body.get("course", ""))
        return JSONResponse(
            {"assistant": f"tutor-{course}", "tone": "encouraging", "suggestions": True}
        )


class AssistantConfigClient:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def generate(self, course: str) -> dict[str, Any]:
        response = await self.client.post("/v1/assistant-config", json={"course": course})
        response.raise_for_status()
        config: dict[str, Any] = response.json()
        return {**config, "generated": True}
