"""The edge's request middleware, just inside the platform's error envelope.

Every response body is held until the handler returns, so an error raised while a body is
being produced (a streaming handler) still becomes a JSON 500 with code, message and
traceId instead of a truncated 200. Every failure (status >= 400) is logged with its
``requestId`` and ``tenantId`` (or ``UNRESOLVED_TENANT`` when resolution failed); a 5xx
counts in ``errors_total`` and emits :class:`RequestFailed` for the spike rule. The stack
of an unhandled error goes only to the log record carrying the same requestId.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mitigate.web import current_trace_id, error_body, status_of

from .events import RequestFailed

__all__ = ["UNRESOLVED_TENANT", "EdgeMiddleware"]

UNRESOLVED_TENANT = "-unresolved-"
INTERNAL = "EDGE.INTERNAL"
_GENERIC = "internal error; quote the traceId when reporting it"

log = logging.getLogger("services.edge.requests")


class EdgeMiddleware:
    def __init__(self, app: ASGIApp, *, edge: Any) -> None:
        self.app = app
        self.edge = edge

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not self.edge.runtime.switches.enabled("edge.switch.error-envelope"):
            await self.app(scope, receive, send)
            return
        held: list[Message] = []

        async def hold(message: Message) -> None:
            held.append(message)

        scope.setdefault("state", {})
        try:
            await self.app(scope, receive, hold)
        except Exception as exc:
            status = status_of(exc)
            self._failed(scope, status, exc)
            await _answer(send, status, exc)
            return
        status = next((int(m["status"]) for m in held if m["type"] == "http.response.start"), 500)
        if status >= 400:
            self._failed(scope, status, None)
        for message in held:
            await send(message)

    def _failed(self, scope: Scope, status: int, exc: BaseException | None) -> None:
        request_id = current_trace_id() or ""
        tenant = scope.get("state", {}).get("tenant")
        tenant_id = tenant.id if tenant is not None else UNRESOLVED_TENANT
        fields: dict[str, Any] = {
            "requestId": request_id,
            "tenantId": tenant_id,
            "status": status,
            "method": scope.get("method"),
            "path": scope.get("path"),
        }
        if not self.edge.runtime.switches.enabled("edge.switch.failure-audit"):
            # The mutation: the failure is logged without the ids that trace it.
            fields = {k: v for k, v in fields.items() if k not in ("requestId", "tenantId")}
        level = logging.ERROR if status >= 500 else logging.WARNING
        log.log(
            level,
            "request failed %s",
            json.dumps(fields),
            exc_info=exc if exc is not None and status >= 500 else None,
            extra=fields,
        )
        if status >= 500:
            self.edge.errors_total.inc()
            rt = self.edge.runtime
            rt.emit(
                RequestFailed(
                    target=str(scope.get("path", "")),
                    at=rt.clock.now(),
                    status=status,
                    request_id=request_id,
                    tenant_id=tenant_id,
                )
            )


async def _answer(send: Send, status: int, exc: BaseException) -> None:
    code = getattr(exc, "code", None)
    if status >= 500 or not isinstance(code, str):
        code, message = INTERNAL, _GENERIC
    else:
        message = str(exc)
    body = json.dumps(error_body(code, message)).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        (b"x-trace-id", (current_trace_id() or "").encode("latin-1")),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
