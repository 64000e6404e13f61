"""Properties that must hold for every configuration and every interleaving (hypothesis).

- retry never sleeps past its budget and never exceeds its attempts;
- the breaker changes state only as specified, under random outcomes and time;
- a rate limiter never admits more than its rate over any window, across boundaries too.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mitigate import (
    Breaker,
    BreakerOpenError,
    Pipeline,
    RateLimit,
    Recorder,
    Retry,
    VirtualClock,
)
from mitigate.policy.ratelimit import _NS

FAST = settings(max_examples=150, deadline=None)

durations = st.floats(min_value=0.0, max_value=5.0, allow_nan=False)


@st.composite
def retries(draw: st.DrawFn) -> Retry:
    max_retries = draw(st.integers(0, 8))
    budget = draw(st.one_of(st.none(), st.floats(0.01, 60.0)))
    if draw(st.booleans()):
        schedule = draw(st.lists(st.floats(0.0, 20.0), min_size=1, max_size=max(max_retries, 1)))
        return Retry(max_retries, schedule=schedule, budget=budget)
    base = draw(st.floats(0.001, 5.0))
    cap = draw(st.one_of(st.none(), st.floats(base, 30.0)))
    jitter = draw(st.sampled_from(["none", "full", "decorrelated"]))
    seed = draw(st.floats(0.0, 1.0))
    return Retry(max_retries, base=base, cap=cap, jitter=jitter, budget=budget, random=lambda: seed)


@FAST
@given(retry=retries(), costs=st.lists(durations, min_size=1, max_size=10))
def test_retry_never_sleeps_past_its_budget_nor_exceeds_its_attempts(
    retry: Retry, costs: list[float]
) -> None:
    clock, rec = VirtualClock(), Recorder()
    policy = Pipeline("t", retry, clock=clock, observers=[rec])
    it = iter(costs * 10)

    def fails() -> None:
        clock.advance(next(it))
        raise ConnectionError("down")

    with pytest.raises(ConnectionError):
        policy.call(fails)
    starts = [e.at for e in rec.named("attempt.started")]
    assert 1 <= len(starts) <= retry.max_attempts
    for event in rec.named("retry.scheduled"):
        assert event.delay >= 0  # type: ignore[attr-defined]
        if retry.budget is not None:
            assert event.at + event.delay < retry.budget  # type: ignore[attr-defined]
    if retry.budget is not None:
        assert all(start < retry.budget for start in starts)
    gave_up = rec.count("retry.exhausted") + rec.count("budget.exhausted")
    assert gave_up == (1 if retry.max_retries > 0 else 0)


@FAST
@given(retry=retries(), costs=st.lists(durations, min_size=1, max_size=10))
def test_async_retry_never_runs_past_its_budget(retry: Retry, costs: list[float]) -> None:
    clock, rec = VirtualClock(), Recorder()
    policy = Pipeline("t", retry, clock=clock, observers=[rec])
    it = iter(costs * 10)

    async def fails() -> None:
        await clock.asleep(next(it))
        raise ConnectionError("down")

    async def main() -> None:
        with pytest.raises(Exception):  # noqa: B017 - the last error, or the budget's timeout
            await policy.acall(fails)

    asyncio.run(main())
    assert rec.count("attempt.started") <= retry.max_attempts
    if retry.budget is not None:
        assert clock.now() <= retry.budget + 1e-9  # async attempts are cut at the deadline


# -- the breaker against a reference model ----------------------------------------------


@dataclass
class Model:
    """The breaker as specified, written as plainly as possible (sequential calls)."""

    failures: int
    window: float
    reset: float
    successes_to_close: int
    state: str = "closed"
    fail_times: list[float] = field(default_factory=list)
    open_until: float = 0.0
    successes: int = 0

    def call(self, now: float, ok: bool) -> bool:
        """Returns whether the call was admitted."""
        if self.state == "open":
            if now < self.open_until:
                return False
            self.state, self.successes = "half_open", 0
        if self.state == "half_open":
            if ok:
                self.successes += 1
                if self.successes >= self.successes_to_close:
                    self.state, self.fail_times = "closed", []
            else:
                self._open(now)
            return True
        if not ok:
            self.fail_times.append(now)
            last = self.fail_times[-self.failures :]
            if len(last) == self.failures and now - last[0] <= self.window:
                self._open(now)
        return True

    def _open(self, now: float) -> None:
        self.state, self.open_until = "open", now + self.reset


steps = st.lists(
    st.tuples(st.floats(0.0, 40.0), st.booleans()),  # (time passing, outcome)
    min_size=1,
    max_size=60,
)
ALLOWED = {
    ("closed", "open"),
    ("open", "half_open"),
    ("half_open", "open"),
    ("half_open", "closed"),
}


@FAST
@given(
    failures=st.integers(1, 6),
    window=st.sampled_from([1.0, 10.0, 30.0]),
    reset=st.sampled_from([5.0, 60.0]),
    successes_to_close=st.integers(1, 3),
    script=steps,
)
def test_breaker_changes_state_only_as_specified(
    failures: int,
    window: float,
    reset: float,
    successes_to_close: int,
    script: list[tuple[float, bool]],
) -> None:
    clock, rec = VirtualClock(), Recorder()
    breaker = Breaker(failures, window, reset, successes_to_close=successes_to_close)
    policy = Pipeline("t", breaker, clock=clock, observers=[rec])
    model = Model(failures, window, reset, successes_to_close)
    for pause, ok in script:
        clock.advance(pause)
        called = []

        def dep(ok: bool = ok, called: list[int] = called) -> str:
            called.append(1)
            if not ok:
                raise ConnectionError("down")
            return "ok"

        with contextlib.suppress(ConnectionError, BreakerOpenError):
            policy.call(dep)
        admitted = model.call(clock.now(), ok)
        assert bool(called) == admitted
        assert policy.breaker().state == model.state
    transitions = [
        (e.from_state, e.to_state)  # type: ignore[attr-defined]
        for e in rec.events
        if e.name.startswith("breaker.") and e.name != "breaker.rejected"
    ]
    assert set(transitions) <= ALLOWED


@FAST
@given(
    size=st.integers(2, 8),
    minimum=st.integers(1, 8),
    rate=st.sampled_from([0.25, 0.5, 1.0]),
    outcomes=st.lists(st.booleans(), min_size=1, max_size=40),
)
def test_failure_rate_trips_exactly_when_the_window_reaches_it(
    size: int, minimum: int, rate: float, outcomes: list[bool]
) -> None:
    clock = VirtualClock()
    policy = Pipeline(
        "t", Breaker(None, failure_rate=rate, window_calls=size, minimum_calls=minimum), clock=clock
    )
    seen: list[bool] = []
    for ok in outcomes:
        with contextlib.suppress(ConnectionError):
            policy.call(lambda ok=ok: ok or (_ for _ in ()).throw(ConnectionError()))
        seen.append(ok)
        window = seen[-size:]
        fails = window.count(False)
        should_open = len(window) >= minimum and fails >= rate * len(window)
        assert (policy.breaker().state == "open") == should_open
        if should_open:
            break


# -- rate limits ------------------------------------------------------------------------


@FAST
@given(
    rate=st.integers(1, 20),
    per=st.sampled_from([0.5, 1.0, 60.0]),
    burst=st.integers(1, 5),
    algorithm=st.sampled_from(["gcra", "token_bucket", "sliding_window"]),
    moves=st.lists(
        st.one_of(
            st.floats(0.0, 30.0),  # time passing
            st.just("retry_after"),  # come back exactly when told (the adversarial case)
        ),
        min_size=1,
        max_size=120,
    ),
)
def test_rate_limit_never_admits_more_than_its_rate_over_any_window(
    rate: int, per: float, burst: int, algorithm: str, moves: list[float | str]
) -> None:
    clock = VirtualClock()
    sliding = algorithm == "sliding_window"
    options = RateLimit(rate, per=per, algorithm=algorithm, burst=None if sliding else burst)  # type: ignore[arg-type]
    limiter = options.limiter(clock)
    admitted: list[int] = []
    wait = 0.0
    for move in moves:
        clock.advance(wait if move == "retry_after" else move)  # type: ignore[arg-type]
        for _ in range(3):  # a few callers at the same instant
            permit = limiter.try_acquire("k")
            if permit.allowed:
                admitted.append(int(clock.now() * _NS + 0.5))
            else:
                assert permit.retry_after > 0
                wait = permit.retry_after
    bound = rate if sliding else rate + burst - 1
    window = round(per * _NS)
    for i, start in enumerate(admitted):
        inside = sum(1 for t in admitted[i:] if t < start + window)
        assert inside <= bound, (start, inside, bound)


@FAST
@given(rate=st.integers(1, 10), per=st.sampled_from([1.0, 60.0]))
def test_rate_limit_admits_its_full_rate_when_asked_evenly(rate: int, per: float) -> None:
    # The other half of correctness: it does not refuse what it should allow. Time is
    # kept in whole nanoseconds, so callers arrive a microsecond after the nominal time.
    clock = VirtualClock()
    limiter = RateLimit(rate, per=per).limiter(clock)
    allowed = 0
    for _ in range(rate * 3):
        allowed += limiter.try_acquire().allowed
        clock.advance(per / rate + 1e-6)
    assert allowed == rate * 3
