"""Bad input gets a clear error in the envelope and changes nothing: invalid manifests,
unknown drafts, bad ranges, empty, oversized, malformed and hostile archives."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from services.content.hostile import HOSTILE, clean_zip
from services.content.service import open_content
from services.content.settings import ContentSettings
from services.kit.runtime import Runtime

import mitigate

CATALOG = Path(__file__).parents[3] / "services" / "content" / "catalog.yaml"
GOOD = {
    "title": "Course",
    "version": "1.0",
    "entry": "index.html",
    "assets": [{"path": "index.html", "source": "index.html"}],
}
ZIP = {"content-type": "application/zip"}


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, object]]:
    clock = mitigate.VirtualClock()
    settings = ContentSettings(data_dir=tmp_path, builder="inline")
    catalog = mitigate.Catalog.load(CATALOG, clock=clock)
    runtime = await Runtime.open(settings, clock=clock, policy=catalog.policy)
    content = await open_content(settings, runtime=runtime)
    transport = httpx.ASGITransport(app=content.app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://content.test", headers={"x-tenant-id": "acme"}
    ) as http:
        yield http, content
    await content.aclose()


def _listing(folder: Path) -> list[Path]:
    return list(folder.iterdir())


def _envelope(response: httpx.Response, status: int, code: str) -> None:
    body = response.json()
    assert response.status_code == status, response.text
    assert body["code"] == code and body["message"] and body["traceId"], body


@pytest.mark.parametrize(
    "change",
    [
        {"title": ""},
        {"version": "one"},
        {"entry": "missing.html"},
        {"assets": []},
        {"assets": [{"path": "../escape", "source": "index.html"}]},
        {"assets": [{"path": "index.html", "source": "/etc/passwd"}]},
        {"assets": [{"path": "index.html", "source": "a"}, {"path": "index.html", "source": "b"}]},
        {"assets": [{"path": "index.html", "source": "index.html", "sha256": "zz"}]},
        {"unexpected": True},
    ],
)
async def test_invalid_manifests_are_refused_and_change_nothing(api, change) -> None:
    http, _ = api
    assert (await http.put("/v1/drafts/d1", json=GOOD)).status_code == 200
    before = (await http.get("/v1/drafts/d1")).json()
    refused = await http.put("/v1/drafts/d1", json={**GOOD, **change})
    _envelope(refused, 422, "PLATFORM.REQUEST.INVALID")
    assert (await http.get("/v1/drafts/d1")).json() == before
    never = await http.put("/v1/drafts/d2", json={**GOOD, **change})
    assert never.status_code == 422
    _envelope(await http.get("/v1/drafts/d2"), 404, "CONTENT.DRAFT.NOT_FOUND")


async def test_unknown_and_busy_drafts(api) -> None:
    http, _ = api
    _envelope(await http.post("/v1/drafts/nope/publish"), 404, "CONTENT.DRAFT.NOT_FOUND")
    _envelope(await http.get("/v1/publishes/nope"), 404, "CONTENT.PUBLISH.NOT_FOUND")
    _envelope(await http.get("/v1/packages/nope"), 404, "CONTENT.PACKAGE.NOT_FOUND")
    _envelope(await http.put("/v1/drafts/bad id!", json=GOOD), 400, "CONTENT.DRAFT.BAD_ID")
    await http.put("/v1/drafts/d1", json=GOOD)
    assert (await http.post("/v1/drafts/d1/publish")).status_code == 202
    _envelope(await http.post("/v1/drafts/d1/publish"), 409, "CONTENT.DRAFT.BUSY")
    _envelope(await http.put("/v1/drafts/d1", json=GOOD), 409, "CONTENT.DRAFT.BUSY")
    other = await http.get("/v1/drafts/d1", headers={"x-tenant-id": "globex"})
    _envelope(other, 404, "CONTENT.DRAFT.NOT_FOUND")


async def test_empty_oversized_and_malformed_archives(api) -> None:
    http, content = api
    _envelope(await http.post("/v1/imports", content=b"", headers=ZIP), 400, "CONTENT.IMPORT.EMPTY")
    content.importer.guard.tenant_limits["acme"] = mitigate.ArchiveLimits(max_archive_bytes=1 << 20)
    read = 0

    async def huge() -> AsyncIterator[bytes]:
        nonlocal read
        for _ in range(64):
            read += 1 << 16
            yield b"\0" * (1 << 16)

    big = await http.post("/v1/imports", content=huge(), headers=ZIP)
    _envelope(big, 413, "MITIGATE.ARCHIVE.TOO_LARGE")
    assert await content.runtime.objects.list() == []
    assert _listing(content.importer.spool) == []
    assert read <= 2 * (1 << 20), f"read {read} bytes of a 4 MiB upload capped at 1 MiB"
    garbage = await http.post("/v1/imports", content=b"not a zip at all", headers=ZIP)
    assert garbage.status_code == 422 and garbage.json()["code"].startswith("MITIGATE.ARCHIVE.")
    assert await content.runtime.objects.list() == []


async def test_hostile_archive_is_quarantined_and_blocks_the_tenant(api) -> None:
    http, content = api
    _, code, data = HOSTILE[0]
    _envelope(await http.post("/v1/imports", content=data, headers=ZIP), 422, code)
    blocked = await http.post("/v1/imports", content=clean_zip(), headers=ZIP)
    _envelope(blocked, 423, "MITIGATE.ARCHIVE.BLOCKED")
    assert "security review" in blocked.json()["message"]
    assert await content.runtime.objects.list() == []
    forbidden = await http.post("/ops/importer-blocks/acme/clear")
    _envelope(forbidden, 403, "CONTENT.OPS.FORBIDDEN")
    ops = {"x-ops-token": content.settings.ops_token}
    assert (await http.post("/ops/importer-blocks/acme/clear", headers=ops)).status_code == 200
    assert (await http.post("/v1/imports", content=clean_zip(), headers=ZIP)).status_code == 201


async def test_bad_ranges_are_416(api) -> None:
    from services.content.api.publish import parse_range
    from services.kit.errors import ServiceError

    assert parse_range("bytes=10-", 100) == (10, 100)
    assert parse_range("bytes=-10", 100) == (90, 100)
    assert parse_range("bytes=0-999", 100) == (0, 100)
    for bad in ("bytes=100-", "items=0-1", "bytes=a-b", "bytes=0-1,4-5", "bytes=5-2"):
        with pytest.raises(ServiceError) as refused:
            parse_range(bad, 100)
        assert refused.value.status == 416
