"""SCORM imports (authoring.fm.1.6, authoring.retry.5).

- Upload: the request body is streamed to a spool file and counted as it comes; past the
  tenant's cap (500 MiB unless raised for the tenant) reading stops at once, the spool is
  removed and the answer is 413 "rejected — too large". Nothing of it stays.
- Job: an accepted upload is a row in ``authoring_imports`` (the durable queue: a restart
  finds it). The import loop claims it and runs the import step through ``import.step``
  (3 retries at 5 s, 30 s, 2 min inside 10 min): the sandboxed worker process extracts
  the zip in chunks under an address-space limit, its progress lines become
  ``import.progress`` events and the row's progress; the extracted files are promoted
  into the object store. A worker over its memory limit fails the job with that reason
  (not retried: the same zip fails the same way); so do spent retries. A failed job keeps
  its uploaded zip and can be re-driven.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import sys
import uuid
from collections.abc import AsyncIterable
from pathlib import Path
from typing import Any

from services.kit.calls import PermanentError, call
from services.kit.errors import ServiceError

from ..events import ImportFailed, ImportProgress, ImportRejected, ImportWorkerKilled
from . import sandbox

__all__ = ["TOO_LARGE", "Importer"]

TOO_LARGE = "rejected — too large"
WORKER = Path(sandbox.__file__)
DONE = ("imported", "failed", "rejected")


class WorkerError(PermanentError):
    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


class Importer:
    def __init__(self, runtime: Any, settings: Any, *, workdir: Path) -> None:
        self.rt = runtime
        self.settings = settings
        self.spool = workdir / "imports"
        self.spool.mkdir(parents=True, exist_ok=True)
        switches = runtime.switches
        self.capped = switches.enabled("authoring.switch.import-cap")
        self.sandboxed = switches.enabled("authoring.switch.import-sandbox")
        self.streaming = switches.enabled("authoring.switch.import-streaming")
        self.whole = False  # a regression an experiment plants: the archive read whole

    async def upload(self, tenant: str, body: AsyncIterable[bytes]) -> dict[str, Any]:
        job = uuid.uuid4().hex[:16]
        path = self.spool / f"{job}.zip"
        cap = self.settings.import_cap_for(tenant) if self.capped else None
        size = 0
        try:
            with open(path, "wb") as out:  # noqa: ASYNC230 (local disk, chunked)
                async for chunk in body:
                    size += len(chunk)
                    if cap is not None and size > cap:
                        raise _too_large(cap)
                    out.write(chunk)
        except BaseException as exc:  # too large, or the client went away: nothing kept
            _discard(path)
            if isinstance(exc, ServiceError):
                await self._record(job, tenant, "rejected", TOO_LARGE, size)
                self.rt.emit(
                    ImportRejected(target="import.upload", at=self.rt.clock.now(), read=size)
                )
            raise
        if size == 0:
            _discard(path)
            raise ServiceError("AUTHORING.IMPORT.EMPTY", "the request body is empty; send a zip")
        await self._record(job, tenant, "uploaded", None, size)
        return {"id": job, "state": "uploaded", "size": size}

    async def get(self, tenant: str, job: str) -> dict[str, Any]:
        rows = await self.rt.store.fetch(
            "SELECT id, state, reason, size, done, total, files, peak_rss, attempts"
            " FROM authoring_imports WHERE id = ? AND tenant = ?",
            (job, tenant),
        )
        if not rows:
            raise ServiceError("AUTHORING.IMPORT.NOT_FOUND", f"no import {job}", status=404)
        keys = ("id", "state", "reason", "size", "done", "total", "files", "peakRss", "attempts")
        out = dict(zip(keys, rows[0], strict=True))
        out["zipKept"] = (self.spool / f"{job}.zip").exists()
        return out

    async def redrive(self, tenant: str, job: str) -> dict[str, Any]:
        """Run a failed import again from its kept upload."""
        current = await self.get(tenant, job)
        if current["state"] != "failed" or not current["zipKept"]:
            raise ServiceError(
                "AUTHORING.IMPORT.NOT_REDRIVABLE",
                f"import {job} is {current['state']}; only a failed one with its zip kept",
                status=409,
            )
        await self._set(job, state="uploaded", reason=None)
        return await self.get(tenant, job)

    async def run_pending(self) -> int:
        """Claim and run every uploaded import (the import loop calls this)."""
        rows = await self.rt.store.fetch(
            "SELECT id, tenant FROM authoring_imports WHERE state = 'uploaded' ORDER BY at"
        )
        ran = 0
        for job, tenant in rows:
            claimed = await self.rt.store.execute(
                "UPDATE authoring_imports SET state = 'running'"
                " WHERE id = ? AND state = 'uploaded'",
                (job,),
            )
            if claimed:
                await self._run(str(job), str(tenant))
                ran += 1
        return ran

    async def _run(self, job: str, tenant: str) -> None:
        now = self.rt.clock.now
        try:
            result = await call(self.rt.policy("import.step"), self._step, job, tenant)
        except WorkerError as exc:
            if exc.kind == "memory":
                self.rt.emit(ImportWorkerKilled(target="import.step", at=now(), job=job))
            self.rt.emit(ImportFailed(target="import.step", at=now(), job=job, reason=exc.reason))
            await self._set(job, state="failed", reason=exc.reason)
        except Exception as exc:  # the step's retries are spent
            reason = f"the import step failed after its retries ({type(exc).__name__}: {exc})"
            self.rt.emit(ImportFailed(target="import.step", at=now(), job=job, reason=reason))
            await self._set(job, state="failed", reason=reason)
        else:
            await self._set(job, state="imported", files=result["files"], peak_rss=result["peak"])
            _discard(self.spool / f"{job}.zip")

    async def _step(self, job: str, tenant: str) -> dict[str, Any]:
        """One attempt: extract in the sandbox, then promote into the object store."""
        await self._bump(job)
        staging = self.spool / f"{job}.staging"
        shutil.rmtree(staging, ignore_errors=True)
        try:
            outcome = await self._sandbox(job, staging)
            files = await self._promote(tenant, job, staging)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return {"files": files, "peak": outcome.get("peak")}

    async def _sandbox(self, job: str, staging: Path) -> dict[str, Any]:
        limit = self.settings.import_memory_limit if self.sandboxed else 0
        mode = "whole" if self.whole or not self.streaming else "stream"
        spool = str(self.spool / f"{job}.zip")
        proc = await asyncio.create_subprocess_exec(
            *(sys.executable, "-I", str(WORKER), spool, str(staging), str(limit), mode),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        assert proc.stdout is not None
        last: dict[str, Any] = {}
        async for line in proc.stdout:
            with contextlib.suppress(ValueError):
                last = json.loads(line)
            if "progress" in last:
                done, total = int(last["progress"]), int(last["total"])
                await self._set(job, done=done, total=total)
                self.rt.emit(
                    ImportProgress(
                        target="import.step",
                        at=self.rt.clock.now(),
                        job=job,
                        done=done,
                        total=total,
                    )
                )
        code = await proc.wait()
        if code == 0 and last.get("ok"):
            await self._set(job, done=int(last["total"]), total=int(last["total"]))
            return last
        if last.get("error") == "memory" or code < 0:  # MemoryError, or killed by a signal
            mib = self.settings.import_memory_limit >> 20
            raise WorkerError("memory", f"the import worker exceeded its {mib} MiB memory limit")
        if last.get("error") == "invalid":
            raise WorkerError("invalid", f"not a valid SCORM zip: {last.get('detail')}")
        raise RuntimeError(f"the import worker exited with {code}")

    async def _promote(self, tenant: str, job: str, staging: Path) -> int:
        files = [p for p in staging.rglob("*") if p.is_file()]  # noqa: ASYNC240 (local dir)
        prefix = f"imports/{tenant}/{job}"
        place = getattr(self.rt.objects, "path", None)
        for path in files:
            key = f"{prefix}/{path.relative_to(staging).as_posix()}"
            if place is not None:  # local files: a rename, not a second copy
                dest: Path = place(key)
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(path, dest)
            else:
                await self.rt.objects.put(key, _chunks(path))
        return len(files)

    async def _record(
        self, job: str, tenant: str, state: str, reason: str | None, size: int
    ) -> None:
        await self.rt.store.execute(
            "INSERT INTO authoring_imports (id, tenant, state, reason, size, done, total, files,"
            " peak_rss, attempts, at) VALUES (?, ?, ?, ?, ?, 0, 0, 0, NULL, 0, ?)",
            (job, tenant, state, reason, size, self.rt.clock.wall()),
        )

    async def _set(self, job: str, **fields: Any) -> None:
        sets = ", ".join(f"{k} = ?" for k in fields)
        await self.rt.store.execute(
            f"UPDATE authoring_imports SET {sets} WHERE id = ?",
            (*fields.values(), job),
        )

    async def _bump(self, job: str) -> None:
        await self.rt.store.execute(
            "UPDATE authoring_imports SET attempts = attempts + 1 WHERE id = ?", (job,)
        )


def _too_large(cap: int) -> ServiceError:
    return ServiceError(
        "AUTHORING.IMPORT.TOO_LARGE",
        f"{TOO_LARGE}: the archive passed the {cap >> 20} MiB import limit",
        status=413,
    )


async def _chunks(path: Path) -> Any:
    with open(path, "rb") as f:  # noqa: ASYNC230 (local disk, chunked)
        while chunk := f.read(1 << 20):
            yield chunk


def _discard(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
