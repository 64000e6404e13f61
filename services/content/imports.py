"""SCORM import per tenant (content.fm.1.4): the upload streams to a spool file under a size
cap, is inspected entry by entry before anything is extracted, and a hostile archive is
moved byte for byte into the quarantine while the tenant's importer is blocked until an
operator clears it. Clean archives are extracted into the object store."""

from __future__ import annotations

import contextlib
import uuid
import zipfile
from collections.abc import AsyncIterable, Iterator
from pathlib import Path
from typing import Any

import mitigate
from services.kit.errors import ServiceError

__all__ = ["Importer"]

BLOCKED_MESSAGE = "blocked pending security review"


class Importer:
    def __init__(self, runtime: Any, settings: Any, *, workdir: Path) -> None:
        self.rt = runtime
        self.settings = settings
        self.spool = workdir / "uploads"
        self.spool.mkdir(parents=True, exist_ok=True)
        self.inspect = runtime.switches.enabled("content.switch.archive-inspection")
        self.block = runtime.switches.enabled("content.switch.importer-block")
        quarantine = mitigate.Quarantine(
            workdir / "quarantine", clock=runtime.clock, observers=runtime.observers
        )
        self.guard = mitigate.ArchiveGuard(quarantine=quarantine, block_on_quarantine=self.block)

    async def load_blocks(self) -> None:
        """Blocks survive restarts: they live in the store, the gate mirrors them."""
        for tenant, reason in await self.rt.store.fetch(
            "SELECT tenant, reason FROM content_importer_blocks"
        ):
            self.guard.gate.block(tenant, reason)

    async def upload(self, tenant: str, body: AsyncIterable[bytes]) -> dict[str, Any]:
        if self.block and self.guard.gate.is_blocked(tenant):
            raise ServiceError(
                "MITIGATE.ARCHIVE.BLOCKED", f"importer {BLOCKED_MESSAGE}", status=423
            )
        import_id = uuid.uuid4().hex
        path = self.spool / f"{import_id}.zip"
        cap = self.guard.limits_for(tenant).max_archive_bytes
        try:
            size = 0
            with open(path, "wb") as out:  # noqa: ASYNC230 (local disk, chunked)
                async for chunk in body:
                    size += len(chunk)
                    if size > cap:  # stop reading at once: the rest never reaches the disk
                        raise ServiceError(
                            "MITIGATE.ARCHIVE.TOO_LARGE",
                            f"the archive exceeds the {cap} byte import limit",
                            status=413,
                        )
                    out.write(chunk)
            if size == 0:
                raise ServiceError("CONTENT.IMPORT.EMPTY", "the request body is empty; send a zip")
            return await self._inspect_and_extract(tenant, import_id, path)
        finally:
            _discard(path)

    async def _inspect_and_extract(self, tenant: str, import_id: str, path: Path) -> dict[str, Any]:
        if self.inspect:
            try:
                self.guard.check(path, tenant=tenant, name=f"{import_id}.zip")
            except mitigate.ArchiveRejectedError as exc:
                await self._record(import_id, tenant, "quarantined", exc.code, exc.quarantine_id)
                if self.block:
                    await self.rt.store.execute(
                        "INSERT INTO content_importer_blocks (tenant, reason, at)"
                        " VALUES (?, ?, ?) ON CONFLICT (tenant) DO NOTHING",
                        (tenant, exc.code, self.rt.clock.wall()),
                    )
                raise ServiceError(
                    exc.code,
                    f"the archive was quarantined ({exc.code}); importer {BLOCKED_MESSAGE}",
                    status=422,
                ) from exc
        try:
            files = await self._extract(tenant, import_id, path)
        except zipfile.BadZipFile as exc:
            await self._record(import_id, tenant, "rejected", "CONTENT.IMPORT.NOT_A_ZIP", None)
            raise ServiceError("CONTENT.IMPORT.NOT_A_ZIP", f"not a zip archive: {exc}") from exc
        await self._record(import_id, tenant, "imported", None, None, files)
        return {"id": import_id, "state": "imported", "files": files}

    async def _extract(self, tenant: str, import_id: str, path: Path) -> int:
        prefix = f"imports/{tenant}/{import_id}"
        count = 0
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if info.is_dir():
                    continue
                key = f"{prefix}/{info.filename}"
                put = self.rt.policy("objects.put")
                await put.acall(self.rt.objects.put, key, _entry(archive, info))
                count += 1
        return count

    async def _record(
        self,
        import_id: str,
        tenant: str,
        state: str,
        reason: str | None,
        quarantine_id: str | None,
        files: int = 0,
    ) -> None:
        await self.rt.store.execute(
            "INSERT INTO content_imports (id, tenant, state, reason, quarantine_id, files, at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (import_id, tenant, state, reason, quarantine_id, files, self.rt.clock.wall()),
        )

    async def get(self, tenant: str, import_id: str) -> dict[str, Any]:
        rows = await self.rt.store.fetch(
            "SELECT id, state, reason, quarantine_id, files FROM content_imports"
            " WHERE id = ? AND tenant = ?",
            (import_id, tenant),
        )
        if not rows:
            raise ServiceError("CONTENT.IMPORT.NOT_FOUND", f"no import {import_id}", status=404)
        keys = ("id", "state", "reason", "quarantineId", "files")
        return dict(zip(keys, rows[0], strict=True))

    async def blocked(self) -> dict[str, str]:
        rows = await self.rt.store.fetch("SELECT tenant, reason FROM content_importer_blocks")
        return {tenant: reason for tenant, reason in rows}

    async def clear(self, tenant: str) -> dict[str, Any]:
        """An operator reviewed the quarantine: the tenant may import again."""
        await self.rt.store.execute(
            "DELETE FROM content_importer_blocks WHERE tenant = ?", (tenant,)
        )
        self.guard.gate.clear(tenant)
        return {"tenant": tenant, "blocked": False}


def _entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Iterator[bytes]:
    with archive.open(info) as f:
        while chunk := f.read(1 << 20):
            yield chunk


def _discard(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
