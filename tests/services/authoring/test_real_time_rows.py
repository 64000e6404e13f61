"""authoring.chaos.3 on the real clock: a 10 s latency spike on every AI gateway call;
each request ends within its 5 s budget degraded (503 "continue manually", or the local
model's block with consent), never an error page, and the breaker opens after 10
timeouts in 30 s. About 30 s of real time."""

from __future__ import annotations

import json

import pytest
import yaml
from tests.background import ROOT, background_run, finished


@pytest.mark.integration
@background_run("authoring-real-time", "verify", "services/authoring", "--real-time", "--json")
def test_the_ai_latency_spike_degrades_on_the_real_clock() -> None:
    marked = yaml.safe_load((ROOT / "services/authoring/catalog.yaml").read_text())["real_time"]
    assert marked == ["authoring.chaos.3"]
    run = finished("authoring-real-time")
    assert run.returncode == 0, run.output
    (row,) = run.journal["results"]
    assert (row["id"], row["verdict"], row["clock"]) == ("authoring.chaos.3", "verified", "real")
    checks = {c["name"]: c for c in row["checks"]}
    assert checks["every AI request ends within 5 s"]["passed"]
    took = json.loads(checks["every AI request ends within 5 s"]["detail"])
    assert max(took) > 4.9  # the spike was real: requests waited out their budget
