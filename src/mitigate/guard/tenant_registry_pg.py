"""Tenants in a PostgreSQL table, for :class:`~mitigate.TenantResolver`.

One row per tenant: id, name, plan, the hosts that name it and the SHA-256 of its API
keys (never the keys). :func:`registry_table_sql` creates the table with the indexes the
lookups use. Any database error propagates, so the resolver answers 503 and never lets a
request through.

>>> print(registry_table_sql("edge.tenants")[0])
CREATE TABLE IF NOT EXISTS "edge"."tenants" (id text PRIMARY KEY, name text NOT NULL \
DEFAULT '', plan text NOT NULL DEFAULT '', hosts text[] NOT NULL DEFAULT '{}', \
api_key_hashes bytea[] NOT NULL DEFAULT '{}')

.. versionadded:: 0.1
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from mitigate.guard.rls import _table, quote_ident
from mitigate.guard.tenancy import Tenant, api_key_hash

if TYPE_CHECKING:
    from psycopg import AsyncConnection
    from psycopg_pool import AsyncConnectionPool

__all__ = ["PostgresTenantRegistry", "registry_table_sql"]


def registry_table_sql(table: str) -> list[str]:
    """The registry table and its lookup indexes."""
    t = _table(table)
    base = table.rsplit(".", 1)[-1]
    return [
        f"CREATE TABLE IF NOT EXISTS {t} (id text PRIMARY KEY, name text NOT NULL DEFAULT '', "
        "plan text NOT NULL DEFAULT '', hosts text[] NOT NULL DEFAULT '{}', "
        "api_key_hashes bytea[] NOT NULL DEFAULT '{}')",
        f"CREATE INDEX IF NOT EXISTS {quote_ident(base + '_hosts')} ON {t} USING gin (hosts)",
        f"CREATE INDEX IF NOT EXISTS {quote_ident(base + '_keys')} ON {t} "
        "USING gin (api_key_hashes)",
    ]


class PostgresTenantRegistry:
    """A :class:`~mitigate.guard.tenancy.TenantRegistry` over an async psycopg pool."""

    def __init__(self, pool: AsyncConnectionPool[AsyncConnection[Any]], *, table: str) -> None:
        self.pool = pool
        self.table = _table(table)

    async def add(
        self, tenant: Tenant, *, hosts: Iterable[str] = (), api_keys: Iterable[str] = ()
    ) -> None:
        """Insert or replace a tenant (administration, tests)."""
        async with self.pool.connection() as conn:
            await conn.execute(
                f"INSERT INTO {self.table} (id, name, plan, hosts, api_key_hashes) "
                "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET name = "
                "excluded.name, plan = excluded.plan, hosts = excluded.hosts, "
                "api_key_hashes = excluded.api_key_hashes",
                (
                    tenant.id,
                    tenant.name,
                    tenant.plan,
                    [h.lower() for h in hosts],
                    [api_key_hash(k) for k in api_keys],
                ),
            )

    async def by_id(self, tenant_id: str) -> Tenant | None:
        return await self._one("id = %s", tenant_id)

    async def by_host(self, host: str) -> Tenant | None:
        return await self._one("hosts @> ARRAY[%s]::text[]", host)

    async def by_api_key(self, key_hash: bytes) -> Tenant | None:
        return await self._one("api_key_hashes @> ARRAY[%s]::bytea[]", key_hash)

    async def _one(self, where: str, value: object) -> Tenant | None:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                f"SELECT id, name, plan FROM {self.table} WHERE {where} LIMIT 2", (value,)
            )
            rows = await cur.fetchall()
        if len(rows) > 1:  # one host or key naming two tenants is a registry error
            raise LookupError(f"{len(rows)} tenants match one lookup")
        return Tenant(*rows[0]) if rows else None
