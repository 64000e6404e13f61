"""The device side wired into the running content service: its use cases on the
service's runtime (clock, catalog policies, key ring, switches, observers), the fake push
provider and AI gateway reached in process (embedded), and the origin that serves bundle
objects behind signed URLs at ``/objects/...``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

import mitigate
from mitigate.web import LocalObjects, SignedObjectApp

from .adapters.ai_gateway import AssistantConfigClient, FakeAiGateway
from .adapters.device_state import SqlState
from .adapters.kms import LocalKms
from .adapters.push import FakePushProvider, PushClient
from .devices import DeviceSide, Ports, tamper_settings

__all__ = ["attach_devices", "open_devices"]


def _url_secret(path: Path) -> bytes:
    """The URL signing secret, made once per data folder and kept there (mode 0600)."""
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(os.urandom(32))
    return path.read_bytes()


def _in_process(app: Any, base: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base)


async def open_devices(
    runtime: Any, data: Path, *, catalog: Any = None, public_url: str = "", cdn_url: str = ""
) -> DeviceSide:
    """Build the device side on ``runtime``. ``cdn_url`` empty: downloads go straight to
    this service's origin (``public_url``); the caching CDN fake is used by experiments."""
    catalog = catalog or runtime.catalog
    if catalog is None:
        catalog = mitigate.Catalog.load(runtime.settings.catalog, clock=runtime.clock)
    threshold, window = tamper_settings(catalog)
    push = FakePushProvider()
    ai = FakeAiGateway(runtime.clock)
    origin = public_url.rstrip("/")
    side = DeviceSide(
        clock=runtime.clock,
        policy=runtime.policy,
        ring=runtime.keyring,
        url_signer=mitigate.UrlSigner(
            _url_secret(data / "content-url-secret"), clock=runtime.clock
        ),
        ports=Ports(
            kms=LocalKms(),
            push=PushClient(_in_process(push.app, "http://push.fake")),
            ai=AssistantConfigClient(_in_process(ai.app, "http://ai.fake")),
            cdn=httpx.AsyncClient(base_url=cdn_url) if cdn_url else None,
            cdn_base=cdn_url.rstrip("/") or origin,
            origin_base=origin,
        ),
        objects_root=data / "content-bundles",
        tamper_threshold=threshold,
        tamper_window=window,
        observers=runtime.observers,
        report=catalog.report,
        switches=runtime.switches,
        state=await SqlState(runtime.store).setup(),
        ops_token=getattr(runtime.settings, "ops_token", None),
    )
    await side.restore()
    for fallback_id, handler in side.fallback_handlers().items():
        catalog.provide(fallback_id, handler)
    side.fakes = (push, ai)  # type: ignore[attr-defined]
    return side


def attach_devices(app: FastAPI, side: DeviceSide | None) -> None:
    """Give the device routers their use cases and mount the origin at /objects."""
    if side is None:
        return
    app.state.devices = side
    origin = SignedObjectApp(
        side.url_signer, LocalObjects(side.objects_root), observers=list(side.observers)
    )
    app.mount("/objects", origin)
