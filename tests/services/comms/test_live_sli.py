"""The error budget is fed by the service's own dispatches (comms.budget.1): each SMS
that ends ``sent`` counts as a good dispatch-success sample and, sent within the 60 s
objective, a good send-latency sample; the counts reach the budget as a batch."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
from services.comms.experiments.fm_5 import reminder
from services.comms.service import open_comms
from services.comms.settings import CommsSettings
from services.comms.workers import running

OPS = {"x-ops-token": "local-operator"}


async def _scenario(root: Path) -> dict[str, Any]:
    comms = await open_comms(CommsSettings(data_dir=root, poll=0.05, sli_flush_every=0.2))
    http = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=comms.app),
        base_url="http://comms.test",
        headers={"x-tenant-id": "clinic-a"},
    )
    try:
        async with running(comms):
            ids = [
                (await http.post("/v1/dispatches", json=reminder(n))).json()["id"] for n in range(3)
            ]
            budget: dict[str, Any] = {}
            for _ in range(100):  # until sent and flushed (real seconds, bounded)
                budget = (await http.get("/ops/budget", headers=OPS)).json()
                if budget["samples"]["dispatch-success"]["good"] >= len(ids):
                    break
                await asyncio.sleep(0.1)
            states = {(await http.get(f"/v1/dispatches/{i}")).json()["state"] for i in ids}
        return {"budget": budget, "states": states}
    finally:
        await http.aclose()
        await comms.aclose()


def test_sent_dispatches_feed_both_slos(tmp_path: Path) -> None:
    result = asyncio.run(_scenario(tmp_path))
    assert result["states"] == {"sent"}
    samples = result["budget"]["samples"]
    assert samples["dispatch-success"] == {"good": 3, "bad": 0}, samples
    assert samples["send-latency"] == {"good": 3, "bad": 0}, samples
    assert result["budget"]["burn"]["dispatch-success"] == 0.0
    assert result["budget"]["frozen"] is False
