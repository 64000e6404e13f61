"""Fail-closed tenant resolution (edge.fm.2.2a, theme.fm.2.10, comms.fm.12)."""

from __future__ import annotations

import asyncio

import pytest

from mitigate.clock import VirtualClock
from mitigate.guard.errors import TenantError
from mitigate.guard.tenancy import StaticTenantRegistry, Tenant, TenantResolver
from mitigate.observe.events import TenantRejected
from mitigate.observe.observers import Recorder


@pytest.fixture
def registry() -> StaticTenantRegistry:
    reg = StaticTenantRegistry()
    reg.add(Tenant("acme", plan="pro"), hosts=["acme.example.com"], api_keys=["acme-key"])
    reg.add(Tenant("globex"), hosts=["globex.example.com"], api_keys=["globex-key"])
    return reg


def _resolver(registry, **kw) -> tuple[TenantResolver, Recorder]:  # type: ignore[no-untyped-def]
    recorder = Recorder()
    return TenantResolver(
        registry, observers=[recorder], shared_hosts=["api.example.com"], **kw
    ), recorder


async def _code(resolver: TenantResolver, headers: dict[str, str], host: str | None = None):  # type: ignore[no-untyped-def]
    with pytest.raises(TenantError) as info:
        await resolver.resolve(headers, host=host, client="203.0.113.9")
    return info.value.status, info.value.code


@pytest.mark.parametrize(
    ("headers", "host", "tenant"),
    [
        ({"x-tenant-id": "acme"}, None, "acme"),
        ({"X-Tenant-Id": "acme"}, "api.example.com", "acme"),
        ({}, "acme.example.com", "acme"),
        ({}, "ACME.example.com:8443", "acme"),
        ({"x-api-key": "globex-key"}, "api.example.com", "globex"),
        ({"x-tenant-id": "globex", "x-api-key": "globex-key"}, "globex.example.com", "globex"),
    ],
)
async def test_resolves_from_header_host_or_api_key(registry, headers, host, tenant) -> None:
    resolver, recorder = _resolver(registry)
    assert (await resolver.resolve(headers, host=host)).id == tenant
    assert recorder.events == []


@pytest.mark.parametrize(
    ("headers", "host", "status", "code"),
    [
        ({}, None, 400, "MITIGATE.TENANT.MISSING"),
        ({}, "api.example.com", 400, "MITIGATE.TENANT.MISSING"),
        ({"x-tenant-id": ""}, None, 400, "MITIGATE.TENANT.MALFORMED"),
        ({"x-tenant-id": "ACME; drop table"}, None, 400, "MITIGATE.TENANT.MALFORMED"),
        ({"x-tenant-id": "a" * 200}, None, 400, "MITIGATE.TENANT.MALFORMED"),
        ({"x-tenant-id": "initech"}, None, 404, "MITIGATE.TENANT.UNKNOWN"),
        ({}, "unknown.example.com", 404, "MITIGATE.TENANT.UNKNOWN"),
        ({"x-api-key": "stolen"}, "api.example.com", 404, "MITIGATE.TENANT.UNKNOWN"),
        ({"x-tenant-id": "acme"}, "globex.example.com", 400, "MITIGATE.TENANT.CONFLICT"),
        ({"x-tenant-id": "acme", "x-api-key": "globex-key"}, None, 400, "MITIGATE.TENANT.CONFLICT"),
    ],
)
async def test_fails_closed_with_a_clear_code_and_an_event(
    registry, headers, host, status, code
) -> None:
    resolver, recorder = _resolver(registry)
    assert await _code(resolver, headers, host) == (status, code)
    [event] = recorder.of(TenantRejected)
    assert (event.status, event.reason, event.client) == (status, code, "203.0.113.9")


class _Broken:
    def __init__(self, how: str) -> None:
        self.how = how

    async def _answer(self) -> Tenant | None:
        if self.how == "error":
            raise ConnectionError("registry down")
        if self.how == "hang":
            await asyncio.Event().wait()
        if self.how == "corrupt":
            return "acme"  # type: ignore[return-value]
        return None

    async def by_id(self, tenant_id: str) -> Tenant | None:
        return await self._answer()

    async def by_host(self, host: str) -> Tenant | None:
        return await self._answer()

    async def by_api_key(self, key_hash: bytes) -> Tenant | None:
        return await self._answer()


class _SyncRaising:
    def by_id(self, tenant_id: str):  # type: ignore[no-untyped-def]
        raise RuntimeError("not even a coroutine")

    by_host = by_api_key = by_id


@pytest.mark.parametrize("how", ["error", "hang", "corrupt"])
async def test_registry_faults_are_503_never_allowed(how: str) -> None:
    clock = VirtualClock()  # autojump: the 2 s timeout costs nothing
    resolver = TenantResolver(_Broken(how), clock=clock)
    for headers, host in (
        ({"x-tenant-id": "acme"}, None),
        ({}, "acme.example.com"),
        ({"x-api-key": "k"}, None),
    ):
        assert await _code(resolver, headers, host) == (503, "MITIGATE.TENANT.REGISTRY_UNAVAILABLE")
    if how == "hang":
        assert clock.now() == pytest.approx(6.0)


async def test_a_sync_registry_that_raises_is_503() -> None:
    resolver = TenantResolver(_SyncRaising())  # type: ignore[arg-type]
    assert await _code(resolver, {"x-tenant-id": "acme"}) == (
        503,
        "MITIGATE.TENANT.REGISTRY_UNAVAILABLE",
    )
