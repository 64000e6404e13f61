"""The TCP fault proxy against a local echo server: each condition, then its removal."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from mitigate import ConfigError
from mitigate.chaos import FaultProxy


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


@pytest.fixture
async def proxy() -> AsyncIterator[FaultProxy]:
    server = await asyncio.start_server(_echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with FaultProxy("127.0.0.1", port, random=lambda: 1.0) as p:
        yield p
    server.close()


async def _roundtrip(proxy: FaultProxy, payload: bytes = b"hello", wait: float = 2.0) -> bytes:
    reader, writer = await asyncio.open_connection(*proxy.address)
    try:
        writer.write(payload)
        await writer.drain()
        got = b""
        async with asyncio.timeout(wait):
            while len(got) < len(payload):
                chunk = await reader.read(65536)
                if not chunk:
                    break
                got += chunk
        return got
    finally:
        writer.close()


async def test_clean_proxy_forwards_bytes(proxy: FaultProxy) -> None:
    assert await _roundtrip(proxy, b"x" * 200_000) == b"x" * 200_000
    assert proxy.bytes["upstream"] == 200_000


async def test_down_refuses_then_up_serves_again(proxy: FaultProxy) -> None:
    port = proxy.port
    await proxy.down()
    with pytest.raises(OSError):
        await _roundtrip(proxy)
    await proxy.up()
    assert proxy.port == port
    assert await _roundtrip(proxy) == b"hello"


async def test_down_resets_open_connections(proxy: FaultProxy) -> None:
    reader, writer = await asyncio.open_connection(*proxy.address)
    writer.write(b"a")
    await writer.drain()
    assert await reader.read(10) == b"a"
    async with proxy.outage():
        assert proxy.connections == 0
        with pytest.raises(ConnectionError):
            data = await reader.read(10)
            if not data:  # some kernels report the RST as end of stream
                raise ConnectionResetError
    writer.close()
    assert await _roundtrip(proxy) == b"hello"


async def test_latency_with_jitter_delays_then_removed(proxy: FaultProxy) -> None:
    proxy.latency(0.1, jitter=0.05, direction="downstream")  # random()=1.0: +0.05
    started = time.perf_counter()
    assert await _roundtrip(proxy) == b"hello"
    assert time.perf_counter() - started >= 0.15
    proxy.clear()
    started = time.perf_counter()
    assert await _roundtrip(proxy) == b"hello"
    assert time.perf_counter() - started < 0.1


async def test_bandwidth_limits_throughput(proxy: FaultProxy) -> None:
    proxy.bandwidth(100_000, direction="upstream")
    started = time.perf_counter()
    assert await _roundtrip(proxy, b"y" * 30_000) == b"y" * 30_000
    assert time.perf_counter() - started >= 0.28


async def test_slicing_splits_writes(proxy: FaultProxy) -> None:
    proxy.slicing(3, delay=0.01, direction="downstream")
    reader, writer = await asyncio.open_connection(*proxy.address)
    writer.write(b"abcdefghij")
    await writer.drain()
    first = await reader.read(100)
    assert first == b"abc"
    rest = b""
    while len(first + rest) < 10:
        rest += await reader.read(100)
    assert first + rest == b"abcdefghij"
    writer.close()


async def test_cut_after_closes_connection_after_n_bytes(proxy: FaultProxy) -> None:
    proxy.cut_after(4, direction="downstream")
    reader, writer = await asyncio.open_connection(*proxy.address)
    writer.write(b"0123456789")
    await writer.drain()
    got = b""
    with pytest.raises(ConnectionError):
        while True:
            chunk = await reader.read(100)
            if not chunk:
                raise ConnectionResetError
            got += chunk
    assert got == b"0123"
    writer.close()
    proxy.clear()
    assert await _roundtrip(proxy, b"0123456789") == b"0123456789"


async def test_reset_resets_new_connections_until_cleared(proxy: FaultProxy) -> None:
    proxy.reset_connections(new_ones_too=True)
    with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
        reader, writer = await asyncio.open_connection(*proxy.address)
        writer.write(b"x")
        await writer.drain()
        if not await reader.read(10):
            raise ConnectionResetError
    proxy.clear()
    assert await _roundtrip(proxy) == b"hello"


async def test_blackhole_times_out_then_cleared(proxy: FaultProxy) -> None:
    proxy.blackhole()
    with pytest.raises(TimeoutError):
        await _roundtrip(proxy, wait=0.2)
    proxy.clear()
    assert await _roundtrip(proxy) == b"hello"


def test_bad_settings_are_config_errors() -> None:
    proxy = FaultProxy("127.0.0.1", 1)
    with pytest.raises(ConfigError, match=r"MITIGATE\.CONFIG\.PROXY"):
        proxy.latency(-1)
    with pytest.raises(ConfigError, match="direction"):
        proxy.blackhole(direction="sideways")  # type: ignore[arg-type]
