"""Auto-block after N failures in a window (theme.fm.2.13), in process and in Redis."""

from __future__ import annotations

import pytest

from mitigate.clock import VirtualClock
from mitigate.errors import ConfigError
from mitigate.guard.blocklist import IpBlocker
from mitigate.guard.redis_limits import RedisIpBlocker
from mitigate.observe.events import IpBlocked
from mitigate.observe.observers import Recorder


@pytest.fixture(params=["memory", "redis"])
async def make(request, redis_client):  # type: ignore[no-untyped-def]
    def build(clock: VirtualClock, recorder: Recorder, **kw):  # type: ignore[no-untyped-def]
        if request.param == "memory":
            return IpBlocker(clock=clock, observers=[recorder], **kw)
        return RedisIpBlocker(
            redis_client, prefix=redis_client.test_prefix, clock=clock, observers=[recorder], **kw
        )

    return build


async def test_100_failures_in_a_minute_block_and_99_do_not(make) -> None:
    clock = VirtualClock(autojump=False)
    recorder = Recorder()
    blocker = make(clock, recorder, threshold=100, window=60, block_for=900)
    for _ in range(99):
        assert not await blocker.arecord_failure("198.51.100.1")
        assert not await blocker.arecord_failure("198.51.100.2")
        clock.advance(0.5)
    assert await blocker.ablocked_for("198.51.100.1") is None
    assert await blocker.arecord_failure("198.51.100.1")  # the 100th, 49.5 s after the first
    assert await blocker.ablocked_for("198.51.100.1") == pytest.approx(900)
    assert await blocker.ablocked_for("198.51.100.2") is None  # 99: not blocked
    [event] = recorder.of(IpBlocked)
    assert (event.ip, event.failures, event.window, event.duration) == (
        "198.51.100.1",
        100,
        60.0,
        900.0,
    )
    clock.advance(899)
    assert await blocker.ablocked_for("198.51.100.1") == pytest.approx(1)
    clock.advance(1)
    assert await blocker.ablocked_for("198.51.100.1") is None


async def test_failures_spread_over_more_than_the_window_never_block(make) -> None:
    clock = VirtualClock(autojump=False)
    blocker = make(clock, Recorder(), threshold=10, window=60, block_for=60)
    for _ in range(100):
        assert not await blocker.arecord_failure("203.0.113.5")
        clock.advance(6.7)  # any 10 consecutive failures span 60.3 s
    assert await blocker.ablocked_for("203.0.113.5") is None


async def test_blocked_addresses_do_not_count_more_failures(make) -> None:
    clock = VirtualClock(autojump=False)
    recorder = Recorder()
    blocker = make(clock, recorder, threshold=2, window=60, block_for=60)
    await blocker.arecord_failure("192.0.2.9")
    assert await blocker.arecord_failure("192.0.2.9")
    for _ in range(5):
        assert not await blocker.arecord_failure("192.0.2.9")
    assert len(recorder.of(IpBlocked)) == 1


def test_memory_is_bounded_by_max_tracked() -> None:
    blocker = IpBlocker(threshold=5, block_for=60, max_tracked=100, clock=VirtualClock())
    for i in range(10_000):
        blocker.record_failure(f"10.0.{i // 256}.{i % 256}")
    assert len(blocker._failures) <= 100
    assert blocker.failures("10.0.39.15") == 1  # the most recent ones are kept


@pytest.mark.parametrize(
    "kw", [{"threshold": 0}, {"threshold": 1.5}, {"window": 0}, {"block_for": -1}]
)
def test_bad_settings_fail_at_configuration(kw: dict[str, object]) -> None:
    args: dict[str, object] = {"block_for": 60, **kw}
    with pytest.raises(ConfigError):
        IpBlocker(**args)  # type: ignore[arg-type]


def test_require_not_blocked_raises_with_retry_after() -> None:
    from mitigate.guard.errors import IpBlockedError

    clock = VirtualClock()
    blocker = IpBlocker(threshold=1, block_for=30, clock=clock)
    blocker.require_not_blocked("192.0.2.1")
    blocker.record_failure("192.0.2.1")
    with pytest.raises(IpBlockedError) as info:
        blocker.require_not_blocked("192.0.2.1")
    assert info.value.code == "MITIGATE.RATELIMIT.IP_BLOCKED"
    assert info.value.retry_after == 30
