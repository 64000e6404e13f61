"""The app factory (envelope, trace ids, health, metrics, tenants), the HTTP client with a
pipeline per target, and `mitigate serve`."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter
from pydantic import BaseModel
from services.kit.app import create_app
from services.kit.errors import ServiceError
from services.kit.http import Remote, RemoteError, RemoteRefusedError, asgi_transport
from services.kit.runtime import Runtime
from services.kit.settings import ServiceSettings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from typer.testing import CliRunner

import mitigate
from mitigate.cli import app as cli

router = APIRouter()


class Body(BaseModel):
    name: str


@router.post("/things")
async def create(body: Body) -> dict[str, str]:
    return {"name": body.name}


@router.get("/refuse")
async def refuse() -> None:
    raise ServiceError("DEMO.THING.REFUSED", "no thing today", status=409)


@router.get("/crash")
async def crash() -> None:
    raise RuntimeError("secret stack detail")


@pytest.fixture
async def app(tmp_path: Path):
    clock = mitigate.VirtualClock()
    settings = ServiceSettings(name="demo", data_dir=tmp_path)
    runtime = await Runtime.open(settings, clock=clock, policy=lambda name: None)
    registry = mitigate.StaticTenantRegistry()
    registry.add(mitigate.Tenant("acme"))
    tenants = mitigate.TenantResolver(registry, use_host=False, clock=clock)
    yield create_app(runtime, [router], title="demo", tenants=tenants), runtime
    await runtime.aclose()


def _client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        base_url="http://demo",
        headers={"x-tenant-id": "acme"},
    )


def _envelope(response: httpx.Response) -> dict[str, str]:
    body = response.json()
    assert set(body) == {"code", "message", "traceId"}, body
    assert body["traceId"] == response.headers["x-trace-id"]
    return body


async def test_errors_are_enveloped_with_the_trace_id(app) -> None:
    asgi, _ = app
    async with _client(asgi) as http:
        ok = await http.post("/things", json={"name": "a"})
        assert ok.status_code == 200 and "x-trace-id" in ok.headers
        invalid = await http.post("/things", json={"nope": 1})
        assert invalid.status_code == 422
        assert _envelope(invalid)["code"] == "PLATFORM.REQUEST.INVALID"
        refused = await http.get("/refuse")
        assert refused.status_code == 409 and _envelope(refused)["code"] == "DEMO.THING.REFUSED"
        missing = await http.get("/nowhere")
        assert (
            missing.status_code == 404
            and _envelope(missing)["code"] == "PLATFORM.REQUEST.NOT_FOUND"
        )
        crashed = await http.get("/crash")
        assert crashed.status_code == 500
        assert "secret" not in _envelope(crashed)["message"]


async def test_tenant_is_required_outside_the_probes(app) -> None:
    asgi, _ = app
    async with _client(asgi) as http:
        anonymous = await http.get("/refuse", headers={"x-tenant-id": ""})
        assert anonymous.status_code == 400
        assert _envelope(anonymous)["code"].startswith("MITIGATE.TENANT")
        unknown = await http.get("/refuse", headers={"x-tenant-id": "nobody"})
        assert unknown.status_code == 404 and _envelope(unknown)
        for probe in ("/healthz", "/readyz", "/metrics"):
            assert (await http.get(probe, headers={"x-tenant-id": ""})).status_code == 200


async def test_readiness_names_the_failing_dependency(app) -> None:
    asgi, runtime = app
    async with _client(asgi) as http:
        ready = await http.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert set(ready.json()["checks"]) >= {"store", "objects"}
        await runtime.store.aclose()
        down = await http.get("/readyz")
        assert down.status_code == 503
        assert down.json()["checks"]["store"]["ok"] is False, down.json()
        assert (await http.get("/healthz")).status_code == 200


def _flaky_provider() -> tuple[Starlette, list[int]]:
    answers = [503, 503, 200]
    seen: list[int] = []

    async def thing(request: Request) -> JSONResponse:
        status = answers.pop(0) if answers else 200
        seen.append(status)
        return JSONResponse({"ok": status == 200}, status_code=status)

    async def missing(request: Request) -> JSONResponse:
        seen.append(404)
        return JSONResponse({"error": "no such thing"}, status_code=404)

    return Starlette(routes=[Route("/thing", thing), Route("/missing", missing)]), seen


async def test_remote_retries_5xx_and_never_a_refusal() -> None:
    clock = mitigate.VirtualClock()
    recorder = mitigate.Recorder()
    pipeline = mitigate.Pipeline(
        "provider.get",
        mitigate.Retry.from_table(retries="3", backoff="100ms, 200ms, 300ms", budget="2s"),
        clock=clock,
        observers=[recorder],
    )
    provider, seen = _flaky_provider()
    remote = Remote("http://provider", lambda name: pipeline, transport=asgi_transport(provider))
    assert await remote.request("provider.get", "GET", "/thing") == {"ok": True}
    assert seen == [503, 503, 200]
    assert recorder.values("retry.scheduled", "delay") == [0.1, 0.2]
    with pytest.raises(RemoteRefusedError) as refused:
        await remote.request("provider.get", "GET", "/missing")
    assert refused.value.status == 404 and seen[-1] == 404 and seen.count(404) == 1
    dead = Remote("http://127.0.0.1:9", lambda name: pipeline)
    with pytest.raises(RemoteError):
        await dead.request("provider.get", "GET", "/thing")
    await remote.aclose()
    await dead.aclose()


def test_serve_names_an_unknown_service_and_exits_2() -> None:
    result = CliRunner().invoke(cli, ["serve", "no-such-service"])
    assert result.exit_code == 2
    assert "MITIGATE.CONFIG.SERVE" in result.output and "content" in result.output


def test_backends_resolve_to_urls(tmp_path: Path) -> None:
    settings = ServiceSettings(name="content", data_dir=tmp_path).with_backend(
        "postgres+nats+redis"
    )
    assert settings.store.startswith("postgresql://") and settings.bus.startswith("nats://")
    assert settings.cache.startswith("redis://")
    assert "schema=content" in settings.resolved().store_url
    embedded = ServiceSettings(name="content", data_dir=tmp_path).resolved()
    assert embedded.store.startswith("sqlite:///") and embedded.bus == "inproc"
    with pytest.raises(ValueError, match="unknown backend 'mysql'"):
        ServiceSettings().with_backend("mysql")
