"""Tenant middleware: unknown tenants are refused before any handler runs (edge.fm.2.2a)."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from mitigate.guard.tenancy import StaticTenantRegistry, Tenant, TenantResolver
from mitigate.observe.events import TenantRejected
from mitigate.observe.observers import Recorder
from mitigate.web.tenancy import TenantMiddleware, current_tenant


class _Spy:
    def __init__(self) -> None:
        self.calls: list[str] = []

    async def endpoint(self, request: Request) -> JSONResponse:
        tenant = request.state.tenant
        self.calls.append(tenant.id)
        ctx = current_tenant.get()
        return JSONResponse({"tenant": tenant.id, "ctx": ctx.id if ctx else None})

    async def health(self, request: Request) -> JSONResponse:
        self.calls.append("health")
        return JSONResponse({"ok": True})

    async def socket(self, websocket: WebSocket) -> None:
        self.calls.append("socket")
        await websocket.accept()
        await websocket.send_text(websocket.scope["state"]["tenant"].id)
        await websocket.close()


class _Down:
    async def by_id(self, tenant_id: str) -> Tenant | None:
        raise ConnectionError("registry down")

    by_host = by_api_key = by_id  # type: ignore[assignment]


@pytest.fixture
def spy() -> _Spy:
    return _Spy()


def _app(spy: _Spy, registry, rejected: list[str], recorder: Recorder):  # type: ignore[no-untyped-def]
    inner = Starlette(
        routes=[
            Route("/notes", spy.endpoint),
            Route("/healthz", spy.health),
            WebSocketRoute("/live", spy.socket),
        ]
    )
    resolver = TenantResolver(registry, shared_hosts=["api.test"], observers=[recorder])
    return TenantMiddleware(inner, resolver, exempt=["/healthz"], on_reject=rejected.append)


@pytest.fixture
def registry() -> StaticTenantRegistry:
    reg = StaticTenantRegistry()
    reg.add(Tenant("acme"), hosts=["acme.test"], api_keys=["acme-key"])
    return reg


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({"x-tenant-id": "initech"}, 404, "MITIGATE.TENANT.UNKNOWN"),
        ({"host": "unknown.test"}, 404, "MITIGATE.TENANT.UNKNOWN"),
        ({"x-api-key": "wrong"}, 404, "MITIGATE.TENANT.UNKNOWN"),
        ({}, 400, "MITIGATE.TENANT.MISSING"),
        ({"x-tenant-id": "Bad Id"}, 400, "MITIGATE.TENANT.MALFORMED"),
    ],
)
async def test_rejected_before_any_handler(spy, registry, headers, status, code) -> None:
    rejected: list[str] = []
    recorder = Recorder()
    app = _app(spy, registry, rejected, recorder)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=("198.51.100.7", 5000)),
        base_url="http://api.test",
    ) as client:
        r = await client.get("/notes", headers=headers)
    assert r.status_code == status
    assert r.json()["code"] == code and code in r.json()["message"]
    assert r.headers["cache-control"] == "no-store"
    assert spy.calls == []  # the handler never ran
    assert rejected == ["198.51.100.7"]
    assert recorder.values("guard.tenant_rejected", "client") == ["198.51.100.7"]


async def test_registry_down_is_503_and_handlers_never_run(spy) -> None:
    recorder = Recorder()
    app = _app(spy, _Down(), [], recorder)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api.test"
    ) as client:
        r = await client.get("/notes", headers={"x-tenant-id": "acme"})
    assert r.status_code == 503
    assert r.json()["code"] == "MITIGATE.TENANT.REGISTRY_UNAVAILABLE"
    assert spy.calls == []
    assert isinstance(recorder.events[0], TenantRejected)


async def test_resolved_tenant_reaches_the_handler(spy, registry) -> None:
    app = _app(spy, registry, [], Recorder())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://acme.test"
    ) as client:
        r = await client.get("/notes")
    assert r.status_code == 200
    assert r.json() == {"tenant": "acme", "ctx": "acme"}
    assert current_tenant.get() is None  # reset after the request


async def test_exempt_paths_skip_resolution(spy, registry) -> None:
    app = _app(spy, registry, [], Recorder())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api.test"
    ) as client:
        assert (await client.get("/healthz")).status_code == 200
    assert spy.calls == ["health"]


async def _websocket(app, headers: list[tuple[bytes, bytes]]) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    incoming = [{"type": "websocket.connect"}, {"type": "websocket.disconnect", "code": 1000}]
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return incoming.pop(0)

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "websocket",
        "path": "/live",
        "raw_path": b"/live",
        "query_string": b"",
        "headers": headers,
        "scheme": "ws",
        "server": ("acme.test", 80),
        "client": ("192.0.2.1", 1234),
        "subprotocols": [],
        "asgi": {"version": "3.0"},
    }
    await app(scope, receive, send)
    return sent


async def test_websockets_are_resolved_too(spy, registry) -> None:
    rejected: list[str] = []
    app = _app(spy, registry, rejected, Recorder())
    ok = await _websocket(app, [(b"host", b"acme.test")])
    assert [m["type"] for m in ok] == ["websocket.accept", "websocket.send", "websocket.close"]
    assert ok[1]["text"] == "acme"
    refused = await _websocket(app, [(b"host", b"api.test"), (b"x-tenant-id", b"nope")])
    assert refused == [
        {"type": "websocket.close", "code": 1008, "reason": "MITIGATE.TENANT.UNKNOWN"}
    ]
    assert spy.calls == ["socket"]
    assert rejected == ["192.0.2.1"]


@pytest.mark.parametrize(
    "headers",
    [
        [("x-tenant-id", "acme"), ("x-tenant-id", "globex")],
        [("x-tenant-id", "globex"), ("X-Tenant-Id", "acme")],
        [("x-api-key", "acme-key"), ("x-api-key", "globex-key")],
        [("x-api-key", "acme-key"), ("x-api-key", "acme-key")],
    ],
    ids=["two-ids", "two-ids-mixed-case", "two-keys", "same-key-twice"],
)
async def test_a_repeated_tenant_header_is_refused(spy, headers) -> None:
    # The resolver and the application must never read different values of one header.
    reg = StaticTenantRegistry()
    reg.add(Tenant("acme"), api_keys=["acme-key"])
    reg.add(Tenant("globex"), api_keys=["globex-key"])
    rejected: list[str] = []
    recorder = Recorder()
    app = _app(spy, reg, rejected, recorder)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=("198.51.100.9", 5000)),
        base_url="http://api.test",
    ) as client:
        r = await client.get("/notes", headers=headers)
    assert r.status_code == 400
    assert r.json()["code"] == "MITIGATE.TENANT.DUPLICATE_HEADER"
    assert spy.calls == []
    assert rejected == ["198.51.100.9"]
    assert recorder.values("guard.tenant_rejected", "reason") == [
        "MITIGATE.TENANT.DUPLICATE_HEADER"
    ]


@pytest.mark.parametrize("path", ["/healthz/details", "/healthzadmin", "/healthz/"])
async def test_exempt_paths_are_exact_not_prefixes(spy, registry, path: str) -> None:
    inner = Starlette(
        routes=[Route("/healthz", spy.health), Route(path, spy.endpoint)],
    )
    resolver = TenantResolver(registry, shared_hosts=["api.test"])
    app = TenantMiddleware(inner, resolver, exempt=["/healthz"])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        base_url="http://api.test",
    ) as client:
        r = await client.get(path)
        assert r.status_code == 400 and r.json()["code"] == "MITIGATE.TENANT.MISSING"
        assert (await client.get("/healthz")).status_code == 200
    assert spy.calls == ["health"]  # only the exact exempt path ran without a tenant


async def test_an_exempt_entry_ending_in_a_slash_exempts_its_subtree(spy, registry) -> None:
    inner = Starlette(routes=[Route("/objects/{name}", spy.health), Route("/objects", spy.health)])
    resolver = TenantResolver(registry, shared_hosts=["api.test"])
    app = TenantMiddleware(inner, resolver, exempt=["/objects/"])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api.test"
    ) as client:
        assert (await client.get("/objects/a.bin")).status_code == 200
        assert (await client.get("/objects")).status_code == 400
    assert spy.calls == ["health"]
