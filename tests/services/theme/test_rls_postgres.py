"""theme.fm.2.10 on PostgreSQL (127.0.0.1:5432): the theme tables under FORCED row-level
security for the non-owner app role, and the four pitfalls: (a) another tenant's rows,
(b) no tenant set, (c) owner / BYPASSRLS role refused by the start-up check, (d) a pooled
connection reused after a tenant's transaction. Without a server: skipped, or failed
under CI=true."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from services.theme.tenancy import TENANT_TABLES, rls_statements
from tests.conftest import require_postgres

from mitigate.guard.errors import RlsError
from mitigate.guard.rls import app_role_sql, check_app_role, tenant_transaction


@pytest.fixture
def db() -> Iterator[tuple[Any, str, str]]:
    conn = psycopg.connect(require_postgres(), autocommit=True, connect_timeout=3)
    unique = uuid.uuid4().hex[:10]
    schema, role = f"theme_rls_{unique}", f"theme_app_{unique}"
    conn.execute(f'CREATE SCHEMA "{schema}"')
    for table in TENANT_TABLES:  # the columns the policies read: tenant, plus a payload
        conn.execute(f'CREATE TABLE "{schema}"."{table}" (tenant TEXT NOT NULL, id TEXT)')
    for statement in rls_statements(schema):
        conn.execute(statement)
    tables = [f"{schema}.{t}" for t in TENANT_TABLES]
    for statement in app_role_sql(role, schema=schema, tables=tables):
        conn.execute(statement)
    for table in tables:
        conn.execute(f"INSERT INTO {table} (tenant, id) VALUES ('acme', 'a'), ('globex', 'g')")
    try:
        yield conn, schema, role
    finally:
        conn.rollback()  # a test may leave its transaction open (or failed) under the role
        conn.autocommit = True
        conn.execute("RESET ROLE")
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        conn.execute(f'DROP OWNED BY "{role}"')
        conn.execute(f'DROP ROLE "{role}"')
        conn.close()


def as_app(conn: Any, role: str) -> None:
    conn.execute(f'SET ROLE "{role}"')
    conn.autocommit = False


def test_a_tenant_sees_only_its_rows(db: tuple[Any, str, str]) -> None:
    conn, schema, role = db
    as_app(conn, role)
    for table in TENANT_TABLES:
        with tenant_transaction(conn, "acme"):
            rows = conn.execute(f'SELECT tenant, id FROM "{schema}"."{table}"').fetchall()
            leaked = conn.execute(
                f'SELECT id FROM "{schema}"."{table}" WHERE tenant = \'globex\''
            ).fetchall()
        assert rows == [("acme", "a")], table
        assert leaked == [], table


def test_a_tenant_cannot_write_for_another(db: tuple[Any, str, str]) -> None:
    conn, schema, role = db
    as_app(conn, role)
    with pytest.raises(psycopg.errors.InsufficientPrivilege), tenant_transaction(conn, "acme"):
        conn.execute(f"INSERT INTO \"{schema}\".theme_themes (tenant, id) VALUES ('globex', 'x')")


def test_b_no_tenant_no_rows(db: tuple[Any, str, str]) -> None:
    conn, schema, role = db
    as_app(conn, role)
    rows = conn.execute(f'SELECT * FROM "{schema}".theme_themes').fetchall()
    conn.rollback()
    assert rows == []


def test_c_owner_and_superuser_refused_app_role_accepted(db: tuple[Any, str, str]) -> None:
    conn, schema, role = db
    tables = [f"{schema}.{t}" for t in TENANT_TABLES]
    with pytest.raises(RlsError):  # postgres: superuser and the tables' owner
        check_app_role(conn, tables)
    as_app(conn, role)
    assert check_app_role(conn, tables) == []
    conn.rollback()


def test_d_tenant_ends_with_its_transaction(db: tuple[Any, str, str]) -> None:
    conn, schema, role = db
    as_app(conn, role)
    with tenant_transaction(conn, "acme"):
        inside = conn.execute(f'SELECT id FROM "{schema}".theme_themes').fetchall()
    after = conn.execute(f'SELECT id FROM "{schema}".theme_themes').fetchall()
    setting = conn.execute("SELECT current_setting('app.tenant_id', true)").fetchone()
    conn.rollback()
    assert inside == [("a",)]
    assert after == []
    assert setting[0] in (None, "")
