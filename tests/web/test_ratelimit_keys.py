"""The in-process rate limiter bounds its table even when every key is live (a flood of
fresh tokens or addresses inside one window), so it cannot be grown without end."""

from __future__ import annotations

import pytest

from mitigate.clock import VirtualClock
from mitigate.policy.ratelimit import RateLimit


@pytest.mark.parametrize("algorithm", ["gcra", "sliding_window"])
def test_a_flood_of_live_keys_is_capped_by_default(algorithm: str) -> None:
    limiter = RateLimit(60, per=60, algorithm=algorithm).limiter(VirtualClock())
    for i in range(150_000):  # all inside one instant: none has recovered
        assert limiter.try_acquire(f"token:{i}").allowed
    assert len(limiter) <= 100_000


@pytest.mark.parametrize("algorithm", ["gcra", "sliding_window"])
def test_the_busiest_recent_key_keeps_its_limit_through_evictions(algorithm: str) -> None:
    clock = VirtualClock()
    burst = {"burst": 2} if algorithm == "gcra" else {}
    limit = RateLimit(2, per=60, algorithm=algorithm, **burst)  # type: ignore[arg-type]
    limiter = limit.limiter(clock, max_keys=2_000)
    for _ in range(2):
        assert limiter.try_acquire("victim").allowed
    assert not limiter.try_acquire("victim").allowed
    for i in range(10_000):
        clock.advance(0.001)
        limiter.try_acquire(f"flood:{i}")
        if i % 500 == 0:  # the limited key keeps knocking, so it stays recent
            assert not limiter.try_acquire("victim").allowed
    assert len(limiter) <= 2_000
    assert not limiter.try_acquire("victim").allowed


def test_max_keys_is_checked() -> None:
    from mitigate.errors import ConfigError

    with pytest.raises(ConfigError, match="max_keys"):
        RateLimit(1, per=1).limiter(VirtualClock(), max_keys=0)
