"""A fake AI provider SERVER (the Workers AI / upstream model role) and its HTTP client.

The server has the HTTP shape of a chat-completions API: ``POST /v1/chat/completions``
with ``Authorization: Bearer <key>`` and ``{"model", "messages"}``. Each model can be
``ok``, ``error`` (500), ``slow`` (answers after ``latency`` seconds on the shared clock)
or ``down`` (503); an unknown key is 401; a global request quota per key is 429. The
client is the code production uses against a real provider.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

__all__ = ["AiClient", "FakeAiProvider", "ProviderError", "ProviderRefusal"]


@dataclass
class _Model:
    mode: str = "ok"
    latency: float = 0.0


@dataclass
class FakeAiProvider:
    clock: Any
    keys: set[str] = field(default_factory=lambda: {"key-platform"})
    quota: int = 1000  # requests per key (the provider's global quota)
    models: dict[str, _Model] = field(
        default_factory=lambda: {"large-model": _Model(), "small-model": _Model()}
    )
    used: dict[str, int] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    calls_by_key: dict[str, int] = field(default_factory=dict)

    def set(self, model: str, mode: str, latency: float = 0.0) -> None:
        self.models[model] = _Model(mode, latency)

    @property
    def app(self) -> FastAPI:
        app = FastAPI(title="fake AI provider")

        @app.post("/v1/chat/completions")
        async def complete(request: Request) -> JSONResponse:
            body = await request.json()
            name = str(body.get("model", ""))
            self.calls[name] = self.calls.get(name, 0) + 1
            key = request.headers.get("authorization", "").removeprefix("Bearer ")
            self.calls_by_key[key] = self.calls_by_key.get(key, 0) + 1
            if key not in self.keys:
                return _error(401, "auth", "invalid API key")
            if self.used.get(key, 0) >= self.quota:
                return _error(429, "quota", "quota exceeded for this key")
            model = self.models.get(name)
            if model is None:
                return _error(404, "model", f"no model {name}")
            if model.mode == "down":
                return _error(503, "unavailable", "model unavailable")
            if model.mode == "error":
                return _error(500, "server", "internal error")
            if model.latency:
                await self.clock.asleep(model.latency)
            self.used[key] = self.used.get(key, 0) + 1
            prompt = str((body.get("messages") or [{}])[-1].get("content", ""))
            text = f"[{name}] answer to: {prompt[:200]}"
            return JSONResponse({"model": name, "choices": [{"message": {"content": text}}]})

        return app


def _error(status: int, kind: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"type": kind, "message": message}}, status_code=status)


class ProviderError(Exception):
    """A failure worth retrying or falling back from (5xx, timeout, connection)."""


@dataclass(frozen=True)
class ProviderRefusal:
    """A refusal retrying cannot fix (auth, quota): returned, never raised, so no retry
    policy retries it."""

    status: int
    reason: str
    message: str


class AiClient:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def complete(self, model: str, key: str, prompt: str) -> str | ProviderRefusal:
        try:
            response = await self.http.post(
                "/v1/chat/completions",
                json={"model": model, "messages": [{"role": "user", "content": prompt}]},
                headers={"authorization": f"Bearer {key}"},
            )
        except httpx.HTTPError as exc:
            raise ProviderError(f"{model}: {type(exc).__name__}") from exc
        if response.status_code in (401, 403, 429):
            error = response.json().get("error", {})
            return ProviderRefusal(
                response.status_code, str(error.get("type")), str(error.get("message"))
            )
        if response.status_code != 200:
            raise ProviderError(f"{model}: HTTP {response.status_code}")
        return str(response.json()["choices"][0]["message"]["content"])

    async def aclose(self) -> None:
        await self.http.aclose()
