"""What the policies cost on the happy path, against the Python peers, in one run.

Workload, the same for every row: call a trivial function (``return 1``) that succeeds,
through the policy, N times in a timeit-style loop (the statement is compiled into the
loop: no extra lambda per call for anyone). Async rows await a trivial coroutine the
same way in one event loop. Rows are measured round-robin, R repeats each, so load from
other processes hits every row alike; ``ns_per_call`` is the fastest repeat (the
median is printed too). Nothing is subtracted.

Rows:
  bare, bare.async                    the call alone, for scale
  mitigate.retry                      Retry(3, exp 100ms) as a decorator (Pipeline.wrap)
  tenacity.retry                      @tenacity.retry(stop after 4, wait exponential)
  stamina.retry                       @stamina.retry(on=Exception, attempts=4)
  mitigate.breaker / pybreaker        a closed breaker (10 failures / 30 s; fail_max=10)
  mitigate.breaker.open / pybreaker.open   an open breaker refusing (error raised, caught)
  mitigate.pipeline                   retry + breaker + timeout (budget 1 s, 500 ms/attempt)
  mitigate.pipeline.async             the same pipeline, awaited (timeout pre-empts)
  purgatory                           purgatory's async breaker alone (async with)
  mitigate.ratelimit                  RateLimiter.try_acquire(key), 1000 keys, 1000/min
  mitigate.ratelimit.sliding_window   the same with the exact sliding log
  limits.moving_window                limits' MovingWindowRateLimiter.hit, same keys/limit

Run: uv run python bench/policies.py [--json] [--repeats R] [--seconds S]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import statistics
import time
import timeit
from collections.abc import Callable
from typing import Any

import limits
import pybreaker
import stamina
import tenacity
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from purgatory import AsyncCircuitBreakerFactory

from mitigate import Breaker, BreakerOpenError, Pipeline, RateLimit, Retry, Timeout

# (ratio name, slower row, faster row, at least)
TARGETS = [
    ("tenacity.retry / mitigate.retry", "tenacity.retry", "mitigate.retry", 20.0),
    ("pybreaker / mitigate.pipeline", "pybreaker", "mitigate.pipeline", 1.0),
    ("purgatory / mitigate.pipeline.async", "purgatory", "mitigate.pipeline.async", 1.0),
    (
        "limits.moving_window / mitigate.ratelimit",
        "limits.moving_window",
        "mitigate.ratelimit",
        5.0,
    ),
]


def f() -> int:
    return 1


async def af() -> int:
    return 1


def setup() -> tuple[dict[str, str], dict[str, str], dict[str, Any]]:
    """Sync and async statements per row, and the names they use."""
    retry = Pipeline("bench.retry", Retry(3, base=0.1))
    breaker = Pipeline("bench.breaker", Breaker(10, 30.0, 60.0))
    opened = Pipeline("bench.open", Breaker(10, 30.0, 60.0))
    opened.breaker().force_open()
    full = Pipeline(
        "bench.pipeline",
        Retry(3, base=0.1, budget=1.0),
        Breaker(10, 30.0, 60.0),
        Timeout(0.5),
    )
    pyb = pybreaker.CircuitBreaker(fail_max=10, reset_timeout=60)
    pyb_open = pybreaker.CircuitBreaker(fail_max=1, reset_timeout=3600)
    with contextlib.suppress(pybreaker.CircuitBreakerError, ZeroDivisionError):
        pyb_open.call(_raise)
    keys = [f"token-{n}" for n in range(1000)]
    names: dict[str, Any] = {
        "f": f,
        "af": af,
        "retry_f": retry.wrap(f),
        "tenacity_f": tenacity.retry(
            stop=tenacity.stop_after_attempt(4),
            wait=tenacity.wait_exponential(multiplier=0.1, max=10),
            reraise=True,
        )(f),
        "stamina_f": stamina.retry(on=Exception, attempts=4, wait_initial=0.1)(f),
        "breaker": breaker,
        "opened": opened,
        "BreakerOpenError": BreakerOpenError,
        "full": full,
        "pyb": pyb,
        "pyb_open": pyb_open,
        "CircuitBreakerError": pybreaker.CircuitBreakerError,
        "purgatory": AsyncCircuitBreakerFactory(default_threshold=10, default_ttl=60),
        "limiter": RateLimit(1000, per=60, burst=1000).limiter(),
        "sliding": RateLimit(1000, per=60, algorithm="sliding_window").limiter(),
        "moving": MovingWindowRateLimiter(MemoryStorage()),
        "item": limits.parse("1000/minute"),
        "keys1": itertools.cycle(keys),
        "keys2": itertools.cycle(keys),
        "keys3": itertools.cycle(keys),
    }
    sync = {
        "bare": "f()",
        "mitigate.retry": "retry_f()",
        "tenacity.retry": "tenacity_f()",
        "stamina.retry": "stamina_f()",
        "mitigate.breaker": "breaker.call(f)",
        "pybreaker": "pyb.call(f)",
        "mitigate.breaker.open": "try:\n    opened.call(f)\nexcept BreakerOpenError:\n    pass",
        "pybreaker.open": "try:\n    pyb_open.call(f)\nexcept CircuitBreakerError:\n    pass",
        "mitigate.pipeline": "full.call(f)",
        "mitigate.ratelimit": "limiter.try_acquire(next(keys1))",
        "mitigate.ratelimit.sliding_window": "sliding.try_acquire(next(keys2))",
        "limits.moving_window": "moving.hit(item, next(keys3))",
    }
    asynchronous = {
        "bare.async": "await af()",
        "mitigate.pipeline.async": "await full.acall(af)",
        "purgatory": "async with await purgatory.get_breaker('bench'):\n    await af()",
    }
    return sync, asynchronous, names


def _raise() -> None:
    raise ZeroDivisionError


def async_timer(statement: str, names: dict[str, Any]) -> Callable[[int], Any]:
    body = "\n".join("        " + line for line in statement.splitlines())
    source = (
        "async def _bench(n):\n"
        "    start = perf_counter()\n"
        "    for _ in range(n):\n"
        f"{body}\n"
        "    return perf_counter() - start\n"
    )
    scope = dict(names, perf_counter=time.perf_counter)
    exec(compile(source, "<bench>", "exec"), scope)
    bench: Callable[[int], Any] = scope["_bench"]
    return bench


def measure(repeats: int, seconds: float) -> list[dict[str, Any]]:
    sync, asynchronous, names = setup()
    loop = asyncio.new_event_loop()
    timers: dict[str, Callable[[int], float]] = {}
    for name, statement in sync.items():
        timer = timeit.Timer(statement, globals=names)
        timers[name] = timer.timeit
    for name, statement in asynchronous.items():
        bench = async_timer(statement, names)
        timers[name] = lambda n, bench=bench: loop.run_until_complete(bench(n))
    # Calibrate: enough calls for each repeat to take about `seconds`.
    counts = {}
    for name, timer in timers.items():
        n = 1000
        while (elapsed := timer(n)) < seconds / 10:
            n *= 4
        counts[name] = max(1000, int(n * seconds / elapsed))
    samples: dict[str, list[float]] = {name: [] for name in timers}
    for _ in range(repeats):
        for name, timer in timers.items():
            n = counts[name]
            samples[name].append(timer(n) / n * 1e9)
    loop.close()
    order = ["bare", "bare.async", *[n for n in timers if not n.startswith("bare")]]
    return [
        {
            "name": name,
            "ns_per_call": round(min(samples[name]), 1),
            "median_ns": round(statistics.median(samples[name]), 1),
            "calls": counts[name],
            "repeats": repeats,
        }
        for name in order
    ]


def table(rows: list[dict[str, Any]]) -> str:
    by_name = {row["name"]: row["ns_per_call"] for row in rows}
    lines = [f"{'row':36} {'ns/call':>10} {'median':>10} {'x bare':>8}"]
    for row in rows:
        bare = by_name["bare.async" if row["name"] in ASYNC_ROWS else "bare"]
        lines.append(
            f"{row['name']:36} {row['ns_per_call']:>10.0f} {row['median_ns']:>10.0f}"
            f" {row['ns_per_call'] / bare:>8.1f}"
        )
    lines.append("")
    lines.append(f"{'target (same run)':45} {'ratio':>8} {'needed':>8}")
    for label, slow, fast, needed in TARGETS:
        ratio = by_name[slow] / by_name[fast]
        verdict = "ok" if ratio >= needed else "MISSED"
        lines.append(f"{label:45} {ratio:>7.1f}x {needed:>7.0f}x  {verdict}")
    return "\n".join(lines)


ASYNC_ROWS = {"bare.async", "mitigate.pipeline.async", "purgatory"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=0.1, help="time per repeat and row")
    args = parser.parse_args()
    rows = measure(args.repeats, args.seconds)
    if args.json:
        print(json.dumps({"rows": rows}))
    else:
        print(table(rows))


if __name__ == "__main__":
    main()
