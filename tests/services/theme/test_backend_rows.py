"""Theme rows on PostgreSQL + NATS JetStream + Redis in virtual time, the tables under
FORCED row-level security and the service connected as ``theme_app`` (a run started with
the session, tests/background.py): theme.fm.2.9 (tenant events through the inbox, each
handled as its tenant: retried, dead-lettered, replayed after the fix), theme.fm.2.14
(broken assets found from media events and from the daily origin scan, tenant by tenant,
a day of virtual time paced by the real servers), theme.fm.2.10 (the database's policy
returns no row of another tenant; the service refuses to start as the owner and as a
BYPASSRLS role; no tenant left on a pooled connection).

Every theme row verifies on ``--backend postgres`` (run by hand: some take 20 min paced by
the servers). The rows whose checks hang on seconds-long policy timeouts (fm.2.4's 10 s
upload cut, principle.1's 5 s database cut) stay out of this run: on a loaded machine a
slow reply lets the virtual clock reach the timeout first. The orphan sweep under RLS is
proven on the real clock instead (test_orphans_under_rls.py)."""

from __future__ import annotations

import pytest
from tests.background import background_run, finished
from tests.conftest import require_nats, require_postgres, require_redis

BACKEND = "postgres+nats+redis"
ROWS = ["theme.fm.2.9", "theme.fm.2.14", "theme.fm.2.10"]


@pytest.mark.integration
@background_run(
    "theme-backend",
    "verify",
    "services/theme",
    "--backend",
    BACKEND,
    *(arg for row in ROWS for arg in ("--only", row)),
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
