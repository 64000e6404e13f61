"""Redis rate limiters (Lua): exact sliding window and GCRA, shared across processes."""

from __future__ import annotations

import pytest

from mitigate.clock import VirtualClock
from mitigate.errors import ConfigError
from mitigate.guard.redis_limits import RedisRateLimiter
from mitigate.policy.ratelimit import RateLimit

pytestmark = pytest.mark.integration


async def test_sliding_window_61st_in_a_minute_is_refused(redis_client) -> None:
    clock = VirtualClock(autojump=False)
    limiter = RedisRateLimiter(
        redis_client, rate=60, per=60, prefix=redis_client.test_prefix, clock=clock
    )
    for _ in range(60):
        assert (await limiter.try_acquire("token:a")).allowed
        clock.advance(0.5)
    refused = await limiter.try_acquire("token:a")
    assert not refused.allowed
    assert refused.retry_after == pytest.approx(30.0)  # the first stamp leaves the window
    assert (await limiter.try_acquire("token:b")).allowed  # keys are independent
    clock.advance(30)
    assert (await limiter.try_acquire("token:a")).allowed


async def test_agrees_with_the_in_process_sliding_window(redis_client) -> None:
    clock = VirtualClock(autojump=False)
    redis_limiter = RedisRateLimiter(
        redis_client, rate=5, per=10, prefix=redis_client.test_prefix, clock=clock
    )
    local = RateLimit(5, per=10, algorithm="sliding_window").limiter(clock)
    pattern = [0.0, 0.0, 1.0, 2.5, 0.1, 0.1, 3.0, 4.0, 0.0, 9.9, 0.1, 0.0, 5.0, 5.0, 0.05]
    for step in pattern * 3:
        clock.advance(step)
        ours, theirs = await redis_limiter.try_acquire("k"), local.try_acquire("k")
        assert ours.allowed == theirs.allowed
        assert ours.retry_after == pytest.approx(theirs.retry_after, abs=1e-6)


async def test_two_processes_share_one_budget(redis_client) -> None:
    clock = VirtualClock(autojump=False)
    a, b = (
        RedisRateLimiter(
            redis_client, rate=600, per=60, prefix=redis_client.test_prefix, clock=clock
        )
        for _ in range(2)
    )
    allowed = 0
    for i in range(700):
        allowed += (await (a if i % 2 else b).try_acquire("tenant:acme")).allowed
    assert allowed == 600


async def test_gcra_spaces_permits_with_a_burst(redis_client) -> None:
    clock = VirtualClock(autojump=False)
    limiter = RedisRateLimiter(
        redis_client,
        rate=10,
        per=1,
        burst=3,
        algorithm="gcra",
        prefix=redis_client.test_prefix,
        clock=clock,
    )
    results = [(await limiter.try_acquire("k")).allowed for _ in range(4)]
    assert results == [True, True, True, False]
    refused = await limiter.try_acquire("k")
    assert refused.retry_after == pytest.approx(0.1)
    clock.advance(0.1)
    assert (await limiter.try_acquire("k")).allowed
    assert not (await limiter.try_acquire("k")).allowed


@pytest.mark.parametrize("kw", [{"rate": 0}, {"per": 0}, {"algorithm": "leaky"}, {"burst": 2}])
async def test_bad_settings_fail_at_configuration(redis_client, kw) -> None:
    args = {"rate": 10, "per": 1.0, **kw}
    with pytest.raises(ConfigError):
        RedisRateLimiter(redis_client, **args)
