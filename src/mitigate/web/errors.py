"""The error envelope: every unhandled error becomes ``{"code", "message", "traceId"}``.

:class:`ErrorEnvelopeMiddleware` is pure ASGI. It gives each request a trace id (taken from
an incoming W3C ``traceparent`` or ``x-request-id``, else a fresh one), sends it back as
``x-trace-id`` on every response, and exposes it to handlers through
:func:`current_trace_id`. An error a handler lets escape is answered with JSON and the
status its kind deserves (breaker open or bulkhead full: 503 with ``Retry-After``; rate
limited: 429; tenant: 400/404/503; anything else: 500 with a generic message). The body
never carries a stack: the stack goes to the log record that carries the same trace id,
so an operator finds it from the id a user reports.

An error raised while a body is already streaming cannot change the status any more: it is
logged with the trace id and the response is left incomplete, so the server closes the
connection and the client sees a truncated transfer rather than a short "complete" one.

>>> import asyncio, httpx
>>> from starlette.applications import Starlette
>>> from starlette.routing import Route
>>> from mitigate.errors import BreakerOpenError
>>> async def sign(request):
...     raise BreakerOpenError("kms.sign", retry_after=12.5)
>>> app = ErrorEnvelopeMiddleware(Starlette(routes=[Route("/sign", sign)]),
...                               logger=logging.getLogger("doctest.silent"))
>>> async def get():
...     async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
...                                  base_url="http://api") as client:
...         return await client.get("/sign", headers={"x-request-id": "req-42"})
>>> r = asyncio.run(get())
>>> r.status_code, r.headers["retry-after"], r.headers["x-trace-id"]
(503, '13', 'req-42')
>>> body = r.json()
>>> body["code"], body["message"], body["traceId"]
('MITIGATE.BREAKER.OPEN', 'kms.sign: circuit breaker is open', 'req-42')

.. versionadded:: 0.1
"""

from __future__ import annotations

import contextvars
import json
import logging
import math
import re
import traceback
import uuid
from collections.abc import Callable
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mitigate.errors import (
    AttemptTimeoutError,
    BudgetExhaustedError,
    BulkheadFullError,
    MitigateError,
    RateLimitedError,
    RejectedError,
)
from mitigate.guard.errors import (
    ArchiveRejectedError,
    HtmlRejectedError,
    ImporterBlockedError,
    IpBlockedError,
    TenantError,
)

__all__ = [
    "INTERNAL_CODE",
    "ErrorEnvelopeMiddleware",
    "current_trace_id",
    "error_body",
    "status_of",
]

#: The code of an error whose details are not for the client (any unmapped error).
INTERNAL_CODE = "MITIGATE.HTTP.INTERNAL"
_GENERIC_MESSAGE = "internal error; quote the traceId when reporting it"

_trace_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "mitigate_trace_id", default=None
)
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

StatusFor = Callable[[BaseException], int | None]


def current_trace_id() -> str | None:
    """The trace id of the request being handled (``None`` outside the middleware).

    >>> current_trace_id() is None
    True
    """
    return _trace_id.get()


def error_body(code: str, message: str, *, trace_id: str | None = None) -> dict[str, str | None]:
    """The envelope body a handler returns for an error it answers itself.

    ``traceId`` is the current request's unless given.

    >>> error_body("CONTENT.DRAFT.NOT_FOUND", "draft d1 does not exist", trace_id="t-1")
    {'code': 'CONTENT.DRAFT.NOT_FOUND', 'message': 'draft d1 does not exist', 'traceId': 't-1'}
    """
    return {
        "code": code,
        "message": message,
        "traceId": trace_id if trace_id is not None else current_trace_id(),
    }


def status_of(exc: BaseException) -> int:
    """The HTTP status an error deserves when nothing more specific is known.

    >>> from mitigate.errors import RateLimitedError, StoreError
    >>> status_of(RateLimitedError("api", "spent")), status_of(StoreError(None, "down"))
    (429, 500)
    """
    if isinstance(exc, TenantError):
        return exc.status
    if isinstance(exc, RateLimitedError):
        return 429
    if isinstance(exc, IpBlockedError | ImporterBlockedError):
        return 403
    if isinstance(exc, AttemptTimeoutError):
        return 504
    if isinstance(exc, RejectedError):  # breaker open, bulkhead full, budget spent
        return 503
    if isinstance(exc, HtmlRejectedError | ArchiveRejectedError):
        return 422
    return 500


def _retry_after(exc: BaseException, status: int) -> str | None:
    if status not in (429, 503) or not isinstance(exc, RejectedError):
        return None
    seconds = exc.retry_after
    if seconds is None:
        # A full bulkhead or a spent budget frees up quickly: ask for a short pause.
        seconds = 1.0 if isinstance(exc, BulkheadFullError | BudgetExhaustedError) else None
    return None if seconds is None else str(max(1, math.ceil(seconds)))


def _incoming_trace_id(scope: Scope) -> str:
    traceparent: str | None = None
    request_id: str | None = None
    for name, value in scope.get("headers", ()):
        if name == b"traceparent":
            traceparent = value.decode("latin-1").strip().lower()
        elif name == b"x-request-id":
            request_id = value.decode("latin-1").strip()
    if traceparent:
        match = _TRACEPARENT.match(traceparent)
        if match and match.group(1) != "0" * 32:
            return str(match.group(1))
    if request_id and _REQUEST_ID.match(request_id):
        return request_id
    return uuid.uuid4().hex


class ErrorEnvelopeMiddleware:
    """Answer unhandled errors with the JSON envelope; put ``x-trace-id`` on every response.

    ``status_for(exc)`` may return a status for errors of your own (``None`` falls back to
    :func:`status_of`). Below 500 the client sees the error's code and message; from 500 up
    only a generic message (and the code of a :class:`~mitigate.MitigateError`, or
    ``MITIGATE.HTTP.INTERNAL``). ``logger`` is a structlog logger or a :class:`logging.Logger`
    (default: ``structlog.get_logger("mitigate.web")``).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        status_for: StatusFor | None = None,
        logger: Any = None,
    ) -> None:
        self.app = app
        self.status_for = status_for
        self.logger = logger if logger is not None else structlog.get_logger("mitigate.web")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        trace_id = _incoming_trace_id(scope)
        token = _trace_id.set(trace_id)
        started = False
        # A 500 is held back until the app returns: Starlette's ServerErrorMiddleware sends
        # its own plain 500 and then re-raises, and that answer is replaced by the envelope.
        held: list[Message] | None = None

        async def send_with_trace(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                if not any(name.lower() == b"x-trace-id" for name, _ in headers):
                    headers.append((b"x-trace-id", trace_id.encode("latin-1")))
                message = {**message, "headers": headers}
                if message.get("status") == 500:
                    held = [message]
                    return
            elif held is not None:
                held.append(message)
                if message["type"] == "http.response.body" and message.get("more_body"):
                    pending, held = held, None  # a streaming 500: let it go
                    for each in pending:
                        await _forward(each)
                return  # complete: held until the app returns
            await _forward(message)

        async def _forward(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_with_trace)
        except Exception as exc:
            if scope["type"] != "http":
                self._log(exc, scope, trace_id, status=None, streaming=False)
                raise
            if started:
                # Too late for a status: log it, and leave the body incomplete so the
                # server closes the connection and the client sees the truncation.
                self._log(exc, scope, trace_id, status=None, streaming=True)
                return
            status = self._status(exc)
            self._log(exc, scope, trace_id, status=status, streaming=False)
            await self._answer(_forward, exc, status, trace_id)
        else:
            for message in held or ():
                await _forward(message)
        finally:
            _trace_id.reset(token)

    def _status(self, exc: BaseException) -> int:
        if self.status_for is not None:
            chosen = self.status_for(exc)
            if chosen is not None:
                return chosen
        return status_of(exc)

    async def _answer(self, send: Send, exc: BaseException, status: int, trace_id: str) -> None:
        code = getattr(exc, "code", None)
        code = code if isinstance(code, str) and code else INTERNAL_CODE
        if status >= 500 and not isinstance(exc, RejectedError | TenantError):
            message = _GENERIC_MESSAGE
            code = code if isinstance(exc, MitigateError) else INTERNAL_CODE
        elif isinstance(exc, MitigateError):
            message = f"{exc.target}: {exc.message}" if exc.target else exc.message
        else:
            message = str(exc) or type(exc).__name__
        body = json.dumps(error_body(code, message, trace_id=trace_id)).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"),
            (b"x-trace-id", trace_id.encode("latin-1")),
        ]
        retry_after = _retry_after(exc, status)
        if retry_after is not None:
            headers.append((b"retry-after", retry_after.encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    def _log(
        self,
        exc: BaseException,
        scope: Scope,
        trace_id: str,
        *,
        status: int | None,
        streaming: bool,
    ) -> None:
        what = "request.error_while_streaming" if streaming else "request.error"
        fields: dict[str, Any] = {
            "trace_id": trace_id,
            "status": status,
            "method": scope.get("method"),
            "path": scope.get("path"),
            "error_type": type(exc).__name__,
            "code": getattr(exc, "code", None),
        }
        if isinstance(self.logger, logging.Logger):
            level = logging.WARNING if status is not None and status < 500 else logging.ERROR
            self.logger.log(
                level,
                "%s trace_id=%s %s %s",
                what,
                trace_id,
                fields["method"],
                fields["path"],
                exc_info=exc,
                extra={"trace_id": trace_id, "status": status},
            )
            return
        stack = "".join(traceback.format_exception(exc))
        log = self.logger.warning if status is not None and status < 500 else self.logger.error
        log(what, stack=stack, **fields)
