"""The SCORM importer's block is the toolkit's store-backed ImporterGate: a block set by
one service process is seen by another sharing the store, survives a restart, shows the
rejection's code to operators, and blocks kept in the service's old table are adopted."""

from __future__ import annotations

from pathlib import Path

import httpx
from services.content.hostile import HOSTILE, clean_zip
from services.content.service import open_content
from services.content.settings import ContentSettings
from services.kit.runtime import Runtime

import mitigate

ZIP = {"content-type": "application/zip", "x-tenant-id": "acme"}


async def _started(settings: ContentSettings, clock: mitigate.Clock):  # type: ignore[no-untyped-def]
    runtime = await Runtime.open(settings.resolved(), clock=clock)
    return await open_content(settings, runtime=runtime)


def _client(content) -> httpx.AsyncClient:  # type: ignore[no-untyped-def]
    transport = httpx.ASGITransport(app=content.app)
    return httpx.AsyncClient(transport=transport, base_url="http://content.test")


async def test_a_block_is_shared_through_the_store_and_survives_a_restart(
    tmp_path: Path,
) -> None:
    clock = mitigate.VirtualClock()
    settings = ContentSettings(data_dir=tmp_path, builder="inline")
    first = await _started(settings, clock)
    second = await _started(settings, clock)  # another process on the same store
    try:
        _, code, data = HOSTILE[0]
        async with _client(first) as a, _client(second) as b:
            rejected = await a.post("/v1/imports", content=data, headers=ZIP)
            assert rejected.status_code == 422 and rejected.json()["code"] == code
            refused = await b.post("/v1/imports", content=clean_zip(), headers=ZIP)
            assert refused.status_code == 423, refused.text
            assert refused.json()["code"] == "MITIGATE.ARCHIVE.BLOCKED"
            ops = {"x-ops-token": settings.ops_token}
            assert (await b.get("/ops/importer-blocks", headers=ops)).json() == {"acme": code}
            rows = await first.runtime.store.fetch("SELECT count(*) FROM content_importer_blocks")
            assert rows[0][0] == 0  # the service's own table is no longer written
    finally:
        await first.aclose()
        await second.aclose()
    again = await _started(settings, clock)
    try:
        async with _client(again) as http:
            refused = await http.post("/v1/imports", content=clean_zip(), headers=ZIP)
            assert refused.status_code == 423, refused.text
            ops = {"x-ops-token": settings.ops_token}
            assert (await http.post("/ops/importer-blocks/acme/clear", headers=ops)).is_success
            imported = await http.post("/v1/imports", content=clean_zip(), headers=ZIP)
            assert imported.status_code == 201, imported.text
    finally:
        await again.aclose()


async def test_blocks_of_the_old_table_are_adopted(tmp_path: Path) -> None:
    clock = mitigate.VirtualClock()
    settings = ContentSettings(data_dir=tmp_path, builder="inline")
    content = await _started(settings, clock)
    await content.runtime.store.execute(
        "INSERT INTO content_importer_blocks (tenant, reason, at) VALUES (?, ?, ?)",
        ("acme", "MITIGATE.ARCHIVE.ZIP_SLIP", 0.0),
    )
    await content.aclose()
    content = await _started(settings, clock)
    try:
        async with _client(content) as http:
            refused = await http.post("/v1/imports", content=clean_zip(), headers=ZIP)
            assert refused.status_code == 423, refused.text
        assert await content.importer.gate.ablocked() == {"acme": "MITIGATE.ARCHIVE.ZIP_SLIP"}
        rows = await content.runtime.store.fetch("SELECT count(*) FROM content_importer_blocks")
        assert rows[0][0] == 0
    finally:
        await content.aclose()
