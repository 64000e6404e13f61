"""The importer block lives in the durable store: it survives a restart of the service,
and every process sharing the store sees it (SQLite and PostgreSQL)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from mitigate.clock import VirtualClock
from mitigate.errors import ConfigError
from mitigate.guard.errors import ArchiveRejectedError, ImporterBlockedError
from mitigate.guard.quarantine import ArchiveGuard, ImporterGate, Quarantine
from mitigate.observe.observers import Recorder
from tests.durable.conftest import StoreFactory, store_factory  # noqa: F401 (fixture)


def _upload(path: Path, files: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
    return path


async def test_a_block_survives_a_restart(store_factory: StoreFactory, tmp_path: Path) -> None:  # noqa: F811
    clock = VirtualClock()
    recorder = Recorder()
    quarantine = Quarantine(tmp_path / "q", clock=clock, observers=[recorder])
    evil = _upload(tmp_path / "evil.zip", {"../../etc/cron.d/x": "boom"})

    before = await store_factory(clock=clock)
    gate = ImporterGate(before, clock=clock, observers=[recorder])
    guard = ArchiveGuard(quarantine=quarantine, gate=gate)
    with pytest.raises(ArchiveRejectedError):
        await guard.acheck(evil, tenant="acme")
    assert recorder.count("guard.importer_blocked") == 1
    await before.aclose()

    # The service restarts: a new store connection and a new gate, nothing in memory.
    after = await store_factory(clock=clock)
    gate = ImporterGate(after, clock=clock)
    restarted = ArchiveGuard(quarantine=quarantine, gate=gate)
    assert await gate.ais_blocked("acme")
    assert await gate.ablocked() == {"acme": "traversal"}
    clean = _upload(tmp_path / "clean.zip", {"index.html": "<p>hi</p>"})
    with pytest.raises(ImporterBlockedError):
        await restarted.acheck(clean, tenant="acme")
    assert clean.exists()  # refused before anything was read or moved
    assert (await restarted.acheck(clean, tenant="globex")).ok  # other tenants import

    await gate.aclear("acme")
    assert not await ImporterGate(after, clock=clock).ais_blocked("acme")
    assert (await restarted.acheck(clean, tenant="acme")).ok


async def test_a_store_backed_gate_refuses_the_sync_calls(
    store_factory: StoreFactory,  # noqa: F811
) -> None:
    gate = ImporterGate(await store_factory())
    with pytest.raises(ConfigError, match="ablock"):
        gate.block("acme", "traversal")
    with pytest.raises(ConfigError, match="arequire_open"):
        gate.require_open("acme")
