"""theme.fm.2.4's orphan sweep on PostgreSQL under FORCED row-level security, on the real
clock. The sweep must learn which bundle objects a publication names; under RLS a
question with no tenant would see no publication and take every live bundle for an
orphan. It asks tenant by tenant (the tenant is in the key), so each tenant's published
bundle is kept, each tenant's orphan is reaped, and a key that names no tenant is never
taken. Without a server: skipped, or failed under CI=true."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from services.kit.runtime import Runtime
from services.theme.harness import sample_document
from services.theme.service import open_theme
from services.theme.settings import ThemeSettings
from tests.conftest import require_postgres
from tests.services.real_servers import drop_schema_and_stream

pytestmark = pytest.mark.integration

TENANTS = ("acme", "globex")


async def test_the_sweep_keeps_every_tenants_live_bundle_and_reaps_the_orphans(
    tmp_path: Path,
) -> None:
    require_postgres()
    unique = f"x{uuid.uuid4().hex[:10]}"
    settings = ThemeSettings(
        data_dir=tmp_path,
        store="postgresql://theme_app@127.0.0.1:5432/postgres",  # the app role RLS binds
        store_owner="postgresql://postgres@127.0.0.1:5432/postgres",
        schema_name=f"theme_{unique}",
        stream=f"THEME_{unique.upper()}",
        orphan_age=0.0,  # a candidate is reaped on the pass after it was first seen
    )
    runtime = await Runtime.open(settings)
    theme = await open_theme(settings, runtime=runtime)
    try:
        transport = httpx.ASGITransport(app=theme.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://theme.test") as http:
            for tenant in TENANTS:
                headers = {"x-tenant-id": tenant}
                saved = await http.put("/v1/themes/main", json=sample_document(), headers=headers)
                assert saved.status_code == 200, saved.text
                published = await http.post("/v1/themes/main/publish", headers=headers)
                assert published.status_code == 200, published.text
        live = set(await runtime.objects.list("bundles/"))
        assert {key.split("/")[1] for key in live} == set(TENANTS)
        orphans = {f"bundles/{tenant}/main/{'0' * 64}.json" for tenant in TENANTS}
        stray = "bundles/unattributed.json"
        for key in (*orphans, stray):
            await runtime.objects.put(key, b'{"orphan": true}')

        assert await theme.orphans.sweep_once() == []  # first pass: candidates marked
        reaped = await theme.orphans.sweep_once()
        assert set(reaped) == orphans
        assert set(await runtime.objects.list("bundles/")) == live | {stray}
    finally:
        await theme.aclose()
        await drop_schema_and_stream(settings.schema_name, settings.stream)
