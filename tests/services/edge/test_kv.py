"""KV over the real Redis: values round-trip, a write becomes visible per location after
its propagation delay (never later than the bound), and with Redis unreachable a read is a
miss served from the source while a write is counted as failed."""

from __future__ import annotations

import uuid
from typing import Any

from prometheus_client import CollectorRegistry
from services.edge.kv import Kv, open_redis
from services.kit.runtime import AllOn
from tests.conftest import require_redis

import mitigate


class _Runtime:
    """Only what Kv uses: clock, policies (pass-through), switches, observers."""

    def __init__(self) -> None:
        self.clock = mitigate.VirtualClock()
        self.switches = AllOn()
        self.events: list[Any] = []
        self.policy = lambda name: mitigate.Pipeline(name, clock=self.clock)

    def emit(self, event: Any) -> None:
        self.events.append(event)


def _kv(url: str) -> tuple[Kv, _Runtime]:
    rt = _Runtime()
    kv = Kv(
        rt,
        open_redis(url),
        prefix=f"edge:test:{uuid.uuid4().hex[:8]}:",
        delays={"origin": 0.0, "us": 45.0, "ap": 60.0},
        registry=CollectorRegistry(),
    )
    return kv, rt


async def _source() -> str:
    return "from-source"


async def test_propagation_is_bounded_per_location() -> None:
    kv, rt = _kv(require_redis())
    try:
        assert await kv.put("flag", "v1")
        rt.clock.advance(61)
        assert await kv.put("flag", "v2", previous="v1")
        assert await kv.get("flag", _source, location="origin") == ("v2", "kv")
        assert await kv.get("flag", _source, location="us") == ("v1", "kv")
        rt.clock.advance(45)
        assert await kv.get("flag", _source, location="us") == ("v2", "kv")
        assert await kv.get("flag", _source, location="ap") == ("v1", "kv")
        rt.clock.advance(15)
        assert await kv.get("flag", _source, location="elsewhere") == ("v2", "kv")
        assert await kv.get("missing", _source) == ("from-source", "source")
    finally:
        await kv.aclose()


async def test_unreachable_redis_is_a_miss_and_a_counted_write_failure() -> None:
    kv, rt = _kv("redis://127.0.0.1:1/0")  # nothing listens on port 1
    try:
        assert await kv.get("flag", _source) == ("from-source", "source")
        assert not await kv.put("flag", "v1")
        names = [e.name for e in rt.events]
        assert names == ["edge.kv.read_failed", "edge.kv.write_failed"]
    finally:
        await kv.aclose()
