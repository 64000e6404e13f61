"""The AI port: a model server reached over HTTP, and its fake.

:class:`AiClient` is the only way the service gets AI content: every block it returns
carries ``aiProvenance`` (model, prompt id, generation time), so the domain invariant
holds by construction. :class:`FakeModelServer` has the HTTP shape of a chat-completion
API: ``POST /v1/chat/completions`` ``{"model", "messages": [{"role", "content"}]}`` ->
``{"id", "model", "choices": [{"message": {"role", "content"}}], "usage"}``; ``fail`` scripts
the next answers' status (5xx), ``requests`` counts what reached it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from services.kit.http import Remote

__all__ = ["AiAnswer", "AiClient", "FakeModelServer"]


@dataclass(frozen=True, slots=True)
class AiAnswer:
    text: str
    provenance: dict[str, Any]


class AiClient:
    """One model behind one pipeline target (``ai.generate`` or ``ai.local``)."""

    def __init__(self, remote: Remote, *, target: str, model: str, clock: Any) -> None:
        self.remote = remote
        self.target = target
        self.model = model
        self.clock = clock

    async def generate(self, prompt: str) -> AiAnswer:
        body = {"model": self.model, "messages": [{"role": "user", "content": prompt}]}
        answer = await self.remote.request(self.target, "POST", "/v1/chat/completions", json=body)
        text = str(answer["choices"][0]["message"]["content"])
        provenance = {
            "model": str(answer.get("model") or self.model),
            "promptId": hashlib.sha256(prompt.encode()).hexdigest()[:16],
            "generatedAt": self.clock.wall(),
            "responseId": str(answer.get("id", "")),
        }
        return AiAnswer(text, provenance)


class FakeModelServer:
    def __init__(self, model: str, *, style: str = "") -> None:
        self.model = model
        self.style = style
        self.fail: list[int] = []
        self.requests = 0
        self.app = Starlette(routes=[Route("/v1/chat/completions", self._chat, methods=["POST"])])

    async def _chat(self, request: Request) -> Response:
        self.requests += 1
        if self.fail:
            return JSONResponse({"error": {"message": "overloaded"}}, self.fail.pop(0))
        body: dict[str, Any] = await request.json()
        prompt = str(body.get("messages", [{}])[-1].get("content", ""))
        content = f"{self.style}Draft text about {prompt[:60]}"
        return JSONResponse(
            {
                "id": f"cmpl-{self.requests}",
                "object": "chat.completion",
                "model": self.model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
                "usage": {"prompt_tokens": len(prompt.split()), "completion_tokens": 8},
            }
        )
