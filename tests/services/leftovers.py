"""Leave the shared servers as found: a test that ran a service on them drops its schema
and its stream (each test's names are unique)."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import nats
import psycopg
from tests.conftest import NATS_URL, POSTGRES_DSN


async def stream_messages(stream: str) -> list[tuple[str | None, dict[str, Any]]]:
    """(message id, JSON body) of every message on ``stream``, in stream order."""
    nc = await nats.connect(NATS_URL)
    try:
        js = nc.jetstream()
        info = await js.stream_info(stream)
        found = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            msg = await js.get_msg(stream, seq)
            found.append(((msg.headers or {}).get("Nats-Msg-Id"), json.loads(msg.data or b"{}")))
        return found
    finally:
        await nc.close()


async def drop_schema_and_stream(schema: str, stream: str) -> None:
    async with await psycopg.AsyncConnection.connect(POSTGRES_DSN, autocommit=True) as conn:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    nc = await nats.connect(NATS_URL)
    try:
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await nc.jetstream().delete_stream(stream)
    finally:
        await nc.close()
