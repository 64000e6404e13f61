"""GDPR erasure across every store of the service, and the reconciliation that finds what
an erasure missed (comms.fm.15).

An erasure names a subject's identifiers (patient id, phone, email). Each store has its
own step (dispatches, threads, sessions, read receipts, the dispatch log file), run as a
delivery of the erasure to that store's consumer; every step is idempotent, so replaying
the whole erasure is safe. The reconciliation job scans every store for each erased
subject's identifiers; residue raises ``erasure.residue_found`` and the erasure is
replayed; the next run finds nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import mitigate

__all__ = ["ERASED", "Erasures", "ResidueFound"]

ERASED = "[erased]"
log = logging.getLogger("services.comms.erasure")

# store -> (table, column) of the identifiers it holds; the log file is handled apart.
_TABLES = {
    "dispatches": ("comms_dispatches", "recipient"),
    "threads": ("comms_threads", "patient"),
    "sessions": ("comms_sessions", "patient"),
    "receipts": ("comms_read_receipts", "participant"),
}
STORES = (*_TABLES, "dispatch-log")


@dataclass(frozen=True, slots=True, kw_only=True)
class ResidueFound(mitigate.Event):
    name: ClassVar[str] = "erasure.residue_found"
    default_severity: ClassVar[mitigate.Severity] = mitigate.Severity.ERROR
    erasure: str = ""
    rows: int = 0


class Erasures:
    def __init__(self, runtime: Any, *, log_path: Path, replay_switch: str) -> None:
        self.runtime = runtime
        self.store = runtime.store
        self.clock = runtime.clock
        self.log_path = log_path
        self.replay_switch = replay_switch
        self._file_lock = asyncio.Lock()

    # -- the dispatch log (a store too: JSON lines on local disk) ------------------------
    async def append_log(self, entry: dict[str, Any]) -> None:
        async with self._file_lock:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with self.log_path.open("a") as out:
                out.write(json.dumps(entry, sort_keys=True) + "\n")

    def _log_lines(self) -> list[str]:
        return self.log_path.read_text().splitlines() if self.log_path.exists() else []

    # -- erasing -----------------------------------------------------------------------
    async def request(self, tenant: str, identifiers: list[str]) -> dict[str, Any]:
        erasure = f"e-{uuid.uuid4().hex[:16]}"
        await self.store.execute(
            "INSERT INTO comms_erasures (id, tenant, identifiers, replays, at)"
            " VALUES (?, ?, ?, 0, ?)",
            (erasure, tenant, json.dumps(sorted(set(identifiers))), self.clock.now()),
        )
        await self._deliver(erasure, tenant, identifiers)
        return {"id": erasure, "stores": list(STORES)}

    def _dropped(self, store: str) -> bool:
        """Whether this delivery to ``store``'s consumer was lost (a chaos run's fault)."""
        injector = self.runtime.injector
        if injector is None:
            return False
        decision = injector.decide(f"erasure.{store}", self.clock.now())
        return decision is not None and decision.result is not mitigate.NO_RESULT

    async def _deliver(self, erasure: str, tenant: str, identifiers: list[str]) -> None:
        for store in STORES:
            if self._dropped(store):
                log.warning("erasure %s: delivery to %s lost", erasure, store)
                continue
            await self._erase(store, tenant, identifiers)

    async def _erase(self, store: str, tenant: str, identifiers: list[str]) -> None:
        if store == "dispatch-log":
            async with self._file_lock:
                kept = [line for line in self._log_lines() if not _mentions(line, identifiers)]
                if self.log_path.exists():
                    self.log_path.write_text("".join(f"{line}\n" for line in kept))
            return
        table, column = _TABLES[store]
        marks = ", ".join("?" for _ in identifiers)
        extra = ", vars = '{}'" if store == "dispatches" else ""
        await self.store.execute(
            f"UPDATE {table} SET {column} = ?{extra} WHERE tenant = ? AND {column} IN ({marks})",
            (ERASED, tenant, *identifiers),
        )

    # -- reconciliation ----------------------------------------------------------------
    async def residue(self, tenant: str, identifiers: list[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        marks = ", ".join("?" for _ in identifiers)
        for store, (table, column) in _TABLES.items():
            rows = await self.store.fetch(
                f"SELECT COUNT(*) FROM {table} WHERE tenant = ? AND {column} IN ({marks})",
                (tenant, *identifiers),
            )
            if int(rows[0][0]):
                found[store] = int(rows[0][0])
        lines = sum(1 for line in self._log_lines() if _mentions(line, identifiers))
        if lines:
            found["dispatch-log"] = lines
        return found

    async def reconcile(self) -> list[dict[str, Any]]:
        """Scan every store for every erased subject; replay the erasures with residue."""
        rows = await self.store.fetch("SELECT id, tenant, identifiers FROM comms_erasures")
        report = []
        for erasure, tenant, raw in rows:
            identifiers = list(json.loads(raw))
            found = await self.residue(str(tenant), identifiers)
            if not found:
                continue
            for store, count in found.items():
                self.runtime.emit(
                    ResidueFound(
                        target=f"erasure.{store}", at=self.clock.now(), erasure=erasure, rows=count
                    )
                )
            replayed = bool(self.runtime.switches.enabled(self.replay_switch))
            if replayed:
                await self._deliver(str(erasure), str(tenant), identifiers)
                await self.store.execute(
                    "UPDATE comms_erasures SET replays = replays + 1 WHERE id = ?", (erasure,)
                )
            report.append({"erasure": erasure, "residue": found, "replayed": replayed})
        return report

    async def run(self, stop: asyncio.Event, every: float) -> None:
        while not stop.is_set():
            await self.clock.asleep(every)
            try:
                await self.reconcile()
            except Exception:
                log.exception("erasure reconciliation failed; next run retries")


def _mentions(line: str, identifiers: list[str]) -> bool:
    try:
        entry = json.loads(line)
    except ValueError:
        return any(i in line for i in identifiers)
    return any(str(v) in identifiers for v in entry.values())
