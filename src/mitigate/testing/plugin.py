"""The pytest plugin: ``virtual_clock``, ``autojump_clock`` and ``recorder`` fixtures."""

from __future__ import annotations

import pytest

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
