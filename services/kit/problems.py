"""RFC 9457 problems answered in the platform's error envelope instead.

:class:`mitigate.IdempotencyMiddleware` refuses with ``application/problem+json``
(``{type, title, status, detail, code}``); every other error a service answers is the
envelope ``{code, message, traceId}``. This middleware, mounted just outside the
idempotency middleware by :func:`services.kit.app.create_app`, rewrites such a refusal
into the envelope so a client sees one error shape. Only a problem response is held and
rewritten; every other response passes through untouched, streamed as it comes.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mitigate.web import error_body

__all__ = ["ProblemEnvelopeMiddleware", "as_envelope"]

PROBLEM = b"application/problem+json"


def as_envelope(start: Message, body: bytes) -> tuple[Message, bytes]:
    """The response start and body of a problem, as the envelope (same status, the
    problem's ``code`` and ``detail``); anything that is not a JSON problem unchanged."""
    headers = list(start.get("headers") or [])
    kind = next((v for k, v in headers if k.lower() == b"content-type"), b"")
    if not kind.startswith(PROBLEM):
        return start, body
    try:
        problem: Any = json.loads(body)
    except ValueError:
        return start, body
    if not isinstance(problem, dict):
        return start, body
    status = int(start["status"])
    code = str(problem.get("code") or f"PLATFORM.HTTP.{status}")
    message = str(problem.get("detail") or problem.get("title") or "request refused")
    new_body = json.dumps(error_body(code, message)).encode()
    kept = [(k, v) for k, v in headers if k.lower() not in (b"content-type", b"content-length")]
    kept += [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(new_body))]
    return {**start, "headers": kept}, new_body


class ProblemEnvelopeMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def rewrite(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = message.get("headers") or []
                if any(k.lower() == b"content-type" and v.startswith(PROBLEM) for k, v in headers):
                    start = message  # hold it: the body decides what is sent
                    return
            elif message["type"] == "http.response.body" and start is not None:
                chunks.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                new_start, body = as_envelope(start, b"".join(chunks))
                await send(new_start)
                await send({"type": "http.response.body", "body": body, "more_body": False})
                return
            await send(message)

        await self.app(scope, receive, rewrite)
