"""The change gate command against the comms app: adapter changes refused (exit 1) while
the error-budget freeze is set, allowed (exit 0) otherwise and for other paths."""

from __future__ import annotations

from pathlib import Path

import httpx
from services.comms.gate import ask
from services.comms.service import open_comms
from services.comms.settings import CommsSettings
from services.kit.runtime import Runtime

import mitigate

ADAPTER = ["services/comms/adapters/sms.py"]
DOCS = ["services/comms/README.md"]


async def test_gate_follows_the_freeze_flag(tmp_path: Path) -> None:
    clock = mitigate.VirtualClock()
    settings = CommsSettings(data_dir=tmp_path, store=f"sqlite:///{tmp_path / 'c.db'}")
    runtime = await Runtime.open(settings.resolved(), clock=clock)  # type: ignore[arg-type]
    comms = await open_comms(settings, runtime=runtime)
    transport = httpx.ASGITransport(app=comms.app)
    ops = {"x-ops-token": settings.ops_token}
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://comms.test", headers=ops
        ) as client:
            assert (await ask(client, ADAPTER))[0] == 0
            # 3 % failed this week: 3 % / (1 % x 30 / 7) = 70 % of the 30-day budget
            await client.post("/ops/sli", json={"slo": "dispatch-success", "good": 97, "bad": 3})
            code, message = await ask(client, [*DOCS, *ADAPTER])
            assert code == 1 and "adapters/sms.py" in message, message
            assert (await ask(client, DOCS))[0] == 0
            await clock.aadvance(8 * 86400.0)  # the window moves past the burn
            await client.post("/ops/sli", json={"slo": "dispatch-success", "good": 100, "bad": 0})
            assert (await ask(client, ADAPTER))[0] == 0
    finally:
        await comms.aclose()
