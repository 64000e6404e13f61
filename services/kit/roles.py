"""Two database roles on PostgreSQL: the tables' owner and the app.

Row-level security binds neither a superuser nor a table's owner, so a service whose
tables carry RLS must not connect as either. With ``store_owner`` set (``--backend
postgres`` sets it for a service that names an ``app_role``), the owner's connection
creates the schema and runs every migration (mitigate's and the service's), then grants
the app role DML on the schema's tables and sequences; the service itself connects as the
app role (``store``), which owns nothing and may not bypass RLS. The owner's connection
is closed once the service's migrations are in.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import mitigate
from mitigate.guard import acheck_app_role, quote_ident

__all__ = [
    "as_role",
    "check_rls_binds",
    "ensure_login_role",
    "grant_app_role",
    "migrate_as_owner",
    "role_of",
]


def as_role(url: str, role: str) -> str:
    """``url`` (PostgreSQL) connecting as ``role`` instead of its own user."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{role}@{host}"))


def role_of(url: str) -> str:
    """The user a PostgreSQL URL connects as."""
    user = urlsplit(url).username
    if not user:
        raise mitigate.ConfigError("store", f"{url!r} names no user (the app role)")
    return user


async def ensure_login_role(owner: Any, role: str) -> None:
    """Create ``role`` (LOGIN, no superuser, no BYPASSRLS) when it does not exist yet: a
    local deployment's convenience; in production the DBA creates it and this does
    nothing. Refuses a role that exists with superuser or BYPASSRLS rights."""
    found = await owner.fetch(
        "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = ?", (role,)
    )
    if found:
        superuser, bypass = found[0]
        if superuser or bypass:
            raise mitigate.RlsError(
                "rls",
                f"the app role {role!r} is a superuser or may bypass RLS",
                code="MITIGATE.RLS.BYPASS",
                hint="connect the service as a role that owns nothing and has NOBYPASSRLS",
            )
        return
    await owner.execute(
        f"CREATE ROLE {quote_ident(role)} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB"
        " NOCREATEROLE NOREPLICATION"
    )


async def grant_app_role(owner: Any, schema: str, role: str) -> None:
    """DML on every table and sequence of ``schema`` for ``role`` (nothing more)."""
    who, where = quote_ident(role), quote_ident(schema)
    for statement in (
        f"GRANT USAGE ON SCHEMA {where} TO {who}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {where} TO {who}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {where} TO {who}",
    ):
        await owner.execute(statement)


async def migrate_as_owner(runtime: Any, apply: Callable[[Any], Awaitable[int]]) -> int:
    """Apply a service's migrations (``apply(store)``): as the tables' owner when the
    runtime has one (then grant the app role and close the owner's connection), else on
    the service's own store."""
    owner = runtime.owner_store
    if owner is None:
        return await apply(runtime.store)
    try:
        version = await apply(owner)
        await grant_app_role(owner, runtime.settings.schema_name, role_of(runtime.settings.store))
        return version
    finally:
        runtime.owner_store = None
        await owner.aclose()


async def check_rls_binds(runtime: Any, tables: Iterable[str]) -> None:
    """At start on PostgreSQL, before any work: the service's own connection must be one
    the row-level security of ``tables`` (in its schema) binds: not a superuser, not their
    owner, no BYPASSRLS, RLS enabled and forced; else ``RlsError`` and the service does not
    start. Nothing to ask on another store."""
    store = runtime.store
    if store.dialect != "postgres":
        return
    schema = runtime.settings.schema_name or runtime.settings.name
    async with store.transaction() as tx:
        await acheck_app_role(tx.connection, [f"{schema}.{table}" for table in tables])
