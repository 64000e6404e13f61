"""What fault injection costs when no fault acts.

Workload: one synchronous call of a trivial function through a Pipeline with a retry
and a breaker, on the success path, N times. Variants, measured in the same run:

- plain function (no pipeline), for scale;
- pipeline, no injector (the baseline);
- pipeline after attach(injector) then detach(): must cost the same as the baseline;
- pipeline with an empty FaultInjector attached (one truth test per call);
- pipeline with an injector holding a fault for another target (one dict lookup);
- FaultInjector.decide alone on an empty injector (what the injector itself adds).

Prints a table of ns/call and the ratio to the baseline; --json for machines.
Run: uv run python bench/chaos.py [--json] [--calls N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

from mitigate import VirtualClock
from mitigate.chaos import Failure, FaultInjector
from mitigate.policy.breaker import Breaker
from mitigate.policy.pipeline import Pipeline
from mitigate.policy.retry import Retry


def _dependency() -> int:
    return 1


def _make(injector: FaultInjector | None, detach: bool = False) -> Callable[[], object]:
    pipeline = Pipeline(
        "kms.sign",
        Retry(max_retries=3, schedule=(0.05, 0.2, 0.5)),
        Breaker(failures=10, window=30.0, reset=60.0),
        clock=VirtualClock(),
    )
    if injector is not None:
        pipeline.attach(injector)
        if detach:
            pipeline.detach()
    call = pipeline.call
    return lambda: call(_dependency)


def _ns_per_call(fn: Callable[[], object], calls: int, repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        for _ in range(calls):
            fn()
        samples.append((time.perf_counter_ns() - start) / calls)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    other = FaultInjector()
    other.add(Failure("objects.put"))
    variants = {
        "plain function": _dependency,
        "pipeline, no injector": _make(None),
        "pipeline, injector detached": _make(FaultInjector(), detach=True),
        "pipeline, empty injector attached": _make(FaultInjector()),
        "pipeline, fault on another target": _make(other),
    }
    empty = FaultInjector()
    variants["FaultInjector.decide alone, empty"] = lambda: empty.decide("kms.sign", 0.0)
    for fn in variants.values():  # warm up
        _ns_per_call(fn, 1000, 1)
    rows = {name: _ns_per_call(fn, args.calls, args.repeats) for name, fn in variants.items()}
    base = rows["pipeline, no injector"]
    result = [
        {"variant": name, "ns_per_call": round(ns, 1), "ratio_to_no_injector": round(ns / base, 3)}
        for name, ns in rows.items()
    ]
    if args.json:
        print(json.dumps({"calls": args.calls, "repeats": args.repeats, "results": result}))
        return
    print(f"{'variant':38} {'ns/call':>10} {'vs no injector':>15}")
    for row in result:
        ratio = row["ratio_to_no_injector"]
        print(f"{row['variant']:38} {row['ns_per_call']:>10.1f} {ratio:>14.3f}x")


if __name__ == "__main__":
    main()
