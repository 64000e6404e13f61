"""What an edge experiment run opens for its backend: on ``+nats`` in virtual time the
store-backed bus (JetStream's nak delays are real seconds), on the real clock NATS; a
stream, subject prefix and schema of its own either way."""

from __future__ import annotations

from pathlib import Path

from services.edge.harness import settings_for

import mitigate


class _Run:
    def __init__(self, clock: object, backend: str = "postgres+nats+redis") -> None:
        self.clock = clock
        self.backend = backend


def test_virtual_runs_ingest_on_the_store_bus_real_ones_on_nats(tmp_path: Path) -> None:
    virtual = settings_for(_Run(mitigate.VirtualClock()), tmp_path)
    one, two = (settings_for(_Run(mitigate.RealClock()), tmp_path) for _ in range(2))
    assert virtual.bus == "inproc" and virtual.store.startswith("postgresql://")
    assert one.bus.startswith("nats://") and two.bus.startswith("nats://")
    assert one.stream != two.stream and one.subject_prefix != two.subject_prefix
    assert one.schema_name != two.schema_name and one.stream.startswith("EDGE_")
    embedded = settings_for(_Run(mitigate.VirtualClock(), "embedded"), tmp_path)
    assert (embedded.bus, embedded.store.startswith("sqlite:")) == ("inproc", True)
