"""What the comms tests on real servers share: a reminder body, the service opened on
given settings with a recorder and an HTTP client."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
from services.comms.experiments.fm_5 import reminder
from services.comms.service import Comms, open_comms
from services.comms.settings import CommsSettings
from services.comms.workers import running
from services.kit.runtime import Runtime

import mitigate

__all__ = ["Served", "alerts", "reminder", "serving"]

TENANT = {"x-tenant-id": "clinic-a"}


def alerts(recorder: mitigate.Recorder, rule: str) -> list[Any]:
    return [e for e in recorder.named("alert.raised") if getattr(e, "rule", "") == rule]


@dataclass
class Served:
    comms: Comms
    recorder: mitigate.Recorder
    http: httpx.AsyncClient


@contextlib.asynccontextmanager
async def serving(settings: CommsSettings) -> AsyncIterator[Served]:
    """The service on ``settings`` with its workers running, on the real clock."""
    recorder = mitigate.Recorder()
    runtime = await Runtime.open(settings, observers=[recorder])
    comms = await open_comms(settings, runtime=runtime)
    http = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=comms.app),
        base_url="http://comms.test",
        headers=TENANT,
        timeout=30,
    )
    try:
        async with running(comms):
            yield Served(comms, recorder, http)
    finally:
        await http.aclose()
        await comms.aclose()
