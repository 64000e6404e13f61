"""Row-level security on real PostgreSQL (theme.fm.2.10, comms.fm.12).

A unique schema and unique roles per run (dropped afterwards): an owner role that owns
the tables, and a LOGIN application role that owns nothing. Acceptance: 20 tenants, 8
pooled sessions, randomized interleaving with exceptions mid-transaction, zero rows read
or written across tenants. The pitfalls are tests too: the owner without FORCE sees
everything; a session-level SET leaks through the pool.
"""

from __future__ import annotations

import asyncio
import os
import random
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from psycopg import errors as pg_errors
from psycopg.conninfo import make_conninfo
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from mitigate.guard import errors as codes
from mitigate.guard.errors import RlsError
from mitigate.guard.rls import (
    acheck_no_tenant,
    app_role_sql,
    atenant_transaction,
    check_app_role,
    check_no_tenant,
    quote_ident,
    reset_tenant,
    rls_policy_sql,
    tenant_transaction,
)
from mitigate.guard.rls_kit import TableSpec, prove_isolation
from tests.conftest import require_postgres

pytestmark = pytest.mark.integration

TENANTS = [f"t{i:02d}" for i in range(20)]


@dataclass(frozen=True)
class Db:
    admin: str
    owner: str
    app: str
    schema: str
    owner_role: str
    app_role: str

    @property
    def notes(self) -> str:
        return f"{self.schema}.notes"


@pytest.fixture(scope="module")
def db() -> Iterator[Db]:
    admin = require_postgres()
    suffix = uuid.uuid4().hex[:10]
    schema, owner, app = (
        f"mitigate_rls_{suffix}",
        f"mitigate_owner_{suffix}",
        f"mitigate_app_{suffix}",
    )
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {quote_ident(owner)} LOGIN NOSUPERUSER NOBYPASSRLS")
        conn.execute(f"CREATE SCHEMA {quote_ident(schema)} AUTHORIZATION {quote_ident(owner)}")
        conn.execute(f"SET ROLE {quote_ident(owner)}")
        conn.execute(
            f"CREATE TABLE {quote_ident(schema)}.notes (id bigserial PRIMARY KEY, "
            "tenant_id text NOT NULL, writer text NOT NULL, body text NOT NULL DEFAULT '', "
            "n integer NOT NULL DEFAULT 0)"
        )
        for statement in rls_policy_sql(f"{schema}.notes"):
            conn.execute(statement)
        conn.execute("RESET ROLE")
        for statement in app_role_sql(app, schema=schema, tables=[f"{schema}.notes"], login=True):
            conn.execute(statement)
    try:
        yield Db(
            admin=admin,
            owner=make_conninfo(admin, user=owner),
            app=make_conninfo(admin, user=app),
            schema=schema,
            owner_role=owner,
            app_role=app,
        )
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename IN (%s, %s)",
                (owner, app),
            )
            conn.execute(f"DROP SCHEMA IF EXISTS {quote_ident(schema)} CASCADE")
            for role in (app, owner):
                conn.execute(f"DROP ROLE IF EXISTS {quote_ident(role)}")


def _admin_rows(db: Db) -> list[tuple[str, str]]:
    with psycopg.connect(db.admin) as conn:
        return conn.execute(f"SELECT tenant_id, writer FROM {db.notes}").fetchall()  # type: ignore[return-value]


def _seed(db: Db, rows: list[tuple[str, str]]) -> None:
    with psycopg.connect(db.admin) as conn:
        conn.execute(f"DELETE FROM {db.notes}")
        for tenant, writer in rows:
            conn.execute(
                f"INSERT INTO {db.notes} (tenant_id, writer) VALUES (%s, %s)", (tenant, writer)
            )


async def test_20_tenants_8_pooled_sessions_never_cross(db: Db) -> None:
    seed = int(os.environ.get("MITIGATE_RLS_SEED", random.randrange(1 << 30)))
    _seed(db, [])
    committed: Counter[str] = Counter()
    violations: list[str] = []
    seen_rows = 0
    refusals = Counter[str]()
    checks = 0

    async def counted_check(conn: psycopg.AsyncConnection) -> None:  # type: ignore[type-arg]
        nonlocal checks
        checks += 1
        await acheck_no_tenant(conn)

    async def worker(n: int, pool: AsyncConnectionPool) -> None:  # type: ignore[type-arg]
        nonlocal seen_rows
        rnd = random.Random(seed * 1000 + n)
        for _ in range(40):
            tenant = rnd.choice(TENANTS)
            other = rnd.choice([t for t in TENANTS if t != tenant])
            op = rnd.choice(
                [
                    "insert",
                    "insert",
                    "read",
                    "update",
                    "cross_insert",
                    "move",
                    "delete_other",
                    "boom",
                    "sql_error",
                ]
            )
            inserted = 0
            async with pool.connection() as conn:
                try:
                    async with atenant_transaction(conn, tenant):
                        if rnd.random() < 0.5:
                            await asyncio.sleep(0)  # let another session in between statements
                        cur = await conn.execute(f"SELECT tenant_id, writer FROM {db.notes}")
                        rows = await cur.fetchall()
                        seen_rows += len(rows)
                        violations.extend(f"{tenant} read {r}" for r in rows if r[0] != tenant)
                        if op in ("insert", "boom", "sql_error"):
                            await conn.execute(
                                f"INSERT INTO {db.notes} (tenant_id, writer) VALUES (%s, %s)",
                                (tenant, tenant),
                            )
                            inserted = 1
                            await asyncio.sleep(0)
                            if op == "boom":
                                raise RuntimeError("application error mid-transaction")
                            if op == "sql_error":
                                await conn.execute("SELECT 1 / 0")
                        elif op == "update":
                            upd = await conn.execute(
                                f"UPDATE {db.notes} SET n = n + 1 RETURNING tenant_id"
                            )
                            touched = [r[0] for r in await upd.fetchall()]
                            violations.extend(
                                f"{tenant} updated a row of {t}" for t in touched if t != tenant
                            )
                        elif op == "cross_insert":
                            try:
                                async with conn.transaction():
                                    await conn.execute(
                                        f"INSERT INTO {db.notes} (tenant_id, writer) "
                                        "VALUES (%s, %s)",
                                        (other, tenant),
                                    )
                                violations.append(f"{tenant} wrote a row for {other}")
                            except pg_errors.InsufficientPrivilege:
                                refusals["insert"] += 1
                        elif op == "move":
                            try:
                                async with conn.transaction():
                                    moved = await conn.execute(
                                        f"UPDATE {db.notes} SET tenant_id = %s "
                                        "WHERE id = (SELECT min(id) FROM "
                                        f"{db.notes})",
                                        (other,),
                                    )
                                if moved.rowcount:
                                    violations.append(f"{tenant} moved a row to {other}")
                            except pg_errors.InsufficientPrivilege:
                                refusals["move"] += 1
                        elif op == "delete_other":
                            gone = await conn.execute(
                                f"DELETE FROM {db.notes} WHERE tenant_id = %s", (other,)
                            )
                            if gone.rowcount:
                                violations.append(f"{tenant} deleted {gone.rowcount} of {other}")
                    committed[tenant] += inserted
                except (RuntimeError, pg_errors.DivisionByZero):
                    pass

    async with AsyncConnectionPool(
        db.app, min_size=8, max_size=8, open=False, check=counted_check
    ) as pool:
        await asyncio.gather(*(worker(n, pool) for n in range(24)))
        async with pool.connection() as conn:  # no tenant: a forgetful code path sees nothing
            cur = await conn.execute(f"SELECT count(*) FROM {db.notes}")
            assert (await cur.fetchone()) == (0,)

    assert violations == [], f"seed {seed}"
    rows = _admin_rows(db)
    assert [r for r in rows if r[0] != r[1]] == [], f"cross-tenant writes (seed {seed})"
    assert Counter(t for t, _ in rows) == committed, f"seed {seed}"
    assert sum(committed.values()) > 50 and seen_rows > 100  # the run did real work
    assert refusals["insert"] > 0
    assert checks >= 24 * 40  # every checkout was checked for a leaked tenant


def test_a_code_path_that_never_sets_the_tenant_reads_and_writes_nothing(db: Db) -> None:
    _seed(db, [("t01", "t01"), ("t02", "t02")])
    with psycopg.connect(db.app) as conn:
        assert conn.execute(f"SELECT count(*) FROM {db.notes}").fetchone() == (0,)
        with pytest.raises(pg_errors.InsufficientPrivilege):
            conn.execute(f"INSERT INTO {db.notes} (tenant_id, writer) VALUES ('t01', 'none')")


def test_the_application_role_passes_the_startup_check(db: Db) -> None:
    with psycopg.connect(db.app) as conn:
        assert check_app_role(conn, [db.notes]) == []


def test_a_superuser_is_refused_at_startup(db: Db) -> None:
    with psycopg.connect(db.admin) as conn, pytest.raises(RlsError) as info:
        check_app_role(conn, [db.notes])
    assert info.value.code == codes.RLS_SUPERUSER


def test_pitfall_owner_without_force_sees_everything(db: Db) -> None:
    legacy = f"{db.schema}.legacy"
    with psycopg.connect(db.owner, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {legacy} (tenant_id text NOT NULL, body text)")
        statements = rls_policy_sql(legacy)
        conn.execute(statements[0])  # ENABLE only: the classic mistake
        conn.execute(statements[2])
        conn.execute(statements[3])
        conn.execute(f"INSERT INTO {legacy} VALUES ('t01', 'a'), ('t02', 'b')")
    try:
        with psycopg.connect(db.owner) as conn:
            with tenant_transaction(conn, "t01"):
                leaked = conn.execute(f"SELECT count(*) FROM {legacy}").fetchone()
            assert leaked == (2,)  # the pitfall: the owner bypasses unforced policies
            found = {p.code for p in check_app_role(conn, [legacy], strict=False)}
            assert {codes.RLS_OWNER, codes.RLS_NOT_FORCED} <= found
            conn.execute(statements[1])  # FORCE
            conn.commit()
            with tenant_transaction(conn, "t01"):
                assert conn.execute(f"SELECT count(*) FROM {legacy}").fetchone() == (1,)
            # Even forced, the owner is refused: it could switch RLS off again.
            with pytest.raises(RlsError) as info:
                check_app_role(conn, [legacy])
            assert info.value.code == codes.RLS_OWNER
    finally:
        with psycopg.connect(db.owner, autocommit=True) as conn:
            conn.execute(f"DROP TABLE {legacy}")


def test_pitfall_session_level_set_leaks_through_the_pool(db: Db) -> None:
    _seed(db, [("t01", "t01"), ("t01", "t01"), ("t02", "t02")])
    with ConnectionPool(db.app, min_size=1, max_size=1, open=True) as pool:
        with pool.connection() as conn:
            conn.execute("SET app.tenant_id = 't01'")  # session level: survives the request
        with pool.connection() as conn:  # the next request, which sets no tenant
            leaked = conn.execute(f"SELECT count(*) FROM {db.notes}").fetchone()
        assert leaked == (2,)  # the pitfall: it reads t01's rows


def test_transaction_local_tenant_never_reaches_the_next_request(db: Db) -> None:
    _seed(db, [("t01", "t01"), ("t02", "t02")])
    with ConnectionPool(db.app, min_size=1, max_size=1, open=True) as pool:
        with pool.connection() as conn, tenant_transaction(conn, "t01"):
            assert conn.execute(f"SELECT count(*) FROM {db.notes}").fetchone() == (1,)
        with pool.connection() as conn:
            assert conn.execute(f"SELECT count(*) FROM {db.notes}").fetchone() == (0,)
            check_no_tenant(conn)


@pytest.mark.parametrize("hook", ["reset", "check"])
def test_pool_hooks_clear_a_session_level_tenant(db: Db, hook: str) -> None:
    _seed(db, [("t01", "t01")])
    kwargs = {"reset": reset_tenant} if hook == "reset" else {"check": check_no_tenant}
    with ConnectionPool(db.app, min_size=1, max_size=1, open=True, **kwargs) as pool:  # type: ignore[arg-type]
        with pool.connection() as conn:
            conn.execute("SET app.tenant_id = 't01'")
        with pool.connection() as conn:
            assert conn.execute(f"SELECT count(*) FROM {db.notes}").fetchone() == (0,)


def test_the_kit_proves_isolation_and_leaves_nothing(db: Db) -> None:
    _seed(db, [("t01", "t01")])
    with psycopg.connect(db.admin) as conn:
        report = prove_isolation(
            conn,
            [TableSpec(db.notes, lambda tenant: {"writer": tenant, "body": "kit"})],
            role=db.app_role,
        )
    report.assert_isolated()
    assert len(report.checks) == 8
    assert _admin_rows(db) == [("t01", "t01")]


def test_the_kit_catches_a_policy_that_lets_everything_through(db: Db) -> None:
    open_table = f"{db.schema}.open_notes"
    with psycopg.connect(db.owner, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {open_table} (tenant_id text NOT NULL, body text)")
        conn.execute(f"ALTER TABLE {open_table} ENABLE ROW LEVEL SECURITY")
        conn.execute(f"ALTER TABLE {open_table} FORCE ROW LEVEL SECURITY")
        conn.execute(f"CREATE POLICY everyone ON {open_table} USING (true)")
        conn.execute(
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON {open_table} TO {quote_ident(db.app_role)}"
        )
    try:
        with psycopg.connect(db.admin) as conn:
            report = prove_isolation(
                conn, [TableSpec(open_table, lambda tenant: {"body": "kit"})], role=db.app_role
            )
        failed = {c.name for c in report.failures()}
        assert {
            "another tenant cannot read it",
            "cannot insert a row for another tenant",
            "no tenant set sees nothing",
        } <= failed
        # The startup check names the policy too, and the behaviour checks prove it.
        safe = next(c for c in report.checks if c.name == "role and tables are safe")
        assert not safe.passed and "permissive policy everyone" in safe.detail
        with pytest.raises(RlsError, match="tenant isolation does not hold"):
            report.assert_isolated()
    finally:
        with psycopg.connect(db.owner, autocommit=True) as conn:
            conn.execute(f"DROP TABLE {open_table}")


def test_the_kit_run_as_the_owner_fails(db: Db) -> None:
    with psycopg.connect(db.admin) as conn:
        report = prove_isolation(
            conn,
            [TableSpec(db.notes, lambda tenant: {"writer": tenant})],
            role=db.owner_role,
        )
    assert not report.ok
    assert any(c.name == "role and tables are safe" for c in report.failures())


def test_a_tenant_block_on_a_connection_with_an_open_transaction_never_leaks(db: Db) -> None:
    # The request already ran a statement: psycopg opened a transaction, so a nested
    # transaction() is only a savepoint and a transaction-local setting would outlive it.
    _seed(db, [("t01", "t01"), ("t02", "t02")])
    pool = ConnectionPool(db.app, min_size=1, max_size=1, open=True)
    with pool, pool.connection() as conn:
        conn.execute("SELECT 1")
        with pytest.raises(RlsError) as refused, tenant_transaction(conn, "t01"):
            pass
        assert refused.value.code == codes.RLS_IN_TRANSACTION
        assert conn.execute(f"SELECT count(*) FROM {db.notes}").fetchone() == (0,)
        conn.rollback()
        with tenant_transaction(conn, "t01"):  # idle again: allowed
            assert conn.execute(f"SELECT count(*) FROM {db.notes}").fetchone() == (1,)
        assert conn.execute(f"SELECT count(*) FROM {db.notes}").fetchone() == (0,)


async def test_the_async_tenant_block_refuses_an_open_transaction_too(db: Db) -> None:
    _seed(db, [("t01", "t01")])
    apool = AsyncConnectionPool(db.app, min_size=1, max_size=1, open=False)
    async with apool, apool.connection() as conn:
        await conn.execute("SELECT 1")
        with pytest.raises(RlsError, match="already in a transaction"):
            async with atenant_transaction(conn, "t01"):
                pass
        cur = await conn.execute(f"SELECT count(*) FROM {db.notes}")
        assert await cur.fetchone() == (0,)


def test_an_extra_permissive_policy_fails_the_startup_check(db: Db) -> None:
    with psycopg.connect(db.owner, autocommit=True) as conn:
        conn.execute(f"CREATE POLICY wide_open ON {db.notes} USING (true)")
    try:
        with psycopg.connect(db.app) as conn:
            with pytest.raises(RlsError, match="wide_open") as refused:
                check_app_role(conn, [db.notes])
            assert refused.value.code == codes.RLS_PERMISSIVE
    finally:
        with psycopg.connect(db.owner, autocommit=True) as conn:
            conn.execute(f"DROP POLICY wide_open ON {db.notes}")
    with psycopg.connect(db.app) as conn:
        assert check_app_role(conn, [db.notes]) == []  # the tenant policy alone is fine
