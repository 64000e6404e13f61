"""The content rows the catalog marks `real_time` (their fault sits on a real link) also
run on the real clock: the fake catalog and the CDN served by uvicorn behind mitigate's
TCP fault proxy, the service on PostgreSQL, NATS JetStream and Redis, the partition a real
black hole on the link for the seed's 60 s, and content.chaos.2's drops whole NATS
messages taken off the wire by the proxy's NATS framing for the seed's 2 min.

The rows run as two `mitigate verify` processes side by side (content.chaos.2 alone, the
others together), started with the test session (tests/background.py): about two and a
half minutes of real time, overlapping the rest of the suite."""

from __future__ import annotations

import pytest
import yaml
from tests.background import ROOT, background_run, finished
from tests.conftest import require_nats, require_postgres, require_redis

SERVICE = "services/content"
REAL = ["verify", SERVICE, "--real-time", "--backend", "postgres+nats+redis", "--json"]
ALONE = "content.chaos.2"  # 10 000 events over 2 min: its own process
REST = ["content.chaos.4", "content.fallback.3", "content.fm.1.9"]


def _only(rows: list[str]) -> list[str]:
    return [arg for row in rows for arg in ("--only", row)]


@pytest.mark.integration
@background_run("content-real-time-alone", *REAL, *_only([ALONE]))
@background_run("content-real-time-rest", *REAL, *_only(REST))
def test_the_real_time_rows_verify_on_the_real_clock_and_servers() -> None:
    require_postgres()
    require_nats()
    require_redis()
    marked = yaml.safe_load((ROOT / SERVICE / "catalog.yaml").read_text())["real_time"]
    assert sorted(marked) == sorted([ALONE, *REST]), "every real_time row runs here"
    results = []
    for name in ("content-real-time-alone", "content-real-time-rest"):
        run = finished(name)
        assert run.returncode == 0, run.output
        journal = run.journal
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
