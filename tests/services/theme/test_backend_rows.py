"""The theme rows fed by the bus, on PostgreSQL + NATS JetStream + Redis in virtual time
(a run started with the session, tests/background.py): theme.fm.2.9 (tenant events
through the inbox: retried, dead-lettered, replayed after the fix) and theme.fm.2.14
(broken assets found from media events and from the daily origin scan, a day of virtual
time paced by the real servers)."""

from __future__ import annotations

import pytest
from tests.background import background_run, finished
from tests.conftest import require_nats, require_postgres, require_redis

BACKEND = "postgres+nats+redis"
ROWS = ["theme.fm.2.9", "theme.fm.2.14"]


@pytest.mark.integration
@background_run(
    "theme-backend",
    "verify",
    "services/theme",
    "--backend",
    BACKEND,
    "--only",
    ROWS[0],
    "--only",
    ROWS[1],
)
def test_the_bus_rows_verify_on_the_real_servers() -> None:
    require_postgres()
    require_nats()
    require_redis()
    run = finished("theme-backend")
    assert run.returncode == 0, run.output[-3000:]
    results = {r["id"]: r for r in run.journal["results"]}
    assert sorted(results) == sorted(ROWS)
    for row in results.values():
        assert (row["verdict"], row["backend"]) == ("verified", BACKEND), row["reason"]
        assert row["rollbacks"] >= 1  # its schema and stream were dropped
