"""Three-step sagas per second: mitigate vs DBOS Transact, on SQLite and PostgreSQL.

Workload: a saga / workflow of three steps, each returning a small dict (no I/O of its own),
so what is measured is the durable bookkeeping. Same run, same machine, same durability:

* SQLite: WAL journal, ``synchronous=FULL`` for both (DBOS gets the same PRAGMAs through a
  SQLAlchemy connect hook; by default it would run without WAL).
* PostgreSQL: the server's ``synchronous_commit`` (``on``) for both.

Each configuration runs in a fresh child process. DBOS runs twice (sequential sync
workflows, and async workflows ``--concurrency`` at a time) and its better figure is the
``dbos.*`` row; mitigate runs ``--concurrency`` sagas at a time through
``SagaWorker.execute``. ``mitigate.postgres.4workers`` is four processes sharing one schema.
``raw.*.commit`` is one connection committing one-row inserts in a loop: the database's
commit rate, the limit for anything that commits per step. ``commits_per_saga`` counts
committed write transactions (mitigate: store commits; DBOS: SQLAlchemy commits).

Run: uv run python bench/sagas.py [--json] [--sagas N] [--concurrency C]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DSN = os.environ.get("MITIGATE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


# -- children ------------------------------------------------------------------------------
def _mitigate_saga() -> Any:
    from mitigate.durable.saga import Saga, Step

    return Saga(
        "bench.three",
        [
            Step("a", lambda ctx: {"a": ctx.input}),
            Step("b", lambda ctx: {"b": ctx.results["a"]}),
            Step("c", lambda ctx: {"c": ctx.results["b"]}),
        ],
    )


async def _mitigate(url: str, n: int, concurrency: int, start_at: float) -> dict[str, Any]:
    from mitigate.durable import open_store
    from mitigate.durable.saga_worker import SagaWorker

    store = await open_store(url)
    saga = _mitigate_saga()
    async with SagaWorker(store, [saga], concurrency=concurrency) as worker:
        await worker.execute(saga, 0)  # warm up
        commits0 = store.commits
        sem = asyncio.Semaphore(concurrency)

        async def one(i: int) -> str:
            async with sem:
                return (await worker.execute(saga, i)).state

        await asyncio.sleep(max(0.0, start_at - time.time()))  # the 4 workers start together
        t0 = time.perf_counter()
        start = time.time()
        states = await asyncio.gather(*(one(i) for i in range(n)))
        seconds = time.perf_counter() - t0
        end = time.time()
    assert states.count("completed") == n, states[:3]
    commits = store.commits - commits0
    await store.aclose()
    return {"n": n, "seconds": seconds, "commits": commits, "start": start, "end": end}


def _dbos(url: str, schema: str | None, n: int, concurrency: int) -> dict[str, Any]:
    import sqlalchemy as sa
    from dbos import DBOS
    from sqlalchemy import event

    commits = [0]

    @event.listens_for(sa.engine.Engine, "connect")
    def _same_durability(dbapi_conn: Any, record: Any) -> None:
        if type(dbapi_conn).__module__.startswith("sqlite3"):
            dbapi_conn.execute("PRAGMA journal_mode=WAL")
            dbapi_conn.execute("PRAGMA synchronous=FULL")

    @event.listens_for(sa.engine.Engine, "commit")
    def _count(conn: Any) -> None:
        commits[0] += 1

    @DBOS.step()
    def a(x: Any) -> Any:
        return {"a": x}

    @DBOS.step()
    def b(x: Any) -> Any:
        return {"b": x}

    @DBOS.step()
    def c(x: Any) -> Any:
        return {"c": x}

    @DBOS.workflow()
    def three(x: Any) -> Any:
        return c(b(a(x)))

    @DBOS.step()
    async def aa(x: Any) -> Any:
        return {"a": x}

    @DBOS.step()
    async def ab(x: Any) -> Any:
        return {"b": x}

    @DBOS.step()
    async def ac(x: Any) -> Any:
        return {"c": x}

    @DBOS.workflow()
    async def athree(x: Any) -> Any:
        return await ac(await ab(await aa(x)))

    config: dict[str, Any] = {"name": "mitigate-bench", "system_database_url": url}
    if schema:
        config["dbos_system_schema"] = schema
    DBOS(config=config)  # type: ignore[arg-type]
    DBOS.launch()
    three(0)
    c0 = commits[0]
    t0 = time.perf_counter()
    for i in range(n):
        three(i)
    seq = {"n": n, "seconds": time.perf_counter() - t0, "commits": commits[0] - c0}

    async def concurrent() -> dict[str, Any]:
        sem = asyncio.Semaphore(concurrency)

        async def one(i: int) -> Any:
            async with sem:
                return await athree(i)

        await athree(0)
        c1 = commits[0]
        t1 = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        return {"n": n, "seconds": time.perf_counter() - t1, "commits": commits[0] - c1}

    conc = asyncio.run(concurrent())
    DBOS.destroy()
    return {"sequential": seq, "concurrent": conc}


def _raw_sqlite(path: str, n: int) -> dict[str, Any]:
    import sqlite3

    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE IF NOT EXISTS raw (id INTEGER PRIMARY KEY, v TEXT)")
    t0 = time.perf_counter()
    for i in range(n):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO raw (v) VALUES (?)", (str(i),))
        conn.execute("COMMIT")
    return {"n": n, "seconds": time.perf_counter() - t0, "commits": n}


async def _raw_postgres(schema: str, n: int) -> dict[str, Any]:
    import psycopg

    async with await psycopg.AsyncConnection.connect(DSN, autocommit=True) as conn:
        await conn.execute(f"CREATE SCHEMA {schema}")
        await conn.execute(f"CREATE TABLE {schema}.raw (id BIGSERIAL PRIMARY KEY, v TEXT)")
        t0 = time.perf_counter()
        for i in range(n):
            await conn.execute(f"INSERT INTO {schema}.raw (v) VALUES (%s)", (str(i),))
        seconds = time.perf_counter() - t0
        await conn.execute(f"DROP SCHEMA {schema} CASCADE")
    return {"n": n, "seconds": seconds, "commits": n}


def child(argv: list[str]) -> None:
    kind, arg, n, concurrency, start_at = (
        argv[0],
        argv[1],
        int(argv[2]),
        int(argv[3]),
        float(argv[4]),
    )
    if kind == "mitigate":
        out = asyncio.run(_mitigate(arg, n, concurrency, start_at))
    elif kind == "dbos":
        url, _, schema = arg.partition("#")
        out = _dbos(url, schema or None, n, concurrency)
    elif kind == "raw-sqlite":
        out = _raw_sqlite(arg, n)
    else:
        out = asyncio.run(_raw_postgres(arg, n))
    print(json.dumps(out))


# -- the parent ----------------------------------------------------------------------------
def _run(*args: object) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"child {args[:2]} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _spawn(*args: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, __file__, "--child", *map(str, args)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _drop_schema(schema: str) -> None:
    async def drop() -> None:
        import psycopg

        async with await psycopg.AsyncConnection.connect(DSN, autocommit=True) as conn:
            await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")

    asyncio.run(drop())


def _row(name: str, result: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "per_second": round(result["n"] / result["seconds"], 1),
        "commits_per_saga": round(result["commits"] / result["n"], 3),
        **extra,
    }


def measure(n: int, dbos_n: int, concurrency: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    tag = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(_row("raw.sqlite.commit", _run("raw-sqlite", f"{tmp}/raw.db", n, 1, 0)))
        rows.append(
            _row(
                "mitigate.sqlite",
                _run("mitigate", f"sqlite:///{tmp}/m.db?durability=full", n, concurrency, 0),
                mode=f"{concurrency} concurrent",
            )
        )
        rows.append(
            _row(
                "mitigate.sqlite.sequential",
                _run("mitigate", f"sqlite:///{tmp}/m1.db?durability=full", max(n // 4, 100), 1, 0),
                mode="1 at a time",
            )
        )
        dbos = _run("dbos", f"sqlite:///{tmp}/dbos.sqlite", dbos_n, concurrency, 0)
        rows.append(_best("dbos.sqlite", dbos, concurrency))
    schemas = [f"bench_{tag}_{k}" for k in ("raw", "m", "m4", "dbos")]
    try:
        rows.append(_row("raw.postgres.commit", _run("raw-postgres", schemas[0], n, 1, 0)))
        rows.append(
            _row(
                "mitigate.postgres",
                _run("mitigate", f"{DSN}?schema={schemas[1]}", n, concurrency, 0),
                mode=f"{concurrency} concurrent",
            )
        )
        # Four processes on one schema, started together.
        _run("mitigate", f"{DSN}?schema={schemas[2]}", 1, 1, 0)  # migrate once
        start_at = time.time() + 3.0
        procs = [
            _spawn("mitigate", f"{DSN}?schema={schemas[2]}", n // 4, concurrency, start_at)
            for _ in range(4)
        ]
        parts = []
        for proc in procs:
            out, err = proc.communicate(timeout=600)
            if proc.returncode != 0:
                raise SystemExit(f"worker failed:\n{err[-3000:]}")
            parts.append(json.loads(out.strip().splitlines()[-1]))
        total = {
            "n": sum(p["n"] for p in parts),
            "seconds": max(p["end"] for p in parts) - min(p["start"] for p in parts),
            "commits": sum(p["commits"] for p in parts),
        }
        rows.append(
            _row(
                "mitigate.postgres.4workers", total, mode=f"4 processes x {concurrency} concurrent"
            )
        )
        dbos = _run("dbos", f"{DSN}#{schemas[3]}", dbos_n, concurrency, 0)
        rows.append(_best("dbos.postgres", dbos, concurrency))
    finally:
        for schema in schemas:
            _drop_schema(schema)
    return rows


def _best(name: str, dbos: dict[str, Any], concurrency: int) -> dict[str, Any]:
    seq = _row(name, dbos["sequential"], mode="sequential")
    conc = _row(name, dbos["concurrent"], mode=f"{concurrency} concurrent (async)")
    best = max(seq, conc, key=lambda r: r["per_second"])
    other = conc if best is seq else seq
    best["other_mode"] = {"mode": other["mode"], "per_second": other["per_second"]}
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--sagas", type=int, default=4000, help="sagas per mitigate row")
    parser.add_argument("--dbos-sagas", type=int, default=600, help="workflows per DBOS mode")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--child", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    rows = measure(args.sagas, args.dbos_sagas, args.concurrency)
    by = {r["name"]: r for r in rows}
    ratios = {
        "mitigate.sqlite / dbos.sqlite": round(
            by["mitigate.sqlite"]["per_second"] / by["dbos.sqlite"]["per_second"], 1
        ),
        "mitigate.postgres / dbos.postgres": round(
            by["mitigate.postgres"]["per_second"] / by["dbos.postgres"]["per_second"], 1
        ),
        "mitigate.postgres.4workers / dbos.postgres": round(
            by["mitigate.postgres.4workers"]["per_second"] / by["dbos.postgres"]["per_second"], 1
        ),
    }
    if args.json:
        print(json.dumps({"rows": rows, "ratios": ratios}))
        return
    print(
        f"three-step sagas/s; SQLite WAL synchronous=FULL; PostgreSQL synchronous_commit=on;"
        f" {os.cpu_count()} cores"
    )
    print(f"{'name':<30}{'per_second':>12}{'commits/saga':>14}  mode")
    for r in rows:
        print(
            f"{r['name']:<30}{r['per_second']:>12,.0f}{r['commits_per_saga']:>14.3f}"
            f"  {r.get('mode', '')}"
        )
    for k, v in ratios.items():
        print(f"{k}: {v}x")


if __name__ == "__main__":
    main()
