"""Hostile HTML against the sanitiser's caps, in one run.

html5ever's tree building is quadratic in the nesting depth of block elements, so
deeply nested markup burns CPU (1 MB of ``<div>`` took 35 s in nh3 before the caps).
``HtmlPolicy`` now checks size and depth in one linear pre-scan before nh3 runs.

Workloads (input sizes in characters, MB = 10^6):

- ``flat``: 1 MB of ordinary paragraphs through ``sanitize`` (nh3): the baseline.
- ``nested_capped``: 1 MB of nested ``<div>`` through ``sanitize_for_write``: refused
  by the pre-scan (``MITIGATE.HTML.TOO_DEEP``) without parsing.
- ``nested_raw_<depth>``: nested ``<div>`` straight into nh3 (no caps) at a few depths,
  to show the curve the caps cut off.

Prints seconds per call and the ratio nested_capped / flat.
Run: uv run python bench/guards.py [--json]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

import nh3

from mitigate.guard.errors import HtmlRejectedError
from mitigate.guard.html import sanitize, sanitize_for_write


def _seconds(fn: Callable[[], object], repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _refused(html: str) -> None:
    try:
        sanitize_for_write(html)
    except HtmlRejectedError as err:
        assert err.code == "MITIGATE.HTML.TOO_DEEP", err.code
        return
    raise AssertionError("nested markup was accepted")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    flat = "<p>Lesson text with <b>bold</b> and <a href='/x'>a link</a>.</p>" * 16_000
    flat = flat[:1_000_000]
    nested = "<div>" * 200_000
    rows = {
        "flat": _seconds(lambda: sanitize(flat)),
        "nested_capped": _seconds(lambda: _refused(nested)),
    }
    for depth in (2_000, 8_000, 16_000):
        rows[f"nested_raw_{depth}"] = _seconds(lambda d=depth: nh3.clean("<div>" * d), 1)
    ratio = rows["nested_capped"] / rows["flat"]
    if args.json:
        print(json.dumps({"seconds": rows, "ratios": {"nested_capped/flat": ratio}}))
        return
    for name, secs in rows.items():
        print(f"{name:<20} {secs * 1000:10.1f} ms")
    print(f"nested_capped / flat = {ratio:.3f}")


if __name__ == "__main__":
    main()
