"""authoring.chaos.3 on the real clock: a 10 s latency spike on every AI gateway call;
each request ends within its 5 s budget degraded (503 "continue manually", or the local
model's block with consent), never an error page, and the breaker opens after 10
timeouts in 30 s. About 30 s of real time."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from mitigate.cli import app

SERVICE = Path(__file__).resolve().parents[3] / "services" / "authoring"


@pytest.mark.integration
def test_the_ai_latency_spike_degrades_on_the_real_clock(tmp_path: Path) -> None:
    marked = yaml.safe_load((SERVICE / "catalog.yaml").read_text())["real_time"]
    assert marked == ["authoring.chaos.3"]
    result = CliRunner().invoke(
        app, ["verify", str(SERVICE), "--real-time", "--json", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    (row,) = json.loads((tmp_path / "verify.json").read_text())["results"]
    assert (row["id"], row["verdict"], row["clock"]) == ("authoring.chaos.3", "verified", "real")
    checks = {c["name"]: c for c in row["checks"]}
    assert checks["every AI request ends within 5 s"]["passed"]
    took = json.loads(checks["every AI request ends within 5 s"]["detail"])
    assert max(took) > 4.9  # the spike was real: requests waited out their budget
