"""The content rows the catalog marks `real_time` (their fault sits on a real link) also
run on the real clock: the fake catalog served by uvicorn behind mitigate's TCP fault
proxy, the service on PostgreSQL, NATS JetStream and Redis, the partition a real black
hole on the link for the seed's 60 s. About a minute and a half of real time."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from tests.conftest import require_nats, require_postgres, require_redis
from typer.testing import CliRunner

from mitigate.cli import app

SERVICE = Path(__file__).resolve().parents[3] / "services" / "content"


@pytest.mark.integration
def test_the_real_time_rows_verify_on_the_real_clock_and_servers(tmp_path: Path) -> None:
    require_postgres()
    require_nats()
    require_redis()
    marked = yaml.safe_load((SERVICE / "catalog.yaml").read_text())["real_time"]
    assert marked, "the catalog marks no real-time row"
    result = CliRunner().invoke(
        app,
        [
            "verify", str(SERVICE), "--real-time", "--backend", "postgres+nats+redis",
            "--json", "--out", str(tmp_path),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["results"]
    assert sorted(r["id"] for r in rows) == sorted(marked)
    assert {r["verdict"] for r in rows} == {"verified"}, rows
    journal = json.loads((tmp_path / "verify.json").read_text())
    assert journal["run"]["clock"] == "real"
    for row in journal["results"]:
        assert row["clock"] == "real" and row["backend"] == "postgres+nats+redis"
        # the partition is a real fault window on the run's timeline, of the seed's length
        windows = row["timeline"]["windows"]
        assert any("TCP proxy" in w["label"] for w in windows), windows
