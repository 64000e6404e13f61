"""Tenant isolation of the theme tables (theme.fm.2.10).

On PostgreSQL the tables carry FORCED row-level security (:func:`rls_statements`), the
app connects as a role that owns nothing and has no BYPASSRLS (checked at start, the
service refuses to run otherwise), and the tenant is set per transaction
(``set_config('app.tenant_id', ..., true)``), so a pooled connection never carries it to
the next request.

The embedded store (SQLite) has no row-level security; :class:`TenantScope` emulates it
in the app layer with the same rules: every tenant read runs in a tenant transaction, a
read with no tenant fails closed, a row of another tenant that a query returns is dropped
and counted (``theme_rls_violations_total``, a sev1 event), and the tenant lives only as
long as its transaction. The start-up check refuses a configuration whose database role
is the tables' owner or may bypass RLS.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from prometheus_client import Counter

import mitigate
from mitigate.guard import rls_policy_sql
from services.kit.errors import ServiceError

from .audit import report

__all__ = [
    "OWNER_ROLE",
    "TENANT_TABLES",
    "RlsViolation",
    "TenantScope",
    "check_role",
    "rls_statements",
]

TENANT_TABLES = (
    "theme_themes",
    "theme_publications",
    "theme_suggestions",
    "theme_preview_tokens",
    "theme_broken_assets",
    "theme_onboarding",
)
OWNER_ROLE = "theme_owner"  # runs the migrations; the app never connects as it
SW_GUARD = "theme.switch.tenant-guard"
SW_FAIL_CLOSED = "theme.switch.fail-closed-tenant"
SW_PER_TX = "theme.switch.tenant-per-transaction"
SW_STARTUP = "theme.switch.rls-startup-check"
log = logging.getLogger("services.theme.tenancy")
_tenant: contextvars.ContextVar[str | None] = contextvars.ContextVar("theme_tenant", default=None)


@dataclass(frozen=True, slots=True, kw_only=True)
class RlsViolation(mitigate.Event):
    """A read crossed tenants (rows of another tenant, or no tenant at all): sev1."""

    name: ClassVar[str] = "theme.rls_violation"
    default_severity: ClassVar[mitigate.Severity] = mitigate.Severity.CRITICAL
    tenant: str = ""
    kind: str = ""  # cross-tenant or no-tenant
    rows: int = 0


def rls_statements(schema: str) -> list[str]:
    """PostgreSQL: FORCED RLS with a tenant policy on every tenant table of ``schema``."""
    out: list[str] = []
    for table in TENANT_TABLES:
        out += rls_policy_sql(f"{schema}.{table}", tenant_column="tenant")
    return out


def check_role(runtime: Any, role: str, *, bypass: bool = False) -> None:
    """The start-up check of the embedded store: refuse the owner or a BYPASSRLS role
    (on PostgreSQL, :func:`mitigate.guard.rls.acheck_app_role` asks the database)."""
    if not runtime.switches.enabled(SW_STARTUP):
        return
    if role == OWNER_ROLE or bypass:
        raise mitigate.RlsError(
            "rls",
            f"the theme service would connect as {role!r}"
            f"{' with BYPASSRLS' if bypass else ' (the tables owner)'}: it could read every"
            " tenant",
            code="MITIGATE.RLS.OWNER" if not bypass else "MITIGATE.RLS.BYPASS",
            hint="connect as the app role (theme_app), which owns nothing",
        )


class TenantScope:
    def __init__(self, runtime: Any) -> None:
        self.rt = runtime
        self.violations = Counter(
            "theme_rls_violations_total",
            "reads that crossed tenants or had no tenant (must stay 0)",
            ["kind"],
            registry=runtime.registry,
        )

    def _on(self, switch: str) -> bool:
        return bool(self.rt.switches.enabled(switch))

    def _violation(self, tenant: str, kind: str, rows: int) -> None:
        self.violations.labels(kind=kind).inc()
        log.critical("tenant isolation violation (%s) under tenant %r: %d rows", kind, tenant, rows)
        report(
            self.rt,
            RlsViolation(target="rls", at=self.rt.clock.now(), tenant=tenant, kind=kind, rows=rows),
        )

    @contextlib.asynccontextmanager
    async def transaction(self, tenant: str) -> AsyncIterator[Any]:
        """A transaction in which only ``tenant``'s rows are visible."""
        token = _tenant.set(tenant)
        try:
            async with self.rt.store.transaction() as tx:
                if tx.dialect == "postgres":
                    await tx.execute("SELECT set_config('app.tenant_id', ?, true)", (tenant,))
                yield tx
        finally:
            if self._on(SW_PER_TX):  # transaction-local: nothing outlives the block
                _tenant.reset(token)

    async def read(
        self, sql: str, params: Sequence[Any] = (), *, tenant_column: int = 0
    ) -> list[Any]:
        """Rows of a tenant table for the current transaction's tenant (column
        ``tenant_column`` of each row names the row's tenant)."""
        tenant = _tenant.get()
        if tenant is None:
            if self._on(SW_FAIL_CLOSED):
                self._violation("", "no-tenant", 0)
                raise ServiceError(
                    "MELMASTOON.TENANT.NOT_SET",
                    "a tenant table was read outside a tenant transaction",
                    status=500,
                )
            return list(await self.rt.store.fetch(sql, params))
        async with self.transaction(tenant) as tx:
            rows = list(await tx.fetchall(sql, params))
        if not self._on(SW_GUARD):
            return rows
        foreign = [r for r in rows if str(r[tenant_column]) != tenant]
        if foreign:
            self._violation(tenant, "cross-tenant", len(foreign))
        return [r for r in rows if str(r[tenant_column]) == tenant]

    @contextlib.asynccontextmanager
    async def as_tenant(self, tenant: str) -> AsyncIterator[None]:
        """Run the block's reads as ``tenant`` (a request's tenant)."""
        token = _tenant.set(tenant)
        try:
            yield
        finally:
            if self._on(SW_PER_TX):
                _tenant.reset(token)
