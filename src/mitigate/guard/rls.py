"""PostgreSQL row-level security helpers: policies, the app role, the tenant per transaction.

The rules this module encodes (each one a known way to leak across tenants):

- policies are FORCED (``FORCE ROW LEVEL SECURITY``): without it the table owner bypasses
  them, so an app connected as the owner sees every tenant;
- the application connects as a role that owns nothing, is not superuser and has no
  BYPASSRLS; :func:`check_app_role` refuses to start otherwise;
- the tenant is set per transaction with ``set_config('app.tenant_id', ..., true)``
  (:func:`tenant_transaction`), so it ends with the transaction and a pooled connection
  never carries it into the next request (a session-level ``SET`` would);
- with no tenant set, the policy matches nothing (``NULLIF(current_setting(.., true), '')``
  is NULL): a code path that forgets the tenant reads no rows and writes none.

>>> for statement in rls_policy_sql("app.notes"):
...     print(statement)
ALTER TABLE "app"."notes" ENABLE ROW LEVEL SECURITY
ALTER TABLE "app"."notes" FORCE ROW LEVEL SECURITY
DROP POLICY IF EXISTS "tenant_isolation" ON "app"."notes"
CREATE POLICY "tenant_isolation" ON "app"."notes" USING ("tenant_id" = \
NULLIF(current_setting('app.tenant_id', true), '')) WITH CHECK ("tenant_id" = \
NULLIF(current_setting('app.tenant_id', true), ''))

psycopg is needed only to call the functions that take a connection.

.. versionadded:: 0.1
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mitigate.guard import errors as codes
from mitigate.guard.errors import RlsError

if TYPE_CHECKING:
    from psycopg import AsyncConnection, Connection

__all__ = [
    "TENANT_SETTING",
    "RlsProblem",
    "acheck_app_role",
    "acheck_no_tenant",
    "app_role_sql",
    "areset_tenant",
    "atenant_transaction",
    "check_app_role",
    "check_no_tenant",
    "quote_ident",
    "reset_tenant",
    "rls_policy_sql",
    "tenant_predicate",
    "tenant_transaction",
]

TENANT_SETTING = "app.tenant_id"
_SETTING = re.compile(r"[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*")
_CAST = re.compile(r"[a-z_][a-z0-9_ ]*(\[\])?")


def quote_ident(name: str) -> str:
    """Quote one SQL identifier.

    >>> quote_ident('notes'), quote_ident('we"ird')
    ('"notes"', '"we""ird"')
    """
    if not name or "\x00" in name:
        raise ValueError(f"not an identifier: {name!r}")
    return '"' + name.replace('"', '""') + '"'


def _table(name: str) -> str:
    return ".".join(quote_ident(part) for part in name.split(".", 1))


def _setting(setting: str) -> str:
    if not _SETTING.fullmatch(setting):
        raise ValueError(f"a setting is two lower-case words joined by a dot, not {setting!r}")
    return setting


def tenant_predicate(
    column: str = "tenant_id", *, setting: str = TENANT_SETTING, cast: str | None = None
) -> str:
    """The policy expression: the row's tenant equals the transaction's tenant.

    ``cast`` converts the setting to the column's type (``uuid``, ``bigint``).

    >>> print(tenant_predicate("org_id", cast="uuid"))
    "org_id" = NULLIF(current_setting('app.tenant_id', true), '')::uuid
    """
    if cast is not None and not _CAST.fullmatch(cast):
        raise ValueError(f"not a type name: {cast!r}")
    suffix = f"::{cast}" if cast else ""
    return (
        f"{quote_ident(column)} = NULLIF(current_setting('{_setting(setting)}', true), ''){suffix}"
    )


def rls_policy_sql(
    table: str,
    *,
    tenant_column: str = "tenant_id",
    setting: str = TENANT_SETTING,
    policy: str = "tenant_isolation",
    cast: str | None = None,
) -> list[str]:
    """Statements that enable, FORCE and define tenant isolation on ``table``."""
    target = _table(table)
    predicate = tenant_predicate(tenant_column, setting=setting, cast=cast)
    name = quote_ident(policy)
    return [
        f"ALTER TABLE {target} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {target} FORCE ROW LEVEL SECURITY",
        f"DROP POLICY IF EXISTS {name} ON {target}",
        f"CREATE POLICY {name} ON {target} USING ({predicate}) WITH CHECK ({predicate})",
    ]


def app_role_sql(
    role: str, *, schema: str, tables: Iterable[str], login: bool = False
) -> list[str]:
    """Statements that create the application role: owns nothing, no superuser, no
    BYPASSRLS, only DML on ``tables`` (and the sequences of ``schema``).

    >>> app_role_sql("app_rw", schema="app", tables=["app.notes"])[0]
    'CREATE ROLE "app_rw" NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION'
    """
    who = quote_ident(role)
    out = [
        f"CREATE ROLE {who} {'LOGIN' if login else 'NOLOGIN'} NOSUPERUSER NOBYPASSRLS "
        "NOCREATEDB NOCREATEROLE NOREPLICATION",
        f"GRANT USAGE ON SCHEMA {quote_ident(schema)} TO {who}",
    ]
    out += [f"GRANT SELECT, INSERT, UPDATE, DELETE ON {_table(t)} TO {who}" for t in tables]
    out.append(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {quote_ident(schema)} TO {who}")
    return out


# -- the tenant per transaction ------------------------------------------------------------


def _tenant(tenant_id: str) -> str:
    if not isinstance(tenant_id, str) or not tenant_id or "\x00" in tenant_id:
        raise ValueError(f"a tenant id is a non-empty string, not {tenant_id!r}")
    return tenant_id


_SET_LOCAL = "SELECT set_config(%s, %s, true)"


def _require_idle(conn: Connection[Any] | AsyncConnection[Any]) -> None:
    from psycopg.pq import TransactionStatus

    status = conn.info.transaction_status
    if status != TransactionStatus.IDLE:
        raise RlsError(
            "rls",
            f"the connection is already in a transaction ({status.name}); the tenant "
            "setting would outlive the block",
            code=codes.RLS_IN_TRANSACTION,
            hint="commit or roll back first, or take a fresh connection from the pool",
        )


@contextmanager
def tenant_transaction(
    conn: Connection[Any], tenant_id: str, *, setting: str = TENANT_SETTING
) -> Iterator[Connection[Any]]:
    """A transaction in which row-level security sees ``tenant_id`` only.

    The setting is transaction-local: it ends with the commit or rollback, so the
    connection goes back to its pool without a tenant. The connection must be idle: on
    one that already has a transaction open, ``transaction()`` is only a savepoint and
    the setting would outlive the block, so :class:`RlsError`
    (``MITIGATE.RLS.IN_TRANSACTION``) is raised before anything runs.
    """
    value = _tenant(tenant_id)
    _require_idle(conn)
    with conn.transaction():
        conn.execute(_SET_LOCAL, (_setting(setting), value))
        yield conn


@asynccontextmanager
async def atenant_transaction(
    conn: AsyncConnection[Any], tenant_id: str, *, setting: str = TENANT_SETTING
) -> AsyncIterator[AsyncConnection[Any]]:
    """The async twin of :func:`tenant_transaction`."""
    value = _tenant(tenant_id)
    _require_idle(conn)
    async with conn.transaction():
        await conn.execute(_SET_LOCAL, (_setting(setting), value))
        yield conn


def reset_tenant(conn: Connection[Any], *, setting: str = TENANT_SETTING) -> None:
    """A pool ``reset`` hook: clear a tenant some code set at session level."""
    conn.execute("SELECT set_config(%s, '', false)", (_setting(setting),))
    conn.commit()


async def areset_tenant(conn: AsyncConnection[Any], *, setting: str = TENANT_SETTING) -> None:
    await conn.execute("SELECT set_config(%s, '', false)", (_setting(setting),))
    await conn.commit()


def _leak(value: object) -> None:
    if value not in (None, ""):
        raise RlsError(
            "rls",
            f"a pooled connection carries tenant {value!r} outside any transaction",
            code=codes.RLS_TENANT_LEAKED,
            hint="set the tenant with tenant_transaction(), never with a session-level SET",
        )


def check_no_tenant(conn: Connection[Any], *, setting: str = TENANT_SETTING) -> None:
    """A pool ``check`` hook: refuse a connection whose session carries a tenant.

    The connection is closed before raising: psycopg_pool replaces a closed connection,
    while it would offer an open one again.
    """
    row = conn.execute("SELECT current_setting(%s, true)", (_setting(setting),)).fetchone()
    conn.commit()
    try:
        _leak(row[0] if row else None)
    except RlsError:
        conn.close()
        raise


async def acheck_no_tenant(conn: AsyncConnection[Any], *, setting: str = TENANT_SETTING) -> None:
    cur = await conn.execute("SELECT current_setting(%s, true)", (_setting(setting),))
    row = await cur.fetchone()
    await conn.commit()
    try:
        _leak(row[0] if row else None)
    except RlsError:
        await conn.close()
        raise


# -- the startup check ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RlsProblem:
    """One reason the connection's role is not safe for tenant isolation."""

    code: str
    table: str
    detail: str


_ROLE_SQL = "SELECT rolsuper, rolbypassrls, current_user FROM pg_roles WHERE rolname = current_user"
_TABLE_SQL = """
SELECT c.relrowsecurity, c.relforcerowsecurity, pg_get_userbyid(c.relowner),
       pg_has_role(current_user, c.relowner, 'MEMBER'),
       (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid)
FROM pg_class c WHERE c.oid = to_regclass(%s)
"""
# Permissive policies that apply to the current role: they are OR-ed together, so any
# one that does not test the tenant opens the table (restrictive ones only narrow it).
_POLICY_SQL = """
SELECT p.polname, pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid)
FROM pg_policy p
WHERE p.polrelid = to_regclass(%s) AND p.polpermissive
  AND (0 = ANY(p.polroles) OR EXISTS (
       SELECT 1 FROM unnest(p.polroles) AS r(oid) WHERE pg_has_role(current_user, r.oid, 'MEMBER')))
ORDER BY p.polname
"""


_Policies = Sequence[Sequence[Any]]


def _policy_problems(table: str, policies: _Policies, setting: str) -> list[RlsProblem]:
    needle = f"current_setting('{setting}'"
    found = []
    for name, using, check in policies:
        exprs = [e for e in (using, check) if e is not None]
        if not exprs or any(needle not in e for e in exprs):
            shown = "; ".join(f"{k} ({e})" for k, e in (("USING", using), ("CHECK", check)) if e)
            found.append(
                RlsProblem(
                    codes.RLS_PERMISSIVE,
                    table,
                    f"permissive policy {name} does not test {setting}: {shown or 'no condition'}",
                )
            )
    return found


def _problems(
    role: Sequence[Any] | None,
    tables: list[tuple[str, Sequence[Any] | None]],
    permissive: Mapping[str, _Policies] | None = None,
    setting: str = TENANT_SETTING,
) -> list[RlsProblem]:
    found: list[RlsProblem] = []
    if role is None:
        return [RlsProblem(codes.RLS_SUPERUSER, "", "current role not found in pg_roles")]
    superuser, bypass, user = role
    if superuser:
        found.append(RlsProblem(codes.RLS_SUPERUSER, "", f"{user} is a superuser"))
    if bypass:
        found.append(RlsProblem(codes.RLS_BYPASS, "", f"{user} has BYPASSRLS"))
    for table, row in tables:
        if row is None:
            found.append(RlsProblem(codes.RLS_NOT_ENABLED, table, "no such table"))
            continue
        enabled, forced, owner, member_of_owner, policies = row
        if member_of_owner:
            found.append(
                RlsProblem(
                    codes.RLS_OWNER, table, f"{user} owns it (as {owner}) and can disable RLS"
                )
            )
        if not enabled:
            found.append(RlsProblem(codes.RLS_NOT_ENABLED, table, "row level security is off"))
        elif not forced:
            found.append(RlsProblem(codes.RLS_NOT_FORCED, table, "RLS is not FORCED"))
        if enabled and not policies:
            found.append(RlsProblem(codes.RLS_NO_POLICY, table, "RLS on but no policy"))
        found += _policy_problems(table, (permissive or {}).get(table, ()), setting)
    return found


def _raise(problems: list[RlsProblem], *, strict: bool) -> list[RlsProblem]:
    if problems and strict:
        first = problems[0]
        listed = "; ".join(f"{p.table or 'role'}: {p.detail}" for p in problems)
        raise RlsError(
            "rls",
            f"unsafe for tenant isolation: {listed}",
            code=first.code,
            hint="connect as a non-owner role without BYPASSRLS, with RLS FORCED on every table",
        )
    return problems


def check_app_role(
    conn: Connection[Any],
    tables: Iterable[str],
    *,
    strict: bool = True,
    setting: str = TENANT_SETTING,
) -> list[RlsProblem]:
    """Refuse to run when the connection could read across tenants (theme.fm.2.10 (c)).

    Checks the current role (superuser, BYPASSRLS) and each table (owned by the role, RLS
    off, not FORCED, no policy, or a permissive policy for this role that does not test
    ``setting``, such as ``USING (true)``). Raises :class:`RlsError` listing every
    problem, or with ``strict=False`` returns them.
    """
    names = list(tables)
    role = conn.execute(_ROLE_SQL).fetchone()
    rows = [(t, conn.execute(_TABLE_SQL, (t,)).fetchone()) for t in names]
    policies = {t: conn.execute(_POLICY_SQL, (t,)).fetchall() for t in names}
    return _raise(_problems(role, rows, policies, _setting(setting)), strict=strict)


async def acheck_app_role(
    conn: AsyncConnection[Any],
    tables: Iterable[str],
    *,
    strict: bool = True,
    setting: str = TENANT_SETTING,
) -> list[RlsProblem]:
    """The async twin of :func:`check_app_role`."""
    role = await (await conn.execute(_ROLE_SQL)).fetchone()
    rows = []
    policies: dict[str, _Policies] = {}
    for t in tables:
        rows.append((t, await (await conn.execute(_TABLE_SQL, (t,))).fetchone()))
        policies[t] = await (await conn.execute(_POLICY_SQL, (t,))).fetchall()
    return _raise(_problems(role, rows, policies, _setting(setting)), strict=strict)
