"""A test kit that proves tenant isolation on your own schema, against your own database.

Give it a connection, your tables (each with a function that builds a valid row for a
tenant) and the application role; it runs every check inside one transaction that it
rolls back, so it leaves nothing behind and can run against a shared database:

1. the role is not superuser, has no BYPASSRLS, owns none of the tables, and each table
   has RLS enabled, FORCED, with a policy;
2. a tenant sees the row it wrote (so the checks below cannot pass vacuously);
3. another tenant cannot read, update or delete that row;
4. another tenant cannot insert a row for the first one, nor move its own row to it;
5. with no tenant set, nothing is visible at all.

.. code-block:: python

    from mitigate.guard.rls_kit import TableSpec, prove_isolation

    def test_isolation(conn):
        report = prove_isolation(
            conn,
            [TableSpec("app.notes", lambda tenant: {"body": "kit"})],
            role="app_rw",
        )
        report.assert_isolated()

.. versionadded:: 0.1
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mitigate.guard.errors import RlsError
from mitigate.guard.rls import TENANT_SETTING, _table, check_app_role, quote_ident

if TYPE_CHECKING:
    from psycopg import Connection

__all__ = ["IsolationCheck", "IsolationReport", "TableSpec", "prove_isolation"]


@dataclass(frozen=True, slots=True)
class TableSpec:
    """A table to test: ``row(tenant)`` returns the other columns of a valid row."""

    table: str
    row: Callable[[str], Mapping[str, Any]]
    tenant_column: str = "tenant_id"


@dataclass(frozen=True, slots=True)
class IsolationCheck:
    name: str
    table: str
    passed: bool
    detail: str = ""


@dataclass(frozen=True, slots=True)
class IsolationReport:
    """Every check the kit ran; ``ok`` when all passed."""

    checks: tuple[IsolationCheck, ...]

    @property
    def ok(self) -> bool:
        return all(c.passed for c in self.checks)

    def failures(self) -> list[IsolationCheck]:
        return [c for c in self.checks if not c.passed]

    def assert_isolated(self) -> None:
        failed = self.failures()
        if failed:
            listed = "; ".join(f"{c.table or 'role'}: {c.name} ({c.detail})" for c in failed)
            raise RlsError("rls kit", f"tenant isolation does not hold: {listed}")


def prove_isolation(
    conn: Connection[Any],
    tables: Iterable[TableSpec],
    *,
    role: str | None = None,
    tenants: tuple[str, str] = ("mitigate-kit-a", "mitigate-kit-b"),
    setting: str = TENANT_SETTING,
) -> IsolationReport:
    """Run the kit (see the module text); the database is left exactly as it was."""
    from psycopg import errors as pg_errors

    specs = list(tables)
    a, b = tenants
    checks: list[IsolationCheck] = []

    def record(name: str, table: str, passed: bool, detail: str = "") -> None:
        checks.append(IsolationCheck(name, table, passed, detail))

    def use(tenant: str) -> None:
        conn.execute("SELECT set_config(%s, %s, true)", (setting, tenant))

    def insert(spec: TableSpec, tenant: str) -> Any:
        values = dict(spec.row(tenant))
        values[spec.tenant_column] = tenant
        columns = ", ".join(quote_ident(c) for c in values)
        marks = ", ".join(["%s"] * len(values))
        sql = f"INSERT INTO {_table(spec.table)} ({columns}) VALUES ({marks}) RETURNING ctid"
        row = conn.execute(sql, list(values.values())).fetchone()
        return row[0] if row else None

    def refused(action: Callable[[], object]) -> tuple[bool, str]:
        try:
            with conn.transaction():  # a savepoint: the expected error is contained
                action()
        except pg_errors.InsufficientPrivilege as exc:
            return True, str(exc).splitlines()[0]
        return False, "the statement succeeded"

    with conn.transaction(force_rollback=True):
        if role is not None:
            conn.execute(f"SET LOCAL ROLE {quote_ident(role)}")
        problems = check_app_role(conn, [s.table for s in specs], strict=False)
        record("role and tables are safe", "", not problems, "; ".join(p.detail for p in problems))
        for spec in specs:
            t = _table(spec.table)
            col = quote_ident(spec.tenant_column)
            try:
                with conn.transaction():
                    use(a)
                    ctid = insert(spec, a)
                    seen = conn.execute(f"SELECT count(*) FROM {t} WHERE ctid = %s", (ctid,))
                    own = seen.fetchone()
                    record("a tenant sees its own row", spec.table, bool(own and own[0] == 1))

                    use(b)
                    other = conn.execute(f"SELECT count(*) FROM {t} WHERE ctid = %s", (ctid,))
                    row = other.fetchone()
                    record("another tenant cannot read it", spec.table, bool(row and row[0] == 0))
                    upd = conn.execute(f"UPDATE {t} SET {col} = {col} WHERE ctid = %s", (ctid,))
                    record("another tenant cannot update it", spec.table, upd.rowcount == 0)
                    dele = conn.execute(f"DELETE FROM {t} WHERE {col} = %s", (a,))
                    record("another tenant cannot delete it", spec.table, dele.rowcount == 0)

                    ok, detail = refused(functools.partial(insert, spec, a))
                    record("cannot insert a row for another tenant", spec.table, ok, detail)
                    own_b = insert(spec, b)
                    move = f"UPDATE {t} SET {col} = %s WHERE ctid = %s"
                    ok, detail = refused(functools.partial(conn.execute, move, (a, own_b)))
                    record("cannot move a row to another tenant", spec.table, ok, detail)

                    conn.execute("SELECT set_config(%s, '', true)", (setting,))
                    none = conn.execute(f"SELECT count(*) FROM {t}").fetchone()
                    record(
                        "no tenant set sees nothing",
                        spec.table,
                        bool(none and none[0] == 0),
                        f"{none[0] if none else '?'} rows visible",
                    )
            except pg_errors.Error as exc:
                record("the kit could run its checks", spec.table, False, str(exc).splitlines()[0])
    return IsolationReport(tuple(checks))
