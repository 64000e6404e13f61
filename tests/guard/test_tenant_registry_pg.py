"""The PostgreSQL tenant registry behind the fail-closed resolver (edge.fm.2.2a)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from mitigate.guard.errors import TenantError
from mitigate.guard.rls import quote_ident
from mitigate.guard.tenancy import Tenant, TenantResolver
from mitigate.guard.tenant_registry_pg import PostgresTenantRegistry, registry_table_sql
from tests.conftest import require_postgres

pytestmark = pytest.mark.integration


@pytest.fixture
async def registry() -> AsyncIterator[PostgresTenantRegistry]:
    dsn = require_postgres()
    schema = f"mitigate_tenants_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {quote_ident(schema)}")
        for statement in registry_table_sql(f"{schema}.tenants"):
            conn.execute(statement)
    pool: AsyncConnectionPool = AsyncConnectionPool(dsn, min_size=1, max_size=2, open=False)
    await pool.open()
    try:
        reg = PostgresTenantRegistry(pool, table=f"{schema}.tenants")
        await reg.add(Tenant("acme", "Acme", "pro"), hosts=["Acme.example.com"], api_keys=["k1"])
        await reg.add(Tenant("globex"), hosts=["globex.example.com"], api_keys=["k2"])
        yield reg
    finally:
        await pool.close()
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {quote_ident(schema)} CASCADE")


async def test_resolves_from_the_table(registry: PostgresTenantRegistry) -> None:
    resolver = TenantResolver(registry)
    assert await resolver.resolve({"x-tenant-id": "acme"}) == Tenant("acme", "Acme", "pro")
    assert (await resolver.resolve({}, host="acme.example.com")).id == "acme"
    assert (await resolver.resolve({"x-api-key": "k2"})).id == "globex"
    with pytest.raises(TenantError) as info:
        await resolver.resolve({"x-api-key": "k3"})
    assert (info.value.status, info.value.code) == (404, "MITIGATE.TENANT.UNKNOWN")


async def test_a_host_naming_two_tenants_is_a_registry_error(registry) -> None:
    await registry.add(Tenant("initech"), hosts=["acme.example.com"])
    with pytest.raises(TenantError) as info:
        await TenantResolver(registry).resolve({}, host="acme.example.com")
    assert info.value.status == 503


async def test_registry_down_is_503(registry: PostgresTenantRegistry) -> None:
    await registry.pool.close()
    with pytest.raises(TenantError) as info:
        await TenantResolver(registry).resolve({"x-tenant-id": "acme"})
    assert (info.value.status, info.value.code) == (503, "MITIGATE.TENANT.REGISTRY_UNAVAILABLE")
