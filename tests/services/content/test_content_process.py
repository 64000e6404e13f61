"""The content service as a real process: serve, publish over HTTP, download with Range
resume, stop cleanly on SIGTERM; on the embedded default and on PostgreSQL + NATS + Redis."""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import time
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from services.content.domain import sealing
from tests.conftest import require_nats, require_postgres, require_redis

from .served import serve_content

TENANT = {"x-tenant-id": "acme"}
OPS = {"x-ops-token": "local-operator"}  # the settings' default operator token


def _answers_after_a_204(url: str) -> None:
    """After the 204 the same connection answers the next request: a 204 sent with a body
    made the server drop the connection (a client then saw a reset)."""
    host, port = url.removeprefix("http://").split(":")
    put = (
        b"PUT /ops/courses/c0/offline-source HTTP/1.1\r\nHost: t\r\n"
        b"x-ops-token: local-operator\r\nContent-Length: 3\r\n\r\nabc"
    )
    probe = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(put + probe)  # pipelined on one keep-alive connection
        answer = b""
        while answer.count(b"HTTP/1.1 ") < 2:
            chunk = conn.recv(65536)
            if not chunk:
                break  # the server closed the connection
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 204"), answer[:200]
    assert b"HTTP/1.1 200" in answer, f"connection dropped after the 204: {answer[:300]!r}"


def _device_bundle_with_range(url: str) -> None:
    """An operator stores a course's offline source (204, no body: a body there made
    uvicorn reset the connection); a device registers, gets its encrypted bundle, and
    downloads it through its signed URL in two Range requests; it decrypts to the course."""
    lesson = os.urandom(1024 * 1024 + 123)
    with httpx.Client(base_url=url, timeout=30) as http:
        stored = http.put("/ops/courses/c1/offline-source", content=lesson, headers=OPS)
        assert stored.status_code == 204, stored.text
        assert stored.content == b""
        private = X25519PrivateKey.generate()
        public = base64.b64encode(sealing.public_bytes(private.public_key())).decode()
        device = {"device_id": "tab", "tenant": "acme", "public_key": public}
        registered = http.post("/v1/devices", json=device, headers=TENANT)
        assert registered.status_code == 201, registered.text
        asked = http.post("/v1/devices/tab/bundles", json={"course_id": "c1"}, headers=TENANT)
        assert asked.status_code in (200, 201, 202), asked.text
        deadline = time.monotonic() + 60
        while True:  # 202 "preparing" when queued: the bundle worker builds it
            view = http.get("/v1/devices/tab/bundles/c1@tab", headers=TENANT).json()
            if view["status"] != "preparing" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert view["status"] == "ready", view
        signed = http.post(
            "/v1/devices/tab/bundles/c1@tab/url", json={"via": "origin"}, headers=TENANT
        )
        assert signed.status_code == 200, signed.text
        link = signed.json()["url"]
        first = http.get(link, headers={"range": "bytes=0-65535"})
        assert first.status_code == 206, first.text
        total = int(first.headers["content-range"].rsplit("/", 1)[1])
        rest = http.get(link, headers={"range": f"bytes={len(first.content)}-"})
        assert rest.status_code == 206, rest.text
        sealed = first.content + rest.content
        assert len(sealed) == total
        assert base64.b64decode(view["sha256"]) == hashlib.sha256(sealed).digest()
        aad = b"c1@tab"
        data_key = sealing.open_on_device(base64.b64decode(view["sealedKey"]), private, aad)
        assert sealing.decrypt(data_key, sealed, aad) == lesson


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
        _answers_after_a_204(served.url)
        _device_bundle_with_range(served.url)
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
        _answers_after_a_204(served.url)
        _device_bundle_with_range(served.url)
        assert served.stop() == 0
    assert "stopped cleanly" in served.log.read_text()
