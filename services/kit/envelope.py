"""The error envelope every service answers with: ``{"code", "message", "traceId"}``.

:class:`mitigate.web.ErrorEnvelopeMiddleware` (outermost) gives every request a trace id
and turns any unhandled error into the envelope (a 500 carries a generic message; the stack
goes to the log record with the same trace id). The FastAPI handlers below cover what the
framework answers itself (a request that does not validate, an unknown route, a method not
allowed) and the refusals services raise (:class:`ServiceError`, mitigate's coded errors).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

import mitigate
from mitigate.web import error_body

from .errors import ServiceError

__all__ = ["envelope", "install_error_handlers"]

log = logging.getLogger("services.errors")


def envelope(
    status: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
    details: dict[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {**(details or {}), **error_body(code, message)}
    return JSONResponse(body, status_code=status, headers=headers)


def _status_for(error: BaseException) -> tuple[int, dict[str, str]]:
    if isinstance(error, mitigate.BreakerOpenError | mitigate.BulkheadFullError):
        retry = getattr(error, "retry_after", None) or 1
        return 503, {"Retry-After": str(max(1, round(retry)))}
    if isinstance(error, mitigate.RateLimitedError):
        retry = getattr(error, "retry_after", None) or 1
        return 429, {"Retry-After": str(max(1, round(retry)))}
    if isinstance(error, mitigate.TenantError):
        return 400, {}
    if isinstance(error, mitigate.StoreUnavailableError):
        return 503, {"Retry-After": "5"}  # the database is away: a retry soon may succeed
    return 503, {}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError) -> JSONResponse:
        headers = {"Retry-After": str(max(1, round(exc.retry_after)))} if exc.retry_after else None
        return envelope(exc.status, exc.code, exc.message, headers, exc.details)

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
        log.info("dependency error %s: %s", code, exc)
        return envelope(status, code, str(exc), headers)
