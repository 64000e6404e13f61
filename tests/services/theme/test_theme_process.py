"""The theme service as a real process: serve, save with ETag / If-Match, publish, render,
stop cleanly on SIGTERM; on the embedded default and on PostgreSQL + NATS + Redis."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import httpx
import pytest
from services.theme.harness import sample_document
from tests.conftest import require_nats, require_postgres, require_redis

from .served import serve_theme

TENANT = {"x-tenant-id": "acme"}


def _edit_publish_render(url: str) -> None:
    with httpx.Client(base_url=url, headers=TENANT, timeout=30) as http:
        created = http.put("/v1/themes/main", json=sample_document())
        assert created.status_code == 200, created.text
        assert created.headers["etag"] == '"1"'
        saved = http.put(
            "/v1/themes/main", json=sample_document(name="Two"), headers={"if-match": '"1"'}
        )
        assert saved.status_code == 200 and saved.headers["etag"] == '"2"', saved.text
        stale = http.put(
            "/v1/themes/main", json=sample_document(name="Old"), headers={"if-match": '"1"'}
        )
        assert stale.status_code == 412, stale.text
        assert stale.json()["code"] == "MELMASTOON.PLATFORM.PRECONDITION_FAILED"
        assert stale.json()["traceId"] == stale.headers["x-trace-id"]
        in_use = http.delete("/v1/themes/main/locales/fr")
        assert in_use.status_code == 409 and in_use.json()["references"], in_use.text
        published = http.post("/v1/themes/main/publish")
        assert published.status_code == 200, published.text
        assert len(published.json()["sha256"]) == 64
        assert http.get("/v1/themes/main").json()["state"] == "published"
        active = http.get("/v1/themes/main/publication").json()
        assert active["revision"] == 2 and active["sha256"] == published.json()["sha256"]
        bundle = http.get("/v1/themes/main/bundle")
        assert bundle.status_code == 200 and "s-maxage=86400" in bundle.headers["cache-control"]
        assert hashlib.sha256(bundle.content).hexdigest() == active["sha256"]
        again = http.post("/v1/themes/main/publish")  # the active revision: a no-op
        assert again.status_code == 200 and again.json()["sha256"] == active["sha256"]
        rendered = http.get("/v1/themes/main/render").json()
        assert rendered["blocks"] == [
            {"id": "intro", "html": "<p>Welcome <strong>aboard</strong></p>"}
        ]
        other = http.get("/v1/themes/main", headers={"x-tenant-id": "globex"})
        assert other.status_code == 404, other.text  # another tenant's theme does not exist
        assert http.get("/readyz").status_code == 200
        deadline = time.monotonic() + 20  # the purge retrier runs beside the app
        while http.get("/v1/purges").json()[0]["state"] != "done":
            assert time.monotonic() < deadline, http.get("/v1/purges").json()
            time.sleep(0.2)


def test_serve_edit_publish_stop_embedded(tmp_path: Path) -> None:
    with serve_theme(tmp_path) as served:
        _edit_publish_render(served.url)
        assert served.stop() == 0
    assert "stopped cleanly" in served.log.read_text()


@pytest.mark.integration
def test_serve_edit_publish_stop_on_production_backends(tmp_path: Path) -> None:
    require_postgres()
    require_nats()
    require_redis()
    with serve_theme(tmp_path, backend="postgres+nats+redis") as served:
        ready = httpx.get(f"{served.url}/readyz", timeout=10).json()
        assert set(ready["checks"]) >= {"store", "bus", "cache"}, ready
        _edit_publish_render(served.url)
        assert served.stop() == 0
    assert "stopped cleanly" in served.log.read_text()
