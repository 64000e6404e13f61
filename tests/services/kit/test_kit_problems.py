"""The kit's app answers the idempotency middleware's refusals (RFC 9457 problems) in the
error envelope {code, message, traceId}, so no service converts them itself; everything
else passes through untouched, streamed bodies included."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from services.kit.app import create_app
from services.kit.problems import as_envelope
from services.kit.runtime import Runtime
from services.kit.settings import ServiceSettings

import mitigate

router = APIRouter()
calls: list[str] = []
events: dict[str, asyncio.Event] = {}  # "entered", "gate": fresh per test (its own loop)


class Body(BaseModel):
    name: str


@router.post("/orders")
async def order(body: Body) -> dict[str, str]:
    calls.append(body.name)
    if body.name == "slow":
        events["entered"].set()
        await events["gate"].wait()
    return {"order": body.name}


@router.post("/stream")
async def stream() -> StreamingResponse:
    async def parts() -> AsyncIterator[bytes]:
        for part in (b"one,", b"two,", b"three"):
            yield part

    return StreamingResponse(parts(), media_type="text/csv")


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, mitigate.Recorder]]:
    clock = mitigate.VirtualClock()
    recorder = mitigate.Recorder()
    settings = ServiceSettings(name="demo", data_dir=tmp_path)
    runtime = await Runtime.open(
        settings, clock=clock, policy=lambda name: None, observers=[recorder]
    )
    registry = mitigate.StaticTenantRegistry()
    registry.add(mitigate.Tenant("acme"))
    tenants = mitigate.TenantResolver(registry, use_host=False, clock=clock)
    app = create_app(runtime, [router], title="demo", tenants=tenants)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    calls.clear()
    events.update(entered=asyncio.Event(), gate=asyncio.Event())
    async with httpx.AsyncClient(
        transport=transport, base_url="http://demo", headers={"x-tenant-id": "acme"}
    ) as http:
        yield http, recorder
    await runtime.aclose()


def _envelope(response: httpx.Response) -> dict[str, str]:
    assert response.headers["content-type"] == "application/json"
    assert int(response.headers["content-length"]) == len(response.content)
    body = response.json()
    assert set(body) == {"code", "message", "traceId"}, body
    assert body["traceId"] == response.headers["x-trace-id"]
    return body


async def test_a_key_reused_with_another_payload_is_a_422_envelope(client) -> None:
    http, recorder = client
    key = {"idempotency-key": "k-1"}
    first = await http.post("/orders", json={"name": "a"}, headers=key)
    again = await http.post("/orders", json={"name": "a"}, headers=key)
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    reused = await http.post("/orders", json={"name": "b"}, headers=key)
    assert reused.status_code == 422
    body = _envelope(reused)
    assert body["code"] == "MITIGATE.IDEMPOTENCY.KEY_REUSED"
    assert body["message"] == "this key was used with a different request; use a new key"
    assert calls == ["a"]  # the handler ran once
    # The refusals reach the service's observers (detection rules can count them).
    assert [e.status for e in recorder.named("idempotency.conflict")] == [422]
    assert recorder.count("idempotency.replayed") == 1


async def test_a_bad_key_and_a_key_in_flight_are_enveloped(client) -> None:
    http, _ = client
    bad = await http.post("/orders", json={"name": "a"}, headers={"idempotency-key": "x" * 256})
    assert bad.status_code == 400
    assert _envelope(bad)["code"] == "MITIGATE.IDEMPOTENCY.KEY_INVALID"

    key = {"idempotency-key": "k-slow"}
    slow = asyncio.ensure_future(http.post("/orders", json={"name": "slow"}, headers=key))
    await events["entered"].wait()  # the first request is in the handler
    busy = await http.post("/orders", json={"name": "slow"}, headers=key)
    events["gate"].set()
    done = await slow
    assert busy.status_code == 409
    assert _envelope(busy)["code"] == "MITIGATE.IDEMPOTENCY.IN_FLIGHT"
    assert done.status_code == 200 and done.json() == {"order": "slow"}


async def test_other_responses_pass_through_untouched(client) -> None:
    http, _ = client
    streamed = await http.post("/stream", headers={"idempotency-key": "k-s"})
    assert streamed.status_code == 200
    assert streamed.headers["content-type"].startswith("text/csv")
    assert streamed.content == b"one,two,three"
    invalid = await http.post("/orders", json={"nope": 1})
    assert invalid.status_code == 422
    assert _envelope(invalid)["code"] == "PLATFORM.REQUEST.INVALID"


def test_as_envelope_leaves_what_is_not_a_json_problem_alone() -> None:
    start = {"type": "http.response.start", "status": 409, "headers": []}
    assert as_envelope(start, b"plain") == (start, b"plain")
    problem = {**start, "headers": [(b"content-type", b"application/problem+json")]}
    assert as_envelope(problem, b"{not json") == (problem, b"{not json")
    assert as_envelope(problem, b"[1]") == (problem, b"[1]")
    new_start, body = as_envelope(problem, b'{"title": "busy", "status": 409}')
    assert new_start["status"] == 409
    assert b'"code": "PLATFORM.HTTP.409"' in body and b'"message": "busy"' in body
