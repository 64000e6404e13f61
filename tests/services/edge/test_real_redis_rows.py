"""The edge rows whose dependency is KV, on the real Redis (a run started with the
session, tests/background.py): edge.fm.2.3a (Redis connections reset and refused through
mitigate's TCP fault proxy: reads and writes retried, then served from the source of
truth), edge.fm.2.3b (the propagation-delay model) and edge.principle.2 (KV down: the
core endpoints still answer 2xx)."""

from __future__ import annotations

import pytest
from tests.background import background_run, finished
from tests.conftest import require_redis

ROWS = ["edge.fm.2.3a", "edge.fm.2.3b", "edge.principle.2"]


@pytest.mark.integration
@background_run(
    "edge-redis",
    "verify",
    "services/edge",
    "--backend",
    "redis",
    "--only",
    ROWS[0],
    "--only",
    ROWS[1],
    "--only",
    ROWS[2],
)
def test_the_kv_rows_verify_on_the_real_redis() -> None:
    require_redis()
    run = finished("edge-redis")
    assert run.returncode == 0, run.output
    results = {r["id"]: r for r in run.journal["results"]}
    assert sorted(results) == sorted(ROWS)
    for row in results.values():
        assert (row["verdict"], row["backend"]) == ("verified", "redis"), row["reason"]
    resets = next(
        c for c in results["edge.fm.2.3a"]["checks"] if c["name"].startswith("after a reset")
    )
    assert resets["passed"], resets
