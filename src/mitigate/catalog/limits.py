"""How much a catalog may hold: the caps that keep reading a hostile file bounded.

Every cap is far above what a real catalog needs (the largest example is 11 kB, five
levels deep, with counts in the tens) and far below what would exhaust memory or time.

.. versionadded:: 0.1
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "MAX_CHARS",
    "MAX_COUNT",
    "MAX_DEPTH",
    "MAX_DURATION",
    "MAX_INT",
    "MAX_NODES",
    "MAX_NUMBER_CHARS",
    "MAX_RETRIES",
]

MAX_CHARS: Final = 1024 * 1024
"""Characters in one catalog file."""
MAX_DEPTH: Final = 64
"""Nesting levels of mappings and lists."""
MAX_NODES: Final = 200_000
"""Values (scalars, mappings, lists) in one file."""
MAX_NUMBER_CHARS: Final = 40
"""Characters in one YAML number literal (int() of a long one is slow or refused)."""
MAX_INT: Final = 2**53
"""Largest integer magnitude (exact as a float, so no field silently rounds it)."""
MAX_RETRIES: Final = 1000
"""Retries after the first attempt (a schedule lists one delay per retry); the same cap as
``mitigate.policy.notation.MAX_RETRIES`` (kept apart so the schema imports no policy)."""
MAX_COUNT: Final = 1_000_000
"""Failures, calls, slots, permits and other counts."""
MAX_DURATION: Final = 366 * 86400.0
"""Longest duration in seconds: a year (and a leap day)."""
