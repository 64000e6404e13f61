"""Helpers shared by the messaging tests (bus, outbox, inbox, DLQ)."""

from __future__ import annotations

from collections import defaultdict

from mitigate.durable.store import Store


async def bus_log(store: Store, stream: str = "default") -> list[tuple[str, str | None]]:
    """(msg_id, key) of every message the embedded bus stored, in stream order."""
    rows = await store.fetch(
        "SELECT msg_id, msg_key FROM mitigate_bus_messages WHERE stream = ? ORDER BY seq",
        (stream,),
    )
    return [(r[0], r[1]) for r in rows]


def order_by_key(log: list[tuple[str, str | None]]) -> dict[str | None, list[str]]:
    """Message ids grouped by key, keeping the log's order."""
    out: dict[str | None, list[str]] = defaultdict(list)
    for msg_id, key in log:
        out[key].append(msg_id)
    return dict(out)
