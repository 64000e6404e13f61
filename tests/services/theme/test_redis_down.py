"""theme.fm.2.7 on the real Redis, taken away behind the TCP fault proxy (real clock):
reads of a published bundle keep answering 200 from origin with a p95 within 250 ms,
the cache breaker opens, and no read fails."""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

import httpx
from services.theme.harness import sample_document
from services.theme.service import open_theme
from services.theme.settings import ThemeSettings
from tests.conftest import require_redis

from mitigate.chaos import FaultProxy


async def _scenario(redis_url: str) -> None:
    host, port = redis_url.split("//", 1)[1].split("/", 1)[0].split(":")
    async with FaultProxy(host, int(port)) as proxy:
        root = Path(tempfile.mkdtemp(prefix="theme-redis-"))
        settings = ThemeSettings(
            data_dir=root,
            store=f"sqlite:///{root / 'theme.db'}",
            cache=f"redis://127.0.0.1:{proxy.port}/15",
        )
        theme = await open_theme(settings)
        http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=theme.app),
            base_url="http://theme.test",
            headers={"x-tenant-id": "acme"},
        )
        try:
            assert (await http.put("/v1/themes/brand", json=sample_document())).status_code == 200
            assert (await http.post("/v1/themes/brand/publish")).status_code == 200
            for _ in range(2):
                warm = await http.get("/v1/themes/brand/read")
            assert warm.headers["x-theme-source"] == "cache"
            good = warm.content

            proxy.blackhole()  # Redis stops answering: every call hangs until its 200 ms cut
            proxy.reset_connections()
            took, sources = [], []
            for _ in range(100):
                start = time.perf_counter()
                answer = await http.get("/v1/themes/brand/read")
                took.append(time.perf_counter() - start)
                assert answer.status_code == 200, answer.text
                assert answer.content == good
                sources.append(answer.headers["x-theme-source"])
            took.sort()
            assert set(sources) == {"origin"}
            assert took[94] <= 0.25, took[90:]
        finally:
            proxy.clear()
            await http.aclose()
            await theme.aclose()


def test_reads_bypass_a_dead_redis() -> None:
    asyncio.run(_scenario(require_redis()))
