"""What the edge harness needs of a run, built outside `mitigate verify`: a virtual
clock, a recorder, the catalog's policies with a fault injector attached, rollbacks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mitigate
from mitigate.chaos import FaultInjector

CATALOG = Path(__file__).resolve().parents[3] / "services" / "edge" / "catalog.yaml"


class VirtualRun:
    """What the edge harness needs of a run, built outside `mitigate verify`."""

    def __init__(self, clock: Any = None, catalog: Path = CATALOG) -> None:
        self.clock = clock if clock is not None else mitigate.VirtualClock()
        self.recorder = mitigate.Recorder()
        self.observers = [self.recorder]
        self.catalog = mitigate.Catalog.load(catalog, clock=self.clock, observers=self.observers)
        self.injector = FaultInjector(clock=self.clock)
        self.switches = None
        self.backend = "embedded"
        self._built: dict[str, Any] = {}
        self._closers: list[Any] = []

    def policy(self, name: str) -> Any:
        if name not in self._built:
            pipeline = self.catalog.policy(name)
            pipeline.attach(self.injector)
            self._built[name] = pipeline
        return self._built[name]

    def rollback(self, fn: Any) -> None:
        self._closers.append(fn)

    async def close(self) -> None:
        for fn in reversed(self._closers):
            await fn()
