"""The error envelope every service answers with: ``{"code", "message", "traceId"}``.

The FastAPI handlers below cover what the framework decides itself (a request that does
not validate, an unknown route, a method not allowed) and the errors services raise
(:class:`ServiceError`, mitigate's coded errors). Anything else is a 500 with a generic
message; the stack goes to the log record carrying the same trace id, never to the body.
"""

from __future__ import annotations

import contextvars
import logging
import uuid

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import mitigate

from .errors import ServiceError

__all__ = ["TraceIdMiddleware", "envelope", "install_error_handlers", "trace_id"]

log = logging.getLogger("services.errors")
_trace: contextvars.ContextVar[str] = contextvars.ContextVar("services_trace_id", default="")


def trace_id() -> str:
    """The trace id of the request being handled."""
    return _trace.get()


def envelope(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {"code": code, "message": message, "traceId": trace_id()}
    return JSONResponse(body, status_code=status, headers=headers)


class TraceIdMiddleware:
    """Give each request a trace id (the caller's ``x-trace-id`` or a new one) and put it on
    the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(b"x-trace-id", b"").decode("latin-1")
        value = given if 0 < len(given) <= 64 and given.isprintable() else uuid.uuid4().hex
        token = _trace.set(value)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-trace-id", value.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            _trace.reset(token)


def _status_for(error: BaseException) -> tuple[int, dict[str, str]]:
    if isinstance(error, mitigate.BreakerOpenError | mitigate.BulkheadFullError):
        retry = getattr(error, "retry_after", None) or 1
        return 503, {"Retry-After": str(max(1, round(retry)))}
    if isinstance(error, mitigate.RateLimitedError):
        retry = getattr(error, "retry_after", None) or 1
        return 429, {"Retry-After": str(max(1, round(retry)))}
    if isinstance(error, mitigate.TenantError):
        return 400, {}
    return 503, {}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError) -> JSONResponse:
        headers = {"Retry-After": str(max(1, round(exc.retry_after)))} if exc.retry_after else None
        return envelope(exc.status, exc.code, exc.message, headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
            for e in exc.errors()[:5]
        )
        return envelope(422, "PLATFORM.REQUEST.INVALID", f"the request is not valid: {problems}")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        code = {404: "PLATFORM.REQUEST.NOT_FOUND", 405: "PLATFORM.REQUEST.METHOD"}.get(
            exc.status_code, f"PLATFORM.HTTP.{exc.status_code}"
        )
        return envelope(exc.status_code, code, str(exc.detail), dict(exc.headers or {}))

    @app.exception_handler(mitigate.MitigateError)
    async def mitigate_error(request: Request, exc: mitigate.MitigateError) -> JSONResponse:
        status, headers = _status_for(exc)
        code = getattr(exc, "code", "MITIGATE.ERROR")
        log.warning("dependency error %s (trace %s): %s", code, trace_id(), exc)
        return envelope(status, code, str(exc), headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error (trace %s)", trace_id(), exc_info=exc)
        return envelope(500, "PLATFORM.INTERNAL", "internal error; quote the traceId to support")
