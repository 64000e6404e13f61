"""Tenant isolation of the theme tables (theme.fm.2.10).

On PostgreSQL the tables carry FORCED row-level security (:func:`rls_statements`, the
theme's migration 10), the app connects as a role that owns nothing and has no BYPASSRLS
(``app_role``; checked at start by :func:`check_database_role`, the service refuses to run
otherwise), and the tenant of the current context (a request's, an event's) is set per
transaction by the store (tenant_store.py), so a pooled connection never carries it to
the next request.

The preview-link table is outside RLS on purpose: opening a link looks its token's hash
up before any tenant is known (the token is the credential; the tenant comes from its
row). Every other read of it names the tenant in SQL.

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
import json
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from prometheus_client import Counter

import mitigate
from mitigate.guard import rls_policy_sql
from services.kit.errors import ServiceError
from services.kit.roles import check_rls_binds

from .audit import report

__all__ = [
    "OWNER_ROLE",
    "TENANT_TABLES",
    "RequestTenant",
    "RlsViolation",
    "TenantScope",
    "check_database_role",
    "current_tenant",
    "rls_statements",
]

TENANT_TABLES = (
    "theme_themes",
    "theme_publications",
    "theme_suggestions",
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


def current_tenant() -> str | None:
    """The tenant of the running request or event handler (None outside one)."""
    return _tenant.get()


def rls_statements(schema: str | None = None) -> list[str]:
    """PostgreSQL: FORCED RLS with a tenant policy on every tenant table (of ``schema``;
    unqualified, the migration's search path)."""
    out: list[str] = []
    for table in TENANT_TABLES:
        name = f"{schema}.{table}" if schema else table
        out += rls_policy_sql(name, tenant_column="tenant")
    return out


async def check_database_role(runtime: Any, role: str, *, bypass: bool = False) -> None:
    """The start-up check, before any work: the service's connection must be one RLS
    binds. On PostgreSQL the database is asked (not a superuser, not the tables' owner,
    no BYPASSRLS, RLS enabled and forced on every tenant table); on the embedded store the
    configured role is checked by name (the owner) and flag (``bypass``)."""
    if not runtime.switches.enabled(SW_STARTUP):
        return
    if runtime.store.dialect == "postgres":
        await check_rls_binds(runtime, TENANT_TABLES)
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
        try:  # on PostgreSQL the store sets app.tenant_id for the transaction (tenant_store)
            async with self.rt.store.transaction() as tx:
                yield tx
        finally:
            if self._on(SW_PER_TX):  # transaction-local: nothing outlives the block
                _tenant.reset(token)

    def refuse_no_tenant(self) -> None:
        """A tenant table touched outside a tenant: counted and refused (fail closed)."""
        if self._on(SW_FAIL_CLOSED):
            self._violation("", "no-tenant", 0)
            raise ServiceError(
                "MELMASTOON.TENANT.NOT_SET",
                "a tenant table was read outside a tenant transaction",
                status=500,
            )

    async def read(
        self, sql: str, params: Sequence[Any] = (), *, tenant_column: int = 0
    ) -> list[Any]:
        """Rows of a tenant table for the current transaction's tenant (column
        ``tenant_column`` of each row names the row's tenant)."""
        tenant = _tenant.get()
        if tenant is None:
            self.refuse_no_tenant()
            return list(await self.rt.store.fetch(sql, params))
        async with self.transaction(tenant) as tx:
            rows = list(await tx.fetchall(sql, params))
        if not self._on(SW_GUARD):
            return rows
        foreign = [r for r in rows if str(r[tenant_column]) != tenant]
        if foreign:
            self._violation(tenant, "cross-tenant", len(foreign))
        return [r for r in rows if str(r[tenant_column]) == tenant]

    async def handle(
        self, message: mitigate.Message, apply: Any, inbox: mitigate.Inbox, *, dedupe: bool
    ) -> None:
        """An event consumer's handler: ``apply(message, tx)`` as the tenant the event's
        JSON body names (none named: no tenant, and a tenant table then fails closed),
        through ``inbox`` (once per message id) when ``dedupe``, else in a transaction."""
        try:
            tenant = json.loads(message.payload).get("tenant")
        except (ValueError, AttributeError):
            tenant = None
        named = isinstance(tenant, str) and bool(tenant)
        async with self.as_tenant(tenant) if named else contextlib.nullcontext():
            if dedupe:
                await inbox.handler(apply)(message)
                return
            async with self.rt.store.transaction() as tx:
                await apply(message, tx)

    @contextlib.asynccontextmanager
    async def as_tenant(self, tenant: str) -> AsyncIterator[None]:
        """Run the block's reads as ``tenant`` (a request's tenant)."""
        token = _tenant.set(tenant)
        try:
            yield
        finally:
            if self._on(SW_PER_TX):
                _tenant.reset(token)


class RequestTenant:
    """ASGI middleware inside tenant resolution: the request's resolved tenant is the
    context's tenant while its route runs (the store sets it on each transaction), and
    no longer once the request is answered."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        state = scope.get("state") or {}
        tenant = getattr(state.get("tenant"), "id", None) if isinstance(state, dict) else None
        if scope["type"] != "http" or tenant is None:
            await self.app(scope, receive, send)
            return
        token = _tenant.set(str(tenant))
        try:
            await self.app(scope, receive, send)
        finally:
            _tenant.reset(token)
