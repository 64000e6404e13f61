"""The idempotency middleware and the request body: a client that disconnects mid-body
never reaches the application, and its retry with the whole body runs."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Message

from mitigate.durable.idempotency import DatabaseIdempotencyStore
from mitigate.durable.sqlite import SqliteStore
from mitigate.web.idempotency import IdempotencyMiddleware

_HEADERS = [
    (b"idempotency-key", b"upload-1"),
    (b"authorization", b"Bearer uploader"),
    (b"content-type", b"application/json"),
]


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = await SqliteStore.open(tmp_path / "idem.db", durability="normal")
    yield store
    await store.aclose()


async def test_a_body_cut_short_by_a_disconnect_never_reaches_the_app(db: SqliteStore) -> None:
    stored: list[bytes] = []

    async def upload(request: Request) -> Response:
        stored.append(await request.body())
        return JSONResponse({"bytes": len(stored[-1])}, status_code=201)

    app = IdempotencyMiddleware(
        Starlette(routes=[Route("/uploads", upload, methods=["POST"])]),
        DatabaseIdempotencyStore(db),
    )
    body = json.dumps({"data": "x" * 3000}).encode()
    third = len(body) // 3
    incoming: list[Message] = [
        {"type": "http.request", "body": body[:third], "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return incoming.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/uploads",
        "raw_path": b"/uploads",
        "query_string": b"",
        "root_path": "",
        "headers": _HEADERS,
        "client": ("127.0.0.1", 5000),
        "server": ("t", 80),
    }
    await app(scope, receive, send)
    assert stored == []  # the partial body was not processed
    assert sent == []  # nobody is listening

    # The client's retry with the whole body runs: the key was not taken.
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        retry = await client.post(
            "/uploads", content=body, headers={k.decode(): v.decode() for k, v in _HEADERS}
        )
    assert retry.status_code == 201 and "idempotent-replayed" not in retry.headers
    assert stored == [body]
