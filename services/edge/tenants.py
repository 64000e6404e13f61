"""The tenant registry: validated config files loaded into the store, looked up fail-closed.

``TenantDirectory.load()`` validates the whole folder and replaces the registry's rows in
one transaction, or changes nothing (a bad hot reload keeps the last valid config). Until
one load succeeds the registry answers nothing but an error, so the resolver refuses every
request with 503 and readiness stays false.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import mitigate
from mitigate.guard import api_key_hash

from .domain.tenant_config import InvalidConfigError, TenantConfig, check_folder
from .events import ConfigRejected

__all__ = ["StoreTenantRegistry", "TenantDirectory"]


FAIL_OPEN_TENANT = "guest"  # what the fail-open mutation lets through


class ConfigNotLoadedError(Exception):
    """No valid tenant config was ever loaded: nothing may be served."""


class TenantDirectory:
    def __init__(self, runtime: Any, folder: Path) -> None:
        self.rt = runtime
        self.folder = folder
        self.loaded = False
        self.last_problems: list[str] = []

    async def load(self) -> list[TenantConfig]:
        """Validate every file and load them all, or raise and change nothing."""
        gate = self.rt.switches.enabled("edge.switch.config-gate")
        configs, problems = check_folder(self.folder)
        if problems:
            self.last_problems = [str(p) for p in problems]
            for problem in problems:
                self.rt.emit(
                    ConfigRejected(
                        target=problem.file,
                        at=self.rt.clock.now(),
                        path=problem.path,
                        problem=problem.message,
                    )
                )
            if gate:
                raise InvalidConfigError(problems)
        async with self.rt.store.transaction() as tx:
            await tx.execute("DELETE FROM edge_tenants")
            for c in configs:
                hashes = [api_key_hash(k).hex() for k in c.api_keys]
                await tx.execute(
                    "INSERT INTO edge_tenants (id, plan, hosts, api_key_hashes, config)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (c.id, c.plan, json.dumps(c.hosts), json.dumps(hashes), c.model_dump_json()),
                )
        self.loaded = True
        return configs


class StoreTenantRegistry:
    """A :class:`mitigate.TenantRegistry` over the ``edge_tenants`` table; every lookup
    goes through the ``tenant.registry`` policy (timeout; faults attach there)."""

    def __init__(self, runtime: Any, directory: TenantDirectory) -> None:
        self.rt = runtime
        self.directory = directory

    async def _rows(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        if not self.directory.loaded:
            raise ConfigNotLoadedError("no valid tenant config loaded")

        async def query() -> list[Any]:
            return list(await self.rt.store.fetch(sql, params))

        rows: list[Any] = await self.rt.policy("tenant.registry").acall(query)
        return rows

    @staticmethod
    def _tenant(row: Any) -> mitigate.Tenant:
        return mitigate.Tenant(str(row[0]), plan=str(row[1]))

    async def _guarded(self, lookup: Awaitable[mitigate.Tenant | None]) -> mitigate.Tenant | None:
        if not self.rt.switches.enabled("edge.switch.fail-closed-tenant"):
            # The mutation: a lookup that fails or finds nothing lets the request through.
            try:
                return await lookup or mitigate.Tenant(FAIL_OPEN_TENANT)
            except Exception:
                return mitigate.Tenant(FAIL_OPEN_TENANT)
        return await lookup

    async def by_id(self, tenant_id: str) -> mitigate.Tenant | None:
        return await self._guarded(self._by_id(tenant_id))

    async def _by_id(self, tenant_id: str) -> mitigate.Tenant | None:
        rows = await self._rows("SELECT id, plan FROM edge_tenants WHERE id = ?", (tenant_id,))
        if rows and str(rows[0][0]) != tenant_id:  # corrupt data is a failure, never a match
            raise ValueError("tenant registry answered another tenant's row")
        return self._tenant(rows[0]) if rows else None

    async def by_host(self, host: str) -> mitigate.Tenant | None:
        return await self._guarded(self._by_host(host))

    async def by_api_key(self, key_hash: bytes) -> mitigate.Tenant | None:
        return await self._guarded(self._by_api_key(key_hash))

    async def _by_host(self, host: str) -> mitigate.Tenant | None:
        rows = await self._rows("SELECT id, plan, hosts FROM edge_tenants", ())
        for row in rows:
            if host in json.loads(row[2]):
                return self._tenant(row)
        return None

    async def _by_api_key(self, key_hash: bytes) -> mitigate.Tenant | None:
        rows = await self._rows("SELECT id, plan, api_key_hashes FROM edge_tenants", ())
        for row in rows:
            if key_hash.hex() in json.loads(row[2]):
                return self._tenant(row)
        return None
