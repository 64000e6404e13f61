"""The pytest plugin: ``virtual_clock``, ``autojump_clock``, ``recorder`` and
``fault_injector`` fixtures."""

from __future__ import annotations

import random

import pytest

from mitigate.chaos.injector import FaultInjector
from mitigate.clock import VirtualClock
from mitigate.observe.observers import Recorder


@pytest.fixture
def virtual_clock() -> VirtualClock:
    """A clock at 0 that moves only when the test calls ``advance``/``aadvance``."""
    return VirtualClock(autojump=False)


@pytest.fixture
def autojump_clock() -> VirtualClock:
    """A clock at 0 that jumps to the next deadline whenever every task waits on it."""
    return VirtualClock(autojump=True)


@pytest.fixture
def recorder() -> Recorder:
    """An in-memory event recorder to pass as an observer and assert on."""
    return Recorder()


@pytest.fixture
def fault_injector() -> FaultInjector:
    """A fault injector with nothing attached and a seeded random (runs repeat exactly).

    Attach it to a pipeline (``pipeline.attach(fault_injector)``), then add faults:
    ``fault_injector.add(mitigate.chaos.Failure("kms.sign", times=2))``. A fault's window
    counts from the first call it sees.
    """
    return FaultInjector(random=random.Random(0).random)
