"""The content rows the catalog marks `real_time` (their fault sits on a real link) also
run on the real clock: the fake catalog and the CDN served by uvicorn behind mitigate's
TCP fault proxy, the service on PostgreSQL, NATS JetStream and Redis, the partition a real
black hole on the link for the seed's 60 s, and content.chaos.2's drops whole NATS
messages taken off the wire by the proxy's NATS framing for the seed's 2 min.

The rows run as two `mitigate verify` processes side by side (content.chaos.2 alone, the
others together): about two and a half minutes of real time instead of four and a half."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from tests.conftest import require_nats, require_postgres, require_redis

SERVICE = Path(__file__).resolve().parents[3] / "services" / "content"
MITIGATE = Path(sys.executable).parent / "mitigate"
ALONE = "content.chaos.2"  # 10 000 events over 2 min: its own process


def _verify(out: Path, only: list[str]) -> subprocess.Popen[str]:
    args = ["verify", str(SERVICE), "--real-time", "--backend", "postgres+nats+redis"]
    args += ["--json", "--out", str(out)]
    for row in only:
        args += ["--only", row]
    return subprocess.Popen(
        [str(MITIGATE), *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


@pytest.mark.integration
def test_the_real_time_rows_verify_on_the_real_clock_and_servers(tmp_path: Path) -> None:
    require_postgres()
    require_nats()
    require_redis()
    marked = yaml.safe_load((SERVICE / "catalog.yaml").read_text())["real_time"]
    assert ALONE in marked, "content.chaos.2 is a real-time row"
    groups = {"alone": [ALONE], "rest": [r for r in marked if r != ALONE]}
    running = {name: _verify(tmp_path / name, rows) for name, rows in groups.items()}
    results = []
    for name, process in running.items():
        output, _ = process.communicate(timeout=600)
        assert process.returncode == 0, output
        journal = json.loads((tmp_path / name / "verify.json").read_text())
        assert journal["run"]["clock"] == "real"
        results += journal["results"]
    assert sorted(r["id"] for r in results) == sorted(marked)
    assert {r["verdict"] for r in results} == {"verified"}, results
    for row in results:
        assert row["clock"] == "real" and row["backend"] == "postgres+nats+redis"
        # each fault is a real window on the run's timeline: the proxy on a real link
        windows = row["timeline"]["windows"]
        assert any("TCP proxy" in w["label"] for w in windows), windows
    (drops,) = [r for r in results if r["id"] == ALONE]
    dropped = [e for e in drops["timeline"]["events"] if e["name"] == "fault.injected"]
    assert {e["target"] for e in dropped} == {"bus.publish", "bus.deliver", "bus.ack"}
    assert all("dropped" in e["detail"] and "NATS proxy" in e["detail"] for e in dropped)
