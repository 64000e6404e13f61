"""The error envelope: statuses per error kind, trace ids, no stack in bodies, streaming errors."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route

from mitigate.errors import (
    AttemptTimeoutError,
    BreakerOpenError,
    BulkheadFullError,
    RateLimitedError,
    StoreError,
)
from mitigate.guard.errors import TenantError
from mitigate.observe.logs import json_logger
from mitigate.web import ErrorEnvelopeMiddleware, current_trace_id, error_body

SECRET = "password=hunter2 in /srv/app/db.py"


class BoomError(Exception):
    pass


def _raiser(exc: BaseException):  # type: ignore[no-untyped-def]
    async def handler(request: Request) -> PlainTextResponse:
        raise exc

    return handler


async def ok(request: Request) -> JSONResponse:
    return JSONResponse({"traceId": current_trace_id()})


async def handled(request: Request) -> JSONResponse:
    return JSONResponse(error_body("CONTENT.DRAFT.NOT_FOUND", "no draft d1"), status_code=404)


async def streams(request: Request) -> StreamingResponse:
    async def body() -> AsyncIterator[bytes]:
        yield b"first chunk;"
        raise BoomError(SECRET)

    return StreamingResponse(body(), media_type="text/plain")


ERRORS: dict[str, BaseException] = {
    "/breaker": BreakerOpenError("kms.sign", retry_after=12.2),
    "/bulkhead": BulkheadFullError("media.check", "20 in flight"),
    "/limited": RateLimitedError("api", "spent", retry_after=3.0),
    "/tenant-missing": TenantError(None, "no tenant", status=400, code="MITIGATE.TENANT.MISSING"),
    "/tenant-unknown": TenantError("x", "unknown", status=404, code="MITIGATE.TENANT.UNKNOWN"),
    "/timeout": AttemptTimeoutError("cdn.fetch", "took 2s"),
    "/store": StoreError("sagas", SECRET),
    "/bug": BoomError(SECRET),
}


def _routes() -> list[Route]:
    return [
        Route("/ok", ok),
        Route("/handled", handled),
        Route("/stream", streams),
        *(Route(path, _raiser(exc)) for path, exc in ERRORS.items()),
    ]


@pytest.fixture
def log_lines() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
def client(log_lines: io.StringIO) -> httpx.AsyncClient:
    app = ErrorEnvelopeMiddleware(Starlette(routes=_routes()), logger=json_logger(log_lines))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")


def _records(log_lines: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in log_lines.getvalue().splitlines()]


@pytest.mark.parametrize(
    ("path", "status", "code", "retry_after"),
    [
        ("/breaker", 503, "MITIGATE.BREAKER.OPEN", "13"),
        ("/bulkhead", 503, "MITIGATE.BULKHEAD.FULL", "1"),
        ("/limited", 429, "MITIGATE.RATELIMIT.EXCEEDED", "3"),
        ("/tenant-missing", 400, "MITIGATE.TENANT.MISSING", None),
        ("/tenant-unknown", 404, "MITIGATE.TENANT.UNKNOWN", None),
        ("/timeout", 504, "MITIGATE.TIMEOUT.ATTEMPT", None),
        ("/store", 500, "MITIGATE.STORE.ERROR", None),
        ("/bug", 500, "MITIGATE.HTTP.INTERNAL", None),
    ],
)
async def test_each_error_kind_gets_its_status_and_an_envelope(
    client: httpx.AsyncClient,
    log_lines: io.StringIO,
    path: str,
    status: int,
    code: str,
    retry_after: str | None,
) -> None:
    r = await client.get(path)
    assert r.status_code == status
    assert r.headers.get("retry-after") == retry_after
    body = r.json()
    assert set(body) == {"code", "message", "traceId"}
    assert body["code"] == code
    assert body["traceId"] == r.headers["x-trace-id"]
    assert "Traceback" not in r.text and "hunter2" not in r.text
    # The stack is in the log record that carries the same trace id.
    (record,) = _records(log_lines)
    assert record["trace_id"] == body["traceId"]
    assert record["path"] == path and record["status"] == status
    assert "Traceback (most recent call last)" in str(record["stack"])
    assert type(ERRORS[path]).__name__ in str(record["stack"])


async def test_500_bodies_say_nothing_internal(client: httpx.AsyncClient) -> None:
    body = (await client.get("/bug")).json()
    assert body["message"] == "internal error; quote the traceId when reporting it"
    assert (await client.get("/breaker")).json()["message"] == "kms.sign: circuit breaker is open"


async def test_every_response_has_a_trace_id_and_handlers_see_it(
    client: httpx.AsyncClient,
) -> None:
    r = await client.get("/ok")
    assert r.status_code == 200
    assert len(r.headers["x-trace-id"]) == 32
    assert r.json()["traceId"] == r.headers["x-trace-id"]
    again = await client.get("/ok")
    assert again.headers["x-trace-id"] != r.headers["x-trace-id"]
    missing = await client.get("/nowhere")  # the router's own 404 gets one too
    assert missing.status_code == 404 and missing.headers["x-trace-id"]
    handled = await client.get("/handled")
    assert handled.json()["traceId"] == handled.headers["x-trace-id"]
    assert current_trace_id() is None  # reset after the request


async def test_incoming_traceparent_or_request_id_is_kept(client: httpx.AsyncClient) -> None:
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    r = await client.get("/ok", headers={"traceparent": f"00-{trace}-00f067aa0ba902b7-01"})
    assert r.headers["x-trace-id"] == trace
    r = await client.get("/ok", headers={"x-request-id": "req-7"})
    assert r.headers["x-trace-id"] == "req-7"
    # Malformed ids are not echoed (no header injection, no 10 kB ids in logs).
    for headers in ({"traceparent": "00-zz-bad-01"}, {"x-request-id": "a b<script>"}):
        r = await client.get("/ok", headers=headers)
        assert len(r.headers["x-trace-id"]) == 32 and r.headers["x-trace-id"].isalnum()


async def test_error_while_streaming_is_logged_and_the_body_left_incomplete(
    log_lines: io.StringIO,
) -> None:
    app = ErrorEnvelopeMiddleware(Starlette(routes=_routes()), logger=json_logger(log_lines))
    sent: list[dict[str, object]] = []

    requested = False
    never = asyncio.Event()

    async def receive() -> dict[str, object]:
        nonlocal requested
        if requested:
            await never.wait()  # the client stays connected
        requested = True
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": "/stream", "raw_path": b"/stream", "query_string": b"",
        "root_path": "", "headers": [(b"x-request-id", b"s-1")], "client": ("1.2.3.4", 5),
        "server": ("api", 80),
    }  # fmt: skip
    await app(scope, receive, send)  # the error does not escape: it was handled
    starts = [m for m in sent if m["type"] == "http.response.start"]
    assert len(starts) == 1 and starts[0]["status"] == 200  # status could not change
    bodies = [m for m in sent if m["type"] == "http.response.body"]
    assert b"first chunk;" in b"".join(m.get("body", b"") for m in bodies)  # type: ignore[misc]
    assert all(m.get("more_body") for m in bodies if m.get("body"))  # never marked complete
    assert not any(m.get("more_body") is False and m.get("body") for m in bodies)
    assert b"hunter2" not in b"".join(m.get("body", b"") for m in bodies)  # type: ignore[misc]
    (record,) = _records(log_lines)
    assert record["event"] == "request.error_while_streaming"
    assert record["trace_id"] == "s-1" and "BoomError" in str(record["stack"])


def test_error_while_streaming_truncates_the_transfer_under_uvicorn() -> None:
    from tests.integrity.test_download import _Serve

    app = ErrorEnvelopeMiddleware(
        Starlette(routes=_routes()), logger=logging.getLogger("test.envelope.stream")
    )
    with _Serve(app) as base, httpx.Client(base_url=base) as client:
        ok_response = client.get("/ok")
        assert ok_response.status_code == 200 and ok_response.headers["x-trace-id"]
        with pytest.raises(httpx.RemoteProtocolError):
            client.get("/stream")  # the client sees a broken transfer, not a short body


async def test_stdlib_logger_gets_the_stack_and_trace_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = ErrorEnvelopeMiddleware(
        Starlette(routes=_routes()), logger=logging.getLogger("test.envelope")
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api"
    ) as client:
        with caplog.at_level(logging.WARNING, logger="test.envelope"):
            r = await client.get("/bug")
            limited = await client.get("/limited")
    bug, refused = caplog.records
    assert bug.levelno == logging.ERROR and bug.trace_id == r.headers["x-trace-id"]  # type: ignore[attr-defined]
    assert bug.exc_info is not None and bug.exc_info[0] is BoomError
    assert refused.levelno == logging.WARNING
    assert refused.trace_id == limited.headers["x-trace-id"]  # type: ignore[attr-defined]


async def test_status_for_maps_errors_of_your_own_on_fastapi(log_lines: io.StringIO) -> None:
    class DraftLockedError(Exception):
        code = "CONTENT.DRAFT.LOCKED"

    api = FastAPI()

    @api.post("/drafts/{draft}/publish")
    async def publish(draft: str) -> dict[str, str]:
        raise DraftLockedError(f"draft {draft} is being edited")

    @api.get("/crash")
    async def crash() -> dict[str, str]:
        raise BoomError(SECRET)

    # Installed the FastAPI way: inside Starlette's own ServerErrorMiddleware.
    api.add_middleware(
        ErrorEnvelopeMiddleware,
        status_for=lambda exc: 409 if isinstance(exc, DraftLockedError) else None,
        logger=json_logger(log_lines),
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=api), base_url="http://api"
    ) as client:
        r = await client.post("/drafts/d1/publish")
        crash_response = await client.get("/crash")
    assert r.status_code == 409
    assert r.json() == {
        "code": "CONTENT.DRAFT.LOCKED",
        "message": "draft d1 is being edited",
        "traceId": r.headers["x-trace-id"],
    }
    assert crash_response.status_code == 500
    assert crash_response.json()["code"] == "MITIGATE.HTTP.INTERNAL"
    assert "hunter2" not in crash_response.text
