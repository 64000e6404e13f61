"""Helpers for testing services built on mitigate: fixtures and fakes.

The pytest plugin (entry point ``mitigate``) provides the fixtures ``virtual_clock``
(moved by ``advance()``), ``autojump_clock`` (jumps when every task waits on it) and
``recorder`` (an in-memory event recorder).
"""

from mitigate.testing.fakes import FlakyDependency

__all__ = ["FlakyDependency"]
