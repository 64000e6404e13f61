"""The theme's store on PostgreSQL: the tenant set per transaction, by the store itself.

The tenant tables carry FORCED row-level security and the service connects as a role it
binds (tenancy.py), so a statement sees a tenant's rows only inside a transaction that
set ``app.tenant_id``. Rather than ask every use case to remember it, the store does:
each transaction (and each one-statement ``fetch``/``execute``, which becomes one) first
sets the tenant of the current context (the request's, or the event's a worker handles),
transaction-local, so it ends at the commit and a pooled connection never carries it on.

With no tenant in the context, PostgreSQL would answer a tenant table with no rows, which
is safe for a read but silent, and dangerous for a job that acts on absence (the orphan
sweep would take every live bundle for unnamed). So a statement on a tenant table outside
a tenant fails closed here, loudly: counted as a violation and refused
(``MELMASTOON.TENANT.NOT_SET``), the same rule the embedded store's guard applies.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

from .tenancy import TENANT_TABLES, TenantScope, current_tenant

__all__ = ["TenantBoundStore"]

_TENANT_TABLE = re.compile(r"\b(?:" + "|".join(TENANT_TABLES) + r")\b", re.IGNORECASE)
_SET_TENANT = "SELECT set_config('app.tenant_id', ?, true)"


class _TenantTx:
    """A transaction of the bound store: refuses a tenant table when no tenant is set."""

    def __init__(self, tx: Any, scope: TenantScope, tenant: str | None) -> None:
        self._tx, self._scope, self._tenant = tx, scope, tenant

    def __getattr__(self, name: str) -> Any:  # dialect, connection
        return getattr(self._tx, name)

    def _check(self, sql: str) -> None:
        if self._tenant is None and _TENANT_TABLE.search(sql):
            self._scope.refuse_no_tenant()

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        self._check(sql)
        return int(await self._tx.execute(sql, params))

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self._check(sql)
        await self._tx.executemany(sql, rows)

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Any:
        self._check(sql)
        return await self._tx.fetchone(sql, params)

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        self._check(sql)
        return list(await self._tx.fetchall(sql, params))


class TenantBoundStore:
    """Wraps the service's PostgreSQL store (everything else passes through)."""

    def __init__(self, inner: Any, scope: TenantScope) -> None:
        self._inner = inner
        self._scope = scope

    def __getattr__(self, name: str) -> Any:  # pool, schema, drop_schema, connection, ...
        return getattr(self._inner, name)

    # The Store protocol's members, spelled out (a runtime protocol check does not look
    # through __getattr__ on every Python).
    @property
    def dialect(self) -> Any:
        return self._inner.dialect

    @property
    def clock(self) -> Any:
        return self._inner.clock

    @property
    def commits(self) -> int:
        return int(self._inner.commits)

    def adopt(self, connection: Any) -> Any:
        return self._inner.adopt(connection)

    async def migrate(self, *, target: int | None = None) -> int:
        return int(await self._inner.migrate(target=target))

    async def schema_version(self) -> int:
        return int(await self._inner.schema_version())

    async def aclose(self) -> None:
        await self._inner.aclose()

    @contextlib.asynccontextmanager
    async def transaction(self, *, durable: bool = True) -> AsyncIterator[Any]:
        tenant = current_tenant()
        async with self._inner.transaction(durable=durable) as tx:
            if tenant is not None:
                await tx.execute(_SET_TENANT, (tenant,))
            yield _TenantTx(tx, self._scope, tenant)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        if not _TENANT_TABLE.search(sql):  # one round trip when no policy applies
            return int(await self._inner.execute(sql, params))
        async with self.transaction() as tx:
            return int(await tx.execute(sql, params))

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        if not _TENANT_TABLE.search(sql):
            return list(await self._inner.fetch(sql, params))
        async with self.transaction() as tx:
            return list(await tx.fetchall(sql, params))
