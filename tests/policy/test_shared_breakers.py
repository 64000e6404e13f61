"""Breakers shared through the real Redis: once worker A's breaker on a dependency opens,
worker B's fails fast without calling it, and a worker that starts late adopts the
opening for what is left of it. The last test runs B as a separate process."""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio as aioredis

from mitigate import BreakerOpenError
from mitigate.chaos import FaultProxy
from mitigate.observe.observers import Recorder
from mitigate.policy.breaker import Breaker
from mitigate.policy.pipeline import Pipeline
from mitigate.policy.shared import PEER_REASON, SharedBreakers
from tests.conftest import require_redis

pytestmark = pytest.mark.integration


@pytest.fixture
async def namespace() -> AsyncIterator[str]:
    name = f"t{uuid.uuid4().hex[:10]}"
    yield name
    client = aioredis.from_url(require_redis())
    await client.delete(f"mitigate:breakers:{name}:kms.sign")
    await client.aclose()


async def _worker(namespace: str, origin: str) -> tuple[Pipeline, SharedBreakers, Recorder]:
    """One worker's KMS pipeline (10 failures in 30 s trip it, 60 s reset), sharing."""
    recorder = Recorder()
    shared = SharedBreakers(aioredis.from_url(require_redis()), namespace=namespace, origin=origin)
    kms = Pipeline("kms.sign", Breaker(10, 30, 60), observers=[recorder])
    shared.watch(kms)
    await shared.start()
    return kms, shared, recorder


async def _until(check: Callable[[], bool], seconds: float = 3.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "not within time"
        await asyncio.sleep(0.02)


async def _down() -> None:
    raise ConnectionError("KMS unreachable")


async def test_a_breaker_opened_in_one_worker_opens_in_the_others(namespace: str) -> None:
    a, shared_a, _ = await _worker(namespace, "worker-a")
    b, shared_b, seen_by_b = await _worker(namespace, "worker-b")
    try:
        for _ in range(10):
            with pytest.raises(ConnectionError):
                await a.acall(_down)
        assert a.breaker().state == "open"
        await _until(lambda: b.breaker().state == "open")
        calls: list[int] = []

        async def sign() -> str:
            calls.append(1)
            return "signed"

        with pytest.raises(BreakerOpenError):
            await b.acall(sign)
        assert calls == []  # B failed fast: the key ring saw none of its calls
        (opened,) = seen_by_b.named("breaker.opened")
        assert opened.reason.startswith(PEER_REASON)
        assert 59 < b.breaker().open_for(b.clock.now()) <= 60
        assert (shared_a.announced, shared_b.adopted, shared_a.adopted) == (1, 1, 0)

        # A worker that starts while the breaker is open adopts it too.
        c, shared_c, _ = await _worker(namespace, "worker-c")
        assert c.breaker().state == "open" and shared_c.adopted == 1
        await shared_c.aclose()
    finally:
        await shared_a.aclose()
        await shared_b.aclose()


async def test_a_worker_starts_while_redis_is_away_and_adopts_once_it_is_back(
    namespace: str,
) -> None:
    """Sharing is best effort: a worker whose Redis is unreachable at start still starts;
    once Redis answers, its listener subscribes and adopts the opening it missed."""
    port = int(require_redis().rsplit(":", 1)[1].split("/")[0])
    proxy = await FaultProxy("127.0.0.1", port).start()
    a, shared_a, _ = await _worker(namespace, "worker-a")
    await proxy.down()
    late = SharedBreakers(
        aioredis.from_url(f"redis://127.0.0.1:{proxy.port}/0"), namespace=namespace, origin="b"
    )
    b = Pipeline("kms.sign", Breaker(10, 30, 60))
    late.watch(b)
    try:
        await late.start()  # Redis away: no error, the breaker on its own
        for _ in range(10):
            with pytest.raises(ConnectionError):
                await a.acall(_down)
        assert b.breaker().state == "closed"
        await proxy.up()
        await _until(lambda: b.breaker().state == "open", seconds=5.0)
        assert late.adopted == 1
    finally:
        await late.aclose()
        await shared_a.aclose()
        await proxy.stop()


async def test_without_sharing_the_other_worker_pays_its_own_trip_count(namespace: str) -> None:
    """The control: B without SharedBreakers keeps calling the dead dependency."""
    a, shared_a, _ = await _worker(namespace, "worker-a")
    b = Pipeline("kms.sign", Breaker(10, 30, 60))
    try:
        for _ in range(10):
            with pytest.raises(ConnectionError):
                await a.acall(_down)
        await asyncio.sleep(0.2)
        assert b.breaker().state == "closed"
        with pytest.raises(ConnectionError):
            await b.acall(_down)
    finally:
        await shared_a.aclose()


_PROCESS_B = """
import asyncio, sys
import redis.asyncio as aioredis
from mitigate import BreakerOpenError
from mitigate.chaos import FaultProxy
from mitigate.policy.breaker import Breaker
from mitigate.policy.pipeline import Pipeline
from mitigate.policy.shared import SharedBreakers

async def main(url, namespace):
    shared = SharedBreakers(aioredis.from_url(url), namespace=namespace, origin="process-b")
    kms = Pipeline("kms.sign", Breaker(10, 30, 60))
    shared.watch(kms)
    await shared.start()
    print("ready", flush=True)
    for _ in range(300):
        if kms.breaker().state == "open":
            break
        await asyncio.sleep(0.02)
    calls = []
    async def sign():
        calls.append(1)
    try:
        await kms.acall(sign)
        print("called", flush=True)
    except BreakerOpenError:
        print(f"fail-fast calls={len(calls)}", flush=True)
    await shared.aclose()

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


async def test_two_worker_processes_share_the_opening(namespace: str) -> None:
    url = require_redis()
    b = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _PROCESS_B, url, namespace, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert b.stdout is not None
        ready = await asyncio.wait_for(b.stdout.readline(), timeout=20)
        assert ready.decode().strip() == "ready"
        a, shared_a, _ = await _worker(namespace, "process-a")
        for _ in range(10):
            with pytest.raises(ConnectionError):
                await a.acall(_down)
        out, _ = await asyncio.wait_for(b.communicate(), timeout=20)
        await shared_a.aclose()
    finally:
        if b.returncode is None:
            b.kill()
            await b.wait()
    assert out.decode().strip() == "fail-fast calls=0"
