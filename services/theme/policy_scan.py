"""The nightly storage policy check: the object store's declared access policy (its
folders writable by the service's own user only: no write bit for group or others) is
compared with the actual one and
reset on drift. Meanwhile readers reject tampered bundles by digest (reader.py).

Analogue of the seed's Terraform drift job: the local store's folder modes stand for the
bucket policy. A store without local folders (S3) is not scanned here.
"""

from __future__ import annotations

import asyncio
import logging
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import mitigate
from services.kit.runtime import Runtime

__all__ = ["FORBIDDEN_BITS", "PolicyDrift", "PolicyScan"]

log = logging.getLogger("services.theme.policy_scan")
SWITCH = "theme.switch.policy-reset"
FORBIDDEN_BITS = stat.S_IWGRP | stat.S_IWOTH  # write for group or anyone


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyDrift(mitigate.Event):
    name: ClassVar[str] = "theme.storage_policy_drift"
    default_severity: ClassVar[mitigate.Severity] = mitigate.Severity.CRITICAL
    path: str = ""
    found: str = ""
    reset: bool = False


class PolicyScan:
    def __init__(self, runtime: Runtime, *, every: float) -> None:
        self.rt = runtime
        self.every = every

    def _root(self) -> Path | None:
        root = getattr(self.rt.objects, "root", None)
        return Path(root) if root is not None else None

    def scan_once(self) -> list[str]:
        """Report every folder writable by group or others; reset it to the declared policy."""
        root = self._root()
        if root is None or not root.exists():
            return []
        drifted: list[str] = []
        for folder in [root, *(p for p in root.rglob("*") if p.is_dir())]:
            mode = stat.S_IMODE(folder.stat().st_mode)
            if not mode & FORBIDDEN_BITS:
                continue
            reset = bool(self.rt.switches.enabled(SWITCH))
            if reset:
                folder.chmod(mode & ~FORBIDDEN_BITS)
            self.rt.emit(
                PolicyDrift(
                    target="storage.policy",
                    at=self.rt.clock.now(),
                    path=str(folder.relative_to(root)),
                    found=oct(mode),
                    reset=reset,
                )
            )
            log.error("storage policy drift on %s: %s (reset: %s)", folder, oct(mode), reset)
            drifted.append(str(folder.relative_to(root)))
        return drifted

    async def run(self, stop: asyncio.Event) -> None:
        from .orphans import sleep_or_stop

        while not stop.is_set():
            await sleep_or_stop(self.rt.clock, self.every, stop)
            if stop.is_set():
                return
            try:
                self.scan_once()
            except Exception:  # the next night tries again
                log.exception("storage policy scan failed")
