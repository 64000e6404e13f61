"""The bounded fuzz run: every target, a few dozen derandomized inputs each, in seconds.

Each input must finish within a per-input limit (SIGALRM) and raise nothing but the
target's documented error. The long run is ``uv run python bench/fuzz.py --minutes N``.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from tests.fuzz.targets import TARGETS, Target

PER_INPUT = 5.0  # seconds; generous for a loaded CI machine, small next to a real hang
EXAMPLES = {"catalog": 25, "markdown": 25, "idempotency": 20}


class InputHungError(Exception):
    pass


@pytest.fixture
def per_input_alarm() -> Iterator[None]:
    def hung(signum: int, frame: Any) -> None:
        raise InputHungError(f"one input ran longer than {PER_INPUT}s")

    previous = signal.signal(signal.SIGALRM, hung)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_target_survives_hostile_input(name: str, per_input_alarm: None) -> None:
    target: Target = TARGETS[name]

    @settings(
        max_examples=EXAMPLES.get(name, 60),
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(target.strategy)
    def run(value: Any) -> None:
        signal.setitimer(signal.ITIMER_REAL, PER_INPUT)
        try:
            target.run(value)
        except target.expected:
            pass
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)

    run()


def test_every_target_of_the_brief_is_fuzzed() -> None:
    assert set(TARGETS) == {
        "markdown", "catalog", "notation", "envelope", "archive", "html", "range", "idempotency"
    }  # fmt: skip
