"""The push port: a fake provider with the HTTP shape of FCM's v1 send API, and the
client the service sends through. The provider keeps a message for an offline device
and hands it over when the device reconnects, as FCM/APNs do, which is what forces the
sync on reconnect (seed 1.5)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.responses import JSONResponse


class FakePushProvider:
    """``POST /v1/messages:send`` ``{"message": {"token": ..., "data": {...}}}``.
    Scriptable: ``down = True`` answers 503 to every send."""

    def __init__(self) -> None:
        self.down = False
        self.sent: list[dict[str, Any]] = []
        self._pending: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._online: dict[str, Callable[[dict[str, Any]], None]] = {}
        self.app = FastAPI(title="fake push provider")
        self.app.post("/v1/messages:send")(self._send)

    async def _send(self, body: dict[str, Any]) -> JSONResponse:
        if self.down:
            return JSONResponse({"error": {"code": 503, "status": "UNAVAILABLE"}}, 503)
        message = body.get("message") or {}
        token = str(message.get("token", ""))
        if not token:
            return JSONResponse({"error": {"code": 400, "status": "INVALID_ARGUMENT"}}, 400)
        self.sent.append(message)
        self._pending[token].append(message)
        self._flush(token)
        return JSONResponse({"name": f"messages/{len(self.sent)}"})

    def connect(self, token: str, on_message: Callable[[dict[str, Any]], None]) -> None:
        """The device's persistent connection opened: deliver what waited for it."""
        self._online[token] = on_message
        self._flush(token)

    def disconnect(self, token: str) -> None:
        self._online.pop(token, None)

    def _flush(self, token: str) -> None:
        receiver = self._online.get(token)
        if receiver is None:
            return
        waiting, self._pending[token] = self._pending[token], []
        for message in waiting:
            receiver(message)


class PushClient:
    """Sends data messages through the provider's HTTP API."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def send(self, token: str, data: dict[str, str]) -> None:
        response = await self.client.post(
            "/v1/messages:send", json={"message": {"token": token, "data": data}}
        )
        response.raise_for_status()
