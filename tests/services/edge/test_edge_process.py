"""The edge service as a real process: ready with a valid tenant set, resolves tenants
fail-closed, answers errors (also mid-stream) in the envelope, stops cleanly on SIGTERM;
with a bad tenant set it never becomes ready."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from services.edge.harness import TENANTS
from tests.conftest import require_postgres, require_redis

from .served import serve_edge

OPS = {"x-ops-token": "local-operator"}


def _round_trip(url: str) -> None:
    with httpx.Client(base_url=url, timeout=10) as http:
        assert http.get("/readyz").status_code == 200
        hello = http.get("/v1/hello", headers={"x-tenant-id": "acme"})
        assert hello.json()["tenant"] == "acme"
        by_key = http.get("/v1/hello", headers={"x-api-key": "key-globex-1"})
        assert by_key.json()["tenant"] == "globex"
        unknown = http.get("/v1/hello", headers={"x-tenant-id": "nosuch"})
        assert (unknown.status_code, unknown.json()["code"]) == (404, "MITIGATE.TENANT.UNKNOWN")
        for path in ("/v1/diagnostics/fail", "/v1/diagnostics/fail-streaming"):
            failed = http.get(path, headers={"x-tenant-id": "acme", **OPS})
            body = failed.json()
            assert failed.status_code == 500, failed.text
            assert body["code"] == "EDGE.INTERNAL" and body["traceId"]
            assert body["traceId"] == failed.headers["x-trace-id"]
            assert "internal detail" not in failed.text
        metrics = http.get("/metrics").text
        assert "errors_total 2.0" in metrics


def test_embedded_process(tmp_path: Path) -> None:
    with serve_edge(tmp_path) as served:
        _round_trip(served.url)
        assert served.stop() == 0
    log = served.log.read_text()
    assert '"requestId"' in log and '"tenantId": "acme"' in log


def test_postgres_process(tmp_path: Path) -> None:
    require_postgres()
    with serve_edge(tmp_path, backend="postgres") as served:
        _round_trip(served.url)
        assert served.stop() == 0


def test_redis_kv_process(tmp_path: Path) -> None:
    """On PostgreSQL + Redis: flags go through KV on the real Redis."""
    require_postgres()
    require_redis()
    with serve_edge(tmp_path, backend="postgres+redis") as served:
        with httpx.Client(base_url=served.url, timeout=10) as http:
            acme = {"x-tenant-id": "acme"}
            wrote = http.put("/v1/flags/beta", json={"value": "on"}, headers=acme)
            assert wrote.json()["kv"] == "written", wrote.text
            read = http.get("/v1/flags/beta", params={"location": "origin"}, headers=acme)
            assert read.json() == {"name": "beta", "value": "on", "servedFrom": "kv"}
            ask = http.post("/v1/assistant/answer", json={"prompt": "hi"}, headers=acme)
            assert ask.json()["model"] == "large-model", ask.text
        assert served.stop() == 0


def test_a_bad_tenant_set_never_becomes_ready(tmp_path: Path) -> None:
    bad = {**TENANTS, "broken": "{not json"}
    with serve_edge(tmp_path, tenants=bad) as served:
        for _ in range(3):
            assert httpx.get(f"{served.url}/readyz", timeout=5).status_code == 503
        refused = httpx.get(f"{served.url}/v1/hello", headers={"x-tenant-id": "acme"}, timeout=5)
        assert refused.status_code == 503
        assert served.stop() == 0
    assert "broken.json" in served.log.read_text()


@pytest.mark.parametrize("folder_state", ["valid", "invalid"])
def test_validate_command(
    tmp_path: Path, folder_state: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from services.edge.harness import write_tenants
    from services.edge.validate import main

    bad = {**TENANTS, "x": {"id": "x", "plan": "gold"}} if folder_state == "invalid" else None
    write_tenants(tmp_path, bad)
    status = main([str(tmp_path)])
    out = capsys.readouterr().out
    if folder_state == "valid":
        assert status == 0 and "2 tenant config(s) valid" in out
    else:
        assert status == 1 and "x.json: plan:" in out
