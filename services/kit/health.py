"""Liveness and readiness: ``/healthz`` answers while the process runs; ``/readyz`` asks each
dependency (store, bus, object store, cache) and answers 503 naming the ones that fail."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

__all__ = ["Health"]


class Health:
    def __init__(self) -> None:
        self.checks: dict[str, tuple[Callable[[], Any], bool]] = {}

    def check(self, name: str, fn: Callable[[], Any], *, critical: bool = True) -> None:
        self.checks[name] = (fn, critical)

    async def ready(self) -> tuple[bool, dict[str, str]]:
        ok = True
        details: dict[str, str] = {}
        for name, (fn, critical) in self.checks.items():
            try:
                result = fn()
                if inspect.isawaitable(result):
                    result = await result
                details[name] = "ok" if result is not False else "failing"
            except Exception as exc:
                details[name] = f"failing: {type(exc).__name__}: {exc}"[:200]
            if details[name] != "ok" and critical:
                ok = False
        return ok, details
