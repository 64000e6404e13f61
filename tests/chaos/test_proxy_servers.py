"""The TCP fault proxy takes real PostgreSQL, NATS and Redis connections down and back up.

These run on the real clock against the real servers (skipped with a reason when a server
is absent, failed under CI=true).
"""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from mitigate.chaos import FaultProxy
from tests.conftest import require_nats, require_postgres, require_redis

pytestmark = pytest.mark.integration


async def test_postgres_connection_down_and_back_up() -> None:
    import psycopg

    dsn = require_postgres()
    async with FaultProxy("127.0.0.1", 5432) as proxy:
        proxied = dsn.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
        conn = await psycopg.AsyncConnection.connect(proxied, autocommit=True, connect_timeout=3)
        assert await (await conn.execute("select 41 + 1")).fetchone() == (42,)

        await proxy.down()
        with pytest.raises(psycopg.OperationalError):
            await conn.execute("select 1")
        with pytest.raises(psycopg.OperationalError):
            await psycopg.AsyncConnection.connect(proxied, connect_timeout=2)
        await conn.close()

        await proxy.up()
        conn = await psycopg.AsyncConnection.connect(proxied, autocommit=True, connect_timeout=3)
        assert await (await conn.execute("select 'back'")).fetchone() == ("back",)

        # Latency on the link shows up in the query time, and goes when cleared.
        proxy.latency(0.2, direction="downstream")
        started = time.perf_counter()
        await conn.execute("select 1")
        assert time.perf_counter() - started >= 0.2
        proxy.clear()
        started = time.perf_counter()
        await conn.execute("select 1")
        assert time.perf_counter() - started < 0.2
        await conn.close()


async def test_nats_connection_down_and_back_up() -> None:
    import nats

    url = require_nats()
    port = int(url.rsplit(":", 1)[1])
    subject = f"mitigate.test.proxy.{uuid.uuid4().hex}"
    async with FaultProxy("127.0.0.1", port) as proxy:
        disconnected = asyncio.Event()
        reconnected = asyncio.Event()

        async def on_disconnect() -> None:
            disconnected.set()

        async def on_reconnect() -> None:
            reconnected.set()

        nc = await nats.connect(
            f"nats://127.0.0.1:{proxy.port}",
            reconnect_time_wait=0.1,
            max_reconnect_attempts=-1,
            disconnected_cb=on_disconnect,
            reconnected_cb=on_reconnect,
            allow_reconnect=True,
        )
        got: list[bytes] = []
        both = asyncio.Event()

        async def handler(msg: object) -> None:
            got.append(msg.data)  # type: ignore[attr-defined]
            if len(got) == 2:
                both.set()

        await nc.subscribe(subject, cb=handler)
        await nc.publish(subject, b"before")
        await nc.flush(timeout=2)

        await proxy.down()
        async with asyncio.timeout(5):
            await disconnected.wait()
        assert not nc.is_connected

        await proxy.up()
        async with asyncio.timeout(10):
            await reconnected.wait()
        await nc.publish(subject, b"after")
        await nc.flush(timeout=2)
        async with asyncio.timeout(2):
            await both.wait()
        assert got == [b"before", b"after"]
        await nc.close()


async def test_redis_connection_reset_then_recovers() -> None:
    import redis.asyncio as aioredis
    from redis.exceptions import ConnectionError as RedisConnectionError

    require_redis()
    key = f"mitigate:test:proxy:{uuid.uuid4().hex}"
    async with FaultProxy("127.0.0.1", 6379) as proxy:
        client = aioredis.Redis(host="127.0.0.1", port=proxy.port, socket_timeout=1, retry=None)
        await client.set(key, "v1")
        proxy.reset_connections(new_ones_too=True)
        with pytest.raises(RedisConnectionError):
            await client.get(key)
        proxy.clear()
        assert await client.get(key) == b"v1"
        await client.delete(key)
        await client.aclose()


async def test_nats_messages_dropped_whole_by_the_framing_proxy() -> None:
    """With NATS framing the proxy drops whole messages, never a torn one: the connection
    stays healthy, the subscriber gets exactly the messages that were let through, and
    each drop is reported."""
    import random

    import nats
    from nats.aio.msg import Msg

    from mitigate.chaos import NatsFrame, NatsFrames

    url = require_nats()
    host, port = url.removeprefix("nats://").split(":")
    drops: list[tuple[str, NatsFrame]] = []
    proxy = FaultProxy(
        host,
        int(port),
        frames=NatsFrames,
        random=random.Random(7).random,
        on_drop=lambda way, frame: drops.append((way, frame)),
    )
    subject = f"drops.{uuid.uuid4().hex[:8]}"
    async with proxy:
        client = await nats.connect(f"nats://127.0.0.1:{proxy.port}")
        got: list[bytes] = []

        async def collect(msg: Msg) -> None:
            got.append(msg.data)

        sub = await client.subscribe(subject, cb=collect)
        await client.flush()
        proxy.drop_messages(0.3, direction="downstream", match=lambda f: f.op == "MSG")
        for n in range(200):  # payloads with CRLF inside: framing must count bytes
            await client.publish(subject, b"m%03d\r\nPUB x 1\r\n" % n)
        await client.flush()
        await asyncio.sleep(0.3)
        proxy.clear()
        await client.publish(subject, b"after")
        await client.flush()
        await asyncio.sleep(0.2)
        assert client.is_connected  # no torn frame: the protocol never broke
        await sub.unsubscribe()
        await client.close()
    assert 30 <= len(drops) <= 90, len(drops)
    assert all(way == "downstream" and f.op == "MSG" for way, f in drops)
    assert len(got) == 200 - len(drops) + 1 and got[-1] == b"after"
    assert proxy.dropped == {"upstream": 0, "downstream": len(drops)}
