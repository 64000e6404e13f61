"""The authoring service as a real process (uvicorn on an ephemeral port): drafts, blocks,
the AI provenance refusal, the media validator, a publish through the saga, a clean stop
on SIGTERM; on the embedded default and on PostgreSQL + NATS + Redis."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from tests.conftest import require_nats, require_postgres, require_redis

from .served import serve_authoring

TENANT = {"x-tenant-id": "acme"}
PROVENANCE = {"model": "cloud-model-1", "promptId": "p1", "generatedAt": "2026-01-01T00:00Z"}


def _author_and_publish(url: str) -> None:
    with httpx.Client(base_url=url, headers=TENANT, timeout=30) as http:
        draft = http.post("/v1/drafts", json={"title": "Course"})
        assert draft.status_code == 201, draft.text
        draft_id = draft.json()["id"]
        blocks = f"/v1/drafts/{draft_id}/blocks"
        assert http.post(blocks, json={"kind": "text", "body": {"t": "hi"}}).status_code == 201
        refused = http.post(blocks, json={"kind": "ai-text", "body": {"t": "gen"}})
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == "AUTHORING.AI.PROVENANCE_REQUIRED"
        ai = {"kind": "ai-text", "body": {"t": "gen"}, "aiProvenance": PROVENANCE}
        assert http.post(blocks, json=ai).status_code == 201
        assert len(http.get(f"/v1/drafts/{draft_id}").json()["blocks"]) == 2

        # A block naming media the media service does not have: the publish is refused.
        other = http.post("/v1/drafts", json={"title": "Other"}).json()["id"]
        media = {"kind": "image", "media": ["gone.png"]}
        assert http.post(f"/v1/drafts/{other}/blocks", json=media).status_code == 201
        assert http.post(f"/v1/drafts/{other}/approve").status_code == 200
        missing = http.post(f"/v1/drafts/{other}/publish")
        assert missing.status_code == 409, missing.text
        assert missing.json()["code"] == "AUTHORING.MEDIA.MISSING"
        assert http.get(f"/v1/drafts/{other}").json()["state"] == "approved"

        assert http.post(f"/v1/drafts/{draft_id}/approve").status_code == 200
        started = http.post(f"/v1/drafts/{draft_id}/publish")
        assert started.status_code == 202, started.text
        deadline = time.monotonic() + 60
        while True:
            body = http.get(f"/v1/drafts/{draft_id}").json()
            if body["state"] != "publishing" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert body["state"] == "published", body
        status = http.get(f"/v1/publishes/{started.json()['publishId']}").json()
        assert status["state"] == "completed", status
        assert http.get("/readyz").status_code == 200
        metrics = http.get("/metrics")
        assert metrics.status_code == 200 and "text/plain" in metrics.headers["content-type"]


def test_serve_author_publish_stop_embedded(tmp_path: Path) -> None:
    with serve_authoring(tmp_path) as served:
        _author_and_publish(served.url)
        assert served.stop() == 0
    assert "stopped cleanly" in served.log.read_text()


@pytest.mark.integration
def test_serve_author_publish_stop_on_production_backends(tmp_path: Path) -> None:
    require_postgres()
    require_nats()
    require_redis()
    with serve_authoring(tmp_path, backend="postgres+nats+redis") as served:
        ready = httpx.get(f"{served.url}/readyz", timeout=10).json()
        assert set(ready["checks"]) >= {"store", "bus", "cache"}, ready
        _author_and_publish(served.url)
        assert served.stop() == 0
    assert "stopped cleanly" in served.log.read_text()
