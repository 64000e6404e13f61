"""comms.fm.6 on real servers: the service's link to NATS JetStream is black-holed by
mitigate's TCP fault proxy (real clock) while dispatches keep being sent.

Dispatches are accepted and sent all along; their ``comms.dispatch.state.v1`` events wait
in the outbox (on PostgreSQL); the lag rule alerts once the oldest has waited over 30 s.
When the link heals the relay publishes them: on the stream each dispatch's events are
there once (by message id), in order, and the outbox is empty."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

import httpx
from services.comms.outbox_events import DISPATCH_STATE
from services.comms.service import open_comms
from services.comms.settings import CommsSettings
from services.comms.workers import running
from services.kit.runtime import Runtime
from tests.conftest import require_nats, require_postgres
from tests.services.leftovers import drop_schema_and_stream, stream_messages

import mitigate
from mitigate.chaos import FaultProxy

TENANT = {"x-tenant-id": "clinic-a"}
RULE = "comms.rule.outbox-lag"
PARTITION = 36.0  # seconds: past the rule's 30 s, so the oldest row's age crosses it


def _reminder(n: int) -> dict[str, Any]:
    return {
        "category": "reminders",
        "channel": "sms",
        "template": "appointment-reminder",
        "to": f"+1555999{n:04d}",
        "vars": {"when": "Monday 10:00"},
    }


async def _partition(root: Path) -> dict[str, Any]:
    proxy = await FaultProxy("127.0.0.1", 4222).start()
    unique = f"x{uuid.uuid4().hex[:10]}"
    settings = CommsSettings(
        data_dir=root,
        poll=0.2,
        store_owner="postgresql://postgres@127.0.0.1:5432/postgres",
        store="postgresql://comms_app@127.0.0.1:5432/postgres",
        schema_name=f"comms_{unique}",
        bus=f"nats://127.0.0.1:{proxy.port}",
        stream=f"COMMS_{unique.upper()}",
        subject_prefix=f"{unique}.",
    )
    recorder = mitigate.Recorder()
    runtime = await Runtime.open(settings, observers=[recorder])
    comms = await open_comms(settings, runtime=runtime)
    assert comms.events is not None
    http = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=comms.app),
        base_url="http://comms.test",
        headers=TENANT,
        timeout=30,
    )
    loop = asyncio.get_running_loop()  # real seconds, for the test's own pacing
    try:
        async with running(comms):
            proxy.blackhole()
            cut_at = loop.time()
            ids, states = [], []
            while loop.time() - cut_at < PARTITION:
                made = await http.post("/v1/dispatches", json=_reminder(len(ids)))
                assert made.status_code == 202, made.text
                ids.append(made.json()["id"])
                await asyncio.sleep(6.0)
            for dispatch in ids:
                states.append((await http.get(f"/v1/dispatches/{dispatch}")).json()["state"])
            pending_in_partition = (await comms.events.outbox.counts()).get("pending", 0)
            alerted = [e for e in recorder.named("alert.raised") if getattr(e, "rule", "") == RULE]
            proxy.clear()  # the link heals
            healed_at = loop.time()
            counts: dict[str, int] = {}
            while loop.time() - healed_at < 90:
                counts = await comms.events.outbox.counts()
                if counts.get("pending", 0) == 0:
                    break
                await asyncio.sleep(0.5)
            drained_in = loop.time() - healed_at
        return {
            "ids": ids,
            "states": states,
            "pending_in_partition": pending_in_partition,
            "alerted": alerted,
            "counts": counts,
            "drained_in": drained_in,
            "events": await stream_messages(settings.stream),
            "subject": settings.subject(DISPATCH_STATE),
        }
    finally:
        await http.aclose()
        await comms.aclose()
        await proxy.stop()
        await drop_schema_and_stream(settings.schema_name, settings.stream)


def test_the_outbox_holds_events_through_a_nats_partition_and_publishes_each_once() -> None:
    require_postgres()
    require_nats()
    root = Path(tempfile.mkdtemp(prefix="comms-partition-"))
    try:
        result = asyncio.run(_partition(root))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    ids = result["ids"]
    assert len(ids) >= 6
    assert set(result["states"]) == {"sent"}, "dispatches are sent while the bus is away"
    assert result["pending_in_partition"] >= len(ids), "their events wait in the outbox"
    assert result["alerted"], "the lag rule alerted past 30 s"
    assert all(a.value > 30 for a in result["alerted"]), [a.value for a in result["alerted"]]
    assert result["counts"].get("pending", 0) == 0, result["counts"]
    events = result["events"]
    message_ids = [mid for mid, _ in events]
    assert len(message_ids) == len(set(message_ids)), "each event published once (by id)"
    per_dispatch = {i: [body["state"] for _, body in events if body["dispatch"] == i] for i in ids}
    assert per_dispatch == {i: ["sent"] for i in ids}, per_dispatch
