"""`mitigate verify services/content --backend postgres+nats+redis` for the saga and bus
rows: the same experiments, against the real PostgreSQL, NATS JetStream and Redis, in
virtual time with the backend autojump threshold, and nothing left behind on the servers.

content.chaos.1: a KMS outage mid-publish; the saga's steps and outbox are on PostgreSQL,
the built event crosses NATS to the catalog's consumer. content.chaos.4: a partition
during catalog registration ends in compensation (60 s) or completion (20 s). The cache
rows on the real Redis: content.breaker.1 (a second worker's KMS breaker opens from the
first's, shared through Redis; a run started with the session) and content.fm.1.10 (the
CDN edge's copies indexed in Redis; a poisoned copy is purged)."""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
import pytest
from tests.background import background_run, finished
from tests.conftest import require_nats, require_postgres, require_redis

from mitigate.chaos.runner import Runner, load_suite

SERVICE = Path(__file__).resolve().parents[3] / "services" / "content"
BACKEND = "postgres+nats+redis"
ROWS = ["content.chaos.1", "content.chaos.4", "content.fm.1.10"]


def _run_schemas(dsn: str) -> set[str]:
    """This process's run schemas (other runs on the server, such as the session-start
    runs in their own processes, name theirs with their own process id)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE %s",
            (f"content\\_x{os.getpid()}y%",),
        ).fetchall()
    return {r[0] for r in rows}


def _content_keys() -> set[str]:
    """Redis keys a content run leaves: the CDN index (breaker openings expire alone)."""
    import redis

    client = redis.Redis.from_url(require_redis())
    try:
        return {k.decode() for k in client.scan_iter("content:cdn:*")}
    finally:
        client.close()


@pytest.fixture(scope="module")
def servers() -> str:
    require_nats()
    require_redis()
    return require_postgres()


@pytest.mark.parametrize("experiment_id", ROWS)
def test_saga_and_bus_rows_verify_on_the_real_servers(servers: str, experiment_id: str) -> None:
    suite = load_suite(SERVICE)
    spec = next(s for s in suite.experiments if s.id == experiment_id)
    before_schemas = _run_schemas(servers)

    result = Runner(backend=BACKEND).run_one(suite, spec)

    assert result.verdict == "verified", result.reason
    assert (result.backend, result.clock) == (BACKEND, "virtual")
    assert result.rollbacks >= 1
    # The run's rollback dropped its schema (and its NATS stream, and its Redis keys).
    assert _run_schemas(servers) - before_schemas == set()
    assert _content_keys() == set()


@pytest.mark.integration
@background_run(
    "content-breaker-redis",
    "verify",
    str(SERVICE),
    "--backend",
    BACKEND,
    "--only",
    "content.breaker.1",
)
def test_the_kms_breaker_row_shares_its_opening_through_the_real_redis() -> None:
    # Paced by the real servers (many short waits): started with the session, in parallel.
    require_postgres()
    require_redis()
    run = finished("content-breaker-redis")
    assert run.returncode == 0, run.output
    (row,) = run.journal["results"]
    assert (row["id"], row["verdict"], row["backend"]) == ("content.breaker.1", "verified", BACKEND)
    shared = next(c for c in row["checks"] if c["name"].startswith("B's breaker opened"))
    assert shared["passed"], shared
    assert _content_keys() == set()


def test_a_backend_run_builds_its_world_on_the_real_servers(tmp_path: Path) -> None:
    # What the experiments above open for run.backend: the servers, uniquely named.
    from services.content.harness import settings_for

    class _Run:
        backend = BACKEND

    one, two = settings_for(_Run(), tmp_path), settings_for(_Run(), tmp_path)
    assert one.store.startswith("postgresql://") and one.bus.startswith("nats://")
    assert one.cache.startswith("redis://")
    assert one.schema_name != two.schema_name and one.stream != two.stream
    # named with this process's id: what _run_schemas looks for after each run
    assert one.schema_name.startswith(f"content_x{os.getpid()}y"), one.schema_name
    assert one.subject_prefix != two.subject_prefix
    assert f"schema={one.schema_name}" in one.store_url
