"""Rate limits: the limiter API, the three algorithms, keys, and use in a pipeline."""

from __future__ import annotations

import threading

import pytest

from mitigate import (
    ConfigError,
    Keyed,
    LimitHit,
    Permit,
    Pipeline,
    RateLimit,
    RateLimitedError,
    Recorder,
    VirtualClock,
)


def test_gcra_spaces_permits_and_says_when_the_next_one_comes() -> None:
    clock = VirtualClock()
    limiter = RateLimit(60, per=60).limiter(clock)
    assert limiter.try_acquire("token") == Permit(True, 0.0)
    denied = limiter.try_acquire("token")
    assert denied == Permit(False, 1.0)
    clock.advance(0.999)
    assert not limiter.try_acquire("token").allowed
    clock.advance(0.001)
    assert limiter.try_acquire("token").allowed


def test_burst_allows_back_to_back_permits() -> None:
    clock = VirtualClock()
    limiter = RateLimit(10, per=1, burst=5).limiter(clock)
    assert [limiter.try_acquire().allowed for _ in range(6)] == [True] * 5 + [False]
    clock.advance(0.1)
    assert limiter.try_acquire().allowed


def test_token_bucket_reads_like_gcra() -> None:
    clock = VirtualClock()
    gcra = RateLimit(10, per=1, burst=3).limiter(clock)
    bucket = RateLimit(10, per=1, burst=3, algorithm="token_bucket").limiter(clock)
    for step in (0.0, 0.0, 0.0, 0.0, 0.05, 0.05, 0.3, 0.0, 0.0, 0.0, 0.0):
        clock.advance(step)
        assert gcra.try_acquire() == bucket.try_acquire()


def test_sliding_window_allows_the_whole_rate_at_once_and_no_more() -> None:
    clock = VirtualClock()
    limiter = RateLimit(3, per=10, algorithm="sliding_window").limiter(clock)
    assert [limiter.try_acquire().allowed for _ in range(4)] == [True, True, True, False]
    clock.advance(4)
    assert limiter.try_acquire() == Permit(False, 6.0)  # the first permit leaves at 10 s
    clock.advance(6)  # all three stamps leave the window together
    assert [limiter.try_acquire().allowed for _ in range(4)] == [True, True, True, False]


def test_every_key_has_its_own_budget() -> None:
    clock = VirtualClock()
    limiter = RateLimit(1, per=1).limiter(clock)
    assert limiter.try_acquire("a").allowed
    assert limiter.try_acquire("b").allowed
    assert not limiter.try_acquire("a").allowed
    limiter.reset("a")
    assert limiter.try_acquire("a").allowed


def test_idle_keys_are_dropped_as_the_table_grows() -> None:
    clock = VirtualClock()
    limiter = RateLimit(1, per=1).limiter(clock)
    for n in range(5000):
        limiter.try_acquire(f"ip-{n}")
        clock.advance(0.01)
    assert len(limiter) < 3000  # recovered keys were pruned
    sliding = RateLimit(2, per=1, algorithm="sliding_window").limiter(clock)
    for n in range(5000):
        sliding.try_acquire(n)
        clock.advance(0.01)
    assert len(sliding) < 3000


def test_refund_gives_back_the_last_permit() -> None:
    clock = VirtualClock()
    for algorithm in ("gcra", "token_bucket", "sliding_window"):
        limiter = RateLimit(1, per=1, algorithm=algorithm).limiter(clock)  # type: ignore[arg-type]
        assert limiter.try_acquire("k").allowed
        limiter.refund("k")
        assert limiter.try_acquire("k").allowed, algorithm
        assert not limiter.try_acquire("k").allowed, algorithm


def test_options() -> None:
    with pytest.raises(ConfigError, match="rate"):
        RateLimit(0)
    with pytest.raises(ConfigError, match="burst"):
        RateLimit(1, burst=0)
    with pytest.raises(ConfigError, match="algorithm"):
        RateLimit(1, algorithm="leaky")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="drop burst"):
        RateLimit(5, algorithm="sliding_window", burst=2)
    assert RateLimit(0.5, per=1).limiter(VirtualClock()).try_acquire().allowed


def test_limiter_is_thread_safe() -> None:
    clock = VirtualClock()
    limiter = RateLimit(100, per=1, algorithm="sliding_window").limiter(clock)
    admitted = []

    def hammer() -> None:
        admitted.append(sum(limiter.try_acquire("k").allowed for _ in range(500)))

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(admitted) == 100  # time stood still: exactly the rate


def test_in_a_pipeline_per_token_and_per_tenant() -> None:
    clock, rec = VirtualClock(), Recorder()
    calls: list[str] = []
    policy = Pipeline(
        "api.request",
        Keyed(RateLimit(2, per=60, algorithm="sliding_window"), key=lambda token, tenant: token),
        Keyed(RateLimit(3, per=60, algorithm="sliding_window"), key=lambda token, tenant: tenant),
        clock=clock,
        observers=[rec],
    )

    def handle(token: str, tenant: str) -> str:
        calls.append(token)
        return "ok"

    assert policy.call(handle, "t1", "acme") == "ok"
    assert policy.call(handle, "t1", "acme") == "ok"
    with pytest.raises(RateLimitedError) as info:
        policy.call(handle, "t1", "acme")  # the token's 2/min is spent
    assert info.value.retry_after == pytest.approx(60.0)
    assert policy.call(handle, "t2", "acme") == "ok"  # tenant at 3 of 3
    with pytest.raises(RateLimitedError):
        policy.call(handle, "t3", "acme")  # the tenant's 3/min is spent
    assert calls == ["t1", "t1", "t2"]
    hits = rec.of(LimitHit)
    assert [h.key for h in hits] == ["t1", "acme"]
    assert all(h.target == "api.request" for h in hits)
    # t3's token permit was refunded when the tenant limit refused the call
    clock.advance(60)
    assert [policy.call(handle, "t3", "other") for _ in range(2)] == ["ok", "ok"]


def test_unkeyed_limit_uses_the_target() -> None:
    clock = VirtualClock()
    policy = Pipeline("sms.send", RateLimit(1, per=1), clock=clock)
    policy.call(lambda: None)
    with pytest.raises(RateLimitedError, match=r"sms\.send"):
        policy.call(lambda: None)
