"""The content service assembled: runtime, use cases, catalog client, app; and ``serve``.

``open_content(settings)`` builds it on the backends the settings name (or on a runtime an
experiment built); ``serve()`` is what ``uv run mitigate serve content`` runs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from services.kit.fakes.catalog import FakeCatalog
from services.kit.http import Remote, asgi_transport
from services.kit.runtime import Runtime
from services.kit.serve import run_service

from .adapters.assets import LocalAssets
from .adapters.signer import RingSigner
from .app import build_app
from .device_wiring import open_devices
from .imports import Importer
from .publish import Publisher
from .schema import ensure_schema
from .settings import ContentSettings
from .workers import running

__all__ = ["Content", "open_content", "serve"]


@dataclass
class Content:
    settings: ContentSettings
    runtime: Runtime
    publisher: Publisher
    importer: Importer
    catalog: Remote
    fake_catalog: FakeCatalog | None
    assets: LocalAssets
    app: Any = None
    devices: Any = None  # the device side (bundles, licences, sync), when wired
    closers: list[Any] = field(default_factory=list)

    async def aclose(self) -> None:
        await self.catalog.aclose()
        for close in reversed(self.closers):
            await close()
        await self.runtime.aclose()


async def open_content(
    settings: ContentSettings,
    *,
    runtime: Runtime | None = None,
    catalog_transport: httpx.AsyncBaseTransport | None = None,
) -> Content:
    """The content service on ``runtime`` (opened from ``settings`` when not given).

    The catalog service is ``settings.catalog_url``; empty means the embedded fake, reached
    in process through ``catalog_transport`` (default: httpx's ASGI transport).
    """
    settings = settings.resolved()  # type: ignore[assignment]
    if runtime is None:
        runtime = await Runtime.open(settings)
    await runtime.migrate(ensure_schema)
    data = Path(settings.data_dir)  # absolute: resolved() made it so
    fake = None
    base = settings.catalog_url
    if not base:
        fake = await FakeCatalog(
            runtime.store, dedupe=runtime.switches.enabled("content.switch.inbox-dedupe")
        ).setup()
        base = "http://catalog.fake"
        catalog_transport = catalog_transport or asgi_transport(fake.app)
    catalog = Remote(base, runtime.policy, transport=catalog_transport)
    assets = LocalAssets(settings.assets or data / "content-assets")
    publisher = Publisher(
        runtime,
        settings,
        assets=assets,
        catalog=catalog,
        signer=RingSigner(runtime.keyring),
    )
    importer = Importer(runtime, settings, workdir=data / "content-imports")
    await importer.load_blocks()
    content = Content(settings, runtime, publisher, importer, catalog, fake, assets)
    content.devices = await open_devices(runtime, data)
    content.app = build_app(content)
    return content


@contextlib.asynccontextmanager
async def _serving(settings: ContentSettings) -> AsyncIterator[Any]:
    runtime = await Runtime.open(settings.resolved())
    catalog_server = None
    if not settings.catalog_url:
        # The fake catalog service runs as its own HTTP server on 127.0.0.1: the content
        # service reaches it over a real socket, as it would the real one.
        fake = await FakeCatalog(runtime.store).setup()
        catalog_server = uvicorn.Server(
            uvicorn.Config(fake.app, host="127.0.0.1", port=0, lifespan="off", log_level="warning")
        )
        task = asyncio.create_task(catalog_server.serve())
        while not catalog_server.started:
            await runtime.clock.asleep(0.01)
        port = catalog_server.servers[0].sockets[0].getsockname()[1]
        settings = settings.model_copy(update={"catalog_url": f"http://127.0.0.1:{port}"})
    content = await open_content(settings, runtime=runtime)
    if catalog_server is not None:
        content.fake_catalog = fake
    try:
        async with running(content):
            yield content.app
    finally:
        await content.aclose()
        if catalog_server is not None:
            catalog_server.should_exit = True
            await task


def serve(*, host: str = "127.0.0.1", port: int = 8000, backend: str = "embedded") -> int:
    """Run the content service until SIGTERM (the ``mitigate.services`` entry point)."""
    settings = ContentSettings().with_backend(backend)
    return run_service(lambda: _serving(settings), host=host, port=port)  # type: ignore[arg-type]
