"""What tests that run a service on the real servers share: a scenario run in a folder of
its own, the messages of a stream, and leaving the shared servers as found (each test
drops its own schema and stream; their names are unique)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import nats
import psycopg
from tests.conftest import NATS_URL, POSTGRES_DSN

T = TypeVar("T")


def run_in_folder(prefix: str, scenario: Callable[[Path], Awaitable[T]]) -> T:
    """``asyncio.run(scenario(folder))`` in a temporary folder, removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        return asyncio.run(scenario(root))  # type: ignore[arg-type]
    finally:
        shutil.rmtree(root, ignore_errors=True)


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


async def drop_schema_and_stream(
    schema: str, stream: str, *, postgres: bool = True, jetstream: bool = True
) -> None:
    """Drop what a run left on the real servers: its PostgreSQL schema, its stream."""
    if postgres:
        async with await psycopg.AsyncConnection.connect(POSTGRES_DSN, autocommit=True) as conn:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    if not jetstream:
        return
    nc = await nats.connect(NATS_URL)
    try:
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await nc.jetstream().delete_stream(stream)
    finally:
        await nc.close()
