"""The comms rows whose mitigation lives in Redis, on the real Redis (runs started with the
session, tests/background.py).

comms.fm.7: the service's idempotency keys flushed from Redis while 40 clients retry;
each retry gets its first answer from the database copy (virtual time, `--backend redis`).
comms.fm.13: one provider floods the receipt callbacks at 20x its baseline on the real
clock; the per-provider limit, kept in the real Redis, refuses it above the limit while
the other provider is untouched, and every receipt is applied once."""

from __future__ import annotations

import pytest
import yaml
from tests.background import ROOT, background_run, finished
from tests.conftest import require_redis

COMMS = "services/comms"


@pytest.mark.integration
@background_run("comms-fm7-redis", "verify", COMMS, "--backend", "redis", "--only", "comms.fm.7")
def test_idempotency_keys_flushed_from_the_real_redis() -> None:
    require_redis()
    run = finished("comms-fm7-redis")
    assert run.returncode == 0, run.output
    (row,) = run.journal["results"]
    assert (row["id"], row["verdict"], row["backend"]) == ("comms.fm.7", "verified", "redis")
    assert "comms.rule.idempotency-hit-ratio" in row["detected_by"], row["detected_by"]


@pytest.mark.integration
@background_run("comms-fm13-real", "verify", COMMS, "--real-time", "--backend", "redis", "--json")
def test_the_receipt_flood_on_the_real_clock_against_the_real_redis_limit() -> None:
    require_redis()
    marked = yaml.safe_load((ROOT / COMMS / "catalog.yaml").read_text())["real_time"]
    assert marked == ["comms.fm.13"]
    run = finished("comms-fm13-real")
    assert run.returncode == 0, run.output
    (row,) = run.journal["results"]
    assert (row["id"], row["verdict"], row["clock"]) == ("comms.fm.13", "verified", "real")
    checks = {c["name"]: c for c in row["checks"]}
    assert checks["the receipt limit is kept in Redis"]["passed"]
    assert checks["the primary got 429 above its limit"]["passed"]
    assert checks["none applied twice"]["passed"]
