"""comms.fm.6 on real servers: the service's link to NATS JetStream is black-holed by
mitigate's TCP fault proxy (real clock) while dispatches keep being sent.

Dispatches are accepted and sent all along; their ``comms.dispatch.state.v1`` events wait
in the outbox (on PostgreSQL); the lag rule alerts once the oldest has waited over 30 s.
When the link heals the relay publishes them: on the stream each dispatch's events are
there once (by message id), in order, and the outbox is empty."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from services.comms.settings import CommsSettings
from tests.conftest import require_nats, require_postgres
from tests.services.comms.real import alerts, reminder, serving
from tests.services.real_servers import drop_schema_and_stream, run_in_folder, stream_messages

from mitigate.chaos import FaultProxy

RULE = "comms.rule.outbox-lag"
PARTITION = 36.0  # seconds: past the rule's 30 s, so the oldest row's age crosses it


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
    loop = asyncio.get_running_loop()  # real seconds, for the test's own pacing
    try:
        async with serving(settings) as served:
            http, outbox = served.http, served.comms.events.outbox  # type: ignore[union-attr]
            proxy.blackhole()
            cut_at = loop.time()
            ids, states = [], []
            while loop.time() - cut_at < PARTITION:
                made = await http.post("/v1/dispatches", json=reminder(len(ids)))
                assert made.status_code == 202, made.text
                ids.append(made.json()["id"])
                await asyncio.sleep(6.0)
            for dispatch in ids:
                states.append((await http.get(f"/v1/dispatches/{dispatch}")).json()["state"])
            pending_in_partition = (await outbox.counts()).get("pending", 0)
            alerted = alerts(served.recorder, RULE)
            proxy.clear()  # the link heals
            healed_at = loop.time()
            counts: dict[str, int] = {}
            while loop.time() - healed_at < 90:
                counts = await outbox.counts()
                if counts.get("pending", 0) == 0:
                    break
                await asyncio.sleep(0.5)
        return {
            "ids": ids,
            "states": states,
            "pending_in_partition": pending_in_partition,
            "alerted": alerted,
            "counts": counts,
            "events": await stream_messages(settings.stream),
        }
    finally:
        await proxy.stop()
        await drop_schema_and_stream(settings.schema_name, settings.stream)


def test_the_outbox_holds_events_through_a_nats_partition_and_publishes_each_once() -> None:
    require_postgres()
    require_nats()
    result = run_in_folder("comms-partition-", _partition)
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
