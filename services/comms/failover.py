"""The primary database lost (comms.fm.5): replica reads, preflight writes, 503 for the rest.

- ``PrimaryStore`` is the service's store seen as the primary server: every call passes
  the fault point ``store.primary`` first (a chaos run cuts the connection there, as the
  TCP proxy would on a real link); a cut call raises ``StoreUnavailableError`` and emits
  ``comms.db_connection_error`` (the rule counts them).
- Reads the API serves (dispatches) fall back to the **replica**: read-only, a second
  connection (PostgreSQL: the streaming replica's URL; embedded: the same SQLite file
  through its own connection, the analogue of a synchronous replica).
- A new dispatch is a **queueable write**: with the primary away it is accepted into the
  local **preflight store** (a SQLite file beside the service) under the id it answers
  with; the drain inserts it into the primary once it is back, keyed by that id (``ON
  CONFLICT DO NOTHING``), so a drain interrupted after the insert and run again adds
  nothing. Every other write fails with 503 and Retry-After.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import mitigate

__all__ = ["CUT_POINT", "MARK_POINT", "DbConnectionError", "Failover", "PrimaryStore"]

CUT_POINT = "store.primary"  # fault point: the primary's connection
MARK_POINT = "preflight.mark"  # fault point: the drain stops between insert and mark
log = logging.getLogger("services.comms.failover")
T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class DbConnectionError(mitigate.Event):
    name: ClassVar[str] = "comms.db_connection_error"
    default_severity: ClassVar[mitigate.Severity] = mitigate.Severity.ERROR


def _cut(injector: Any, at: float, point: str) -> Any:
    if injector is None:
        return None
    decision = injector.decide(point, at)
    if decision is None:
        return None
    if decision.error is not None:
        return decision.error
    return decision if decision.result is not mitigate.NO_RESULT else None


class PrimaryStore:
    """A store whose calls pass the ``store.primary`` fault point first."""

    def __init__(self, inner: Any, *, injector: Any, emit: Callable[[Any], None]) -> None:
        self.inner = inner
        self.injector = injector
        self.emit = emit

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _reach(self) -> None:
        now = self.inner.clock.now()
        cut = _cut(self.injector, now, CUT_POINT)
        if cut is None:
            return
        error = cut if isinstance(cut, BaseException) else ConnectionError("connection cut")
        self.emit(DbConnectionError(target=CUT_POINT, at=now, error=error))
        raise mitigate.StoreUnavailableError(CUT_POINT, f"the primary is unreachable: {cut}")

    def _lost(self, error: BaseException) -> None:
        # A real cut (the server gone, the link down) counts as the injected one does.
        self.emit(DbConnectionError(target=CUT_POINT, at=self.inner.clock.now(), error=error))

    async def execute(self, sql: str, params: Any = ()) -> int:
        self._reach()
        try:
            return int(await self.inner.execute(sql, params))
        except mitigate.StoreUnavailableError as exc:
            self._lost(exc)
            raise

    async def fetch(self, sql: str, params: Any = ()) -> list[Any]:
        self._reach()
        try:
            return list(await self.inner.fetch(sql, params))
        except mitigate.StoreUnavailableError as exc:
            self._lost(exc)
            raise

    @contextlib.asynccontextmanager
    async def transaction(self, *, durable: bool = True) -> AsyncIterator[Any]:
        self._reach()
        try:
            async with self.inner.transaction(durable=durable) as tx:
                yield tx
        except mitigate.StoreUnavailableError as exc:
            self._lost(exc)
            raise


_PREFLIGHT = """CREATE TABLE IF NOT EXISTS comms_preflight (
    id TEXT PRIMARY KEY, tenant TEXT NOT NULL, body TEXT NOT NULL,
    at DOUBLE PRECISION NOT NULL, drained_at DOUBLE PRECISION)"""


class Failover:
    def __init__(
        self,
        runtime: Any,
        *,
        replica: Any,
        preflight: Any,
        switches: dict[str, str],
        on_drained: Callable[[str, str, dict[str, Any], float], Awaitable[None]] | None = None,
    ) -> None:
        self.runtime = runtime
        self.primary = runtime.store
        self.replica = replica
        self.preflight = preflight
        self.clock = runtime.clock
        self.switches = switches
        self.on_drained = on_drained  # the dispatch log entry, once the row is in
        self.drained = 0

    @classmethod
    async def open(cls, runtime: Any, settings: Any, **options: Any) -> Failover:
        replica_url = settings.in_schema(settings.replica) or (
            runtime.settings.store_url if runtime.store.dialect == "sqlite" else ""
        )
        replica = None
        if replica_url:
            replica = await mitigate.open_store(replica_url, clock=runtime.clock, migrate=False)
        preflight = await mitigate.open_store(
            f"sqlite:///{settings.data_dir}/comms-preflight.db", clock=runtime.clock, migrate=False
        )
        await preflight.execute(_PREFLIGHT)
        return cls(runtime, replica=replica, preflight=preflight, **options)

    async def aclose(self) -> None:
        for store in (self.replica, self.preflight):
            if store is not None:
                await store.aclose()

    def _on(self, what: str) -> bool:
        return bool(self.runtime.switches.enabled(self.switches[what]))

    async def read(self, fn: Callable[[Any], Awaitable[T]]) -> tuple[T, str]:
        """``fn(store)`` on the primary; on the replica while the primary is away."""
        try:
            return await fn(self.primary), "primary"
        except mitigate.StoreUnavailableError:
            if self.replica is None or not self._on("replica"):
                raise
        return await fn(self.replica), "replica"

    async def accept(self, dispatch_id: str, tenant: str, body: dict[str, Any]) -> bool:
        """Keep a new dispatch for later (False: preflight writes are off)."""
        if not self._on("preflight"):
            return False
        await self.preflight.execute(
            "INSERT INTO comms_preflight (id, tenant, body, at) VALUES (?, ?, ?, ?)",
            (dispatch_id, tenant, json.dumps(body, sort_keys=True), self.clock.now()),
        )
        return True

    async def waiting(self, tenant: str, dispatch_id: str | None = None) -> list[dict[str, Any]]:
        """Dispatches of ``tenant`` accepted into the preflight store, not yet drained."""
        sql = "SELECT id, body, at FROM comms_preflight WHERE tenant = ? AND drained_at IS NULL"
        params: tuple[Any, ...] = (tenant,)
        if dispatch_id is not None:
            sql += " AND id = ?"
            params += (dispatch_id,)
        rows = await self.preflight.fetch(sql + " ORDER BY at, id", params)
        return [_preflight_view(str(i), tenant, json.loads(b), float(a)) for i, b, a in rows]

    async def drain(self) -> int:
        """Move waiting rows into the primary, each once; 0 while it is still away."""
        rows = await self.preflight.fetch(
            "SELECT id, tenant, body, at FROM comms_preflight WHERE drained_at IS NULL"
            " ORDER BY at, id"
        )
        moved = 0
        for dispatch_id, tenant, raw, at in rows:
            body = json.loads(raw)
            try:
                added = await self.primary.execute(
                    "INSERT INTO comms_dispatches (id, tenant, category, channel, template,"
                    " recipient, vars, state, tries, due_at, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', 0, ?, ?, ?)"
                    " ON CONFLICT (id) DO NOTHING",
                    (
                        dispatch_id,
                        tenant,
                        body["category"],
                        body["channel"],
                        body["template"],
                        body["to"],
                        json.dumps(body.get("vars") or {}),
                        self.clock.now(),
                        float(at),
                        self.clock.now(),
                    ),
                )
            except mitigate.StoreUnavailableError:
                return moved  # still away: the next tick tries again
            if added and self.on_drained is not None:
                await self.on_drained(str(dispatch_id), str(tenant), body, float(at))
            if _cut(self.runtime.injector, self.clock.now(), MARK_POINT) is not None:
                log.warning("preflight drain of %s stopped before marking it", dispatch_id)
                return moved  # as if the process died here: the next tick sees it again
            await self.preflight.execute(
                "UPDATE comms_preflight SET drained_at = ? WHERE id = ?",
                (self.clock.now(), dispatch_id),
            )
            moved += 1
        self.drained += moved
        return moved


def _preflight_view(
    dispatch_id: str, tenant: str, body: dict[str, Any], at: float
) -> dict[str, Any]:
    return {
        "id": dispatch_id,
        "tenant": tenant,
        "category": body["category"],
        "channel": body["channel"],
        "template": body["template"],
        "state": "preflight",
        "provider": None,
        "reason": "accepted while the primary database was away; stored when it is back",
        "tries": 0,
        "createdAt": at,
        "updatedAt": at,
    }
