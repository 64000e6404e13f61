"""The content service as a real process: serve, publish over HTTP, download with Range
resume, stop cleanly on SIGTERM; on the embedded default and on PostgreSQL + NATS + Redis."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import httpx
import pytest
from tests.conftest import require_nats, require_postgres, require_redis

from .served import serve_content

TENANT = {"x-tenant-id": "acme"}


def _publish_and_download(url: str, assets: Path) -> None:
    (assets / "acme").mkdir(parents=True, exist_ok=True)
    video = os.urandom(3 * 1024 * 1024 + 17)
    (assets / "acme" / "index.html").write_bytes(b"<h1>course</h1>")
    (assets / "acme" / "intro.mp4").write_bytes(video)
    manifest = {
        "title": "Course",
        "version": "1.0",
        "entry": "index.html",
        "assets": [
            {"path": "index.html", "source": "index.html"},
            {"path": "intro.mp4", "source": "intro.mp4", "size": len(video)},
        ],
    }
    with httpx.Client(base_url=url, headers=TENANT, timeout=30) as http:
        saved = http.put("/v1/drafts/course-1", json=manifest)
        assert saved.status_code == 200, saved.text
        started = http.post("/v1/drafts/course-1/publish")
        assert started.status_code == 202, started.text
        deadline = time.monotonic() + 60
        while True:
            draft = http.get("/v1/drafts/course-1").json()
            if draft["state"] != "building" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert draft["state"] == "published", draft
        package = http.get(f"/v1/packages/{draft['packageId']}").json()
        expected = b"<h1>course</h1>" + video
        assert package["size"] == len(expected)

        # An interrupted download resumed with Range.
        path = f"/v1/packages/{draft['packageId']}/content"
        first = http.get(path, headers={"range": "bytes=0-999999"})
        assert first.status_code == 206
        assert first.headers["content-range"] == f"bytes 0-999999/{len(expected)}"
        rest = http.get(path, headers={"range": f"bytes={len(first.content)}-"})
        assert rest.status_code == 206
        whole = first.content + rest.content
        assert whole == expected
        assert hashlib.sha256(whole).hexdigest() == package["contentSha256"]

        ready = http.get("/readyz")
        assert ready.status_code == 200, ready.text
        metrics = http.get("/metrics")
        assert metrics.status_code == 200 and "text/plain" in metrics.headers["content-type"]


def test_serve_publish_download_stop_embedded(tmp_path: Path) -> None:
    with serve_content(tmp_path) as served:
        _publish_and_download(served.url, served.data / "content-assets")
        assert served.stop() == 0
    assert "stopped cleanly" in served.log.read_text()


@pytest.mark.integration
def test_serve_publish_download_stop_on_production_backends(tmp_path: Path) -> None:
    require_postgres()
    require_nats()
    require_redis()
    with serve_content(tmp_path, backend="postgres+nats+redis") as served:
        ready = httpx.get(f"{served.url}/readyz", timeout=10).json()
        assert set(ready["checks"]) >= {"store", "bus", "cache"}, ready
        _publish_and_download(served.url, served.data / "content-assets")
        assert served.stop() == 0
    assert "stopped cleanly" in served.log.read_text()
