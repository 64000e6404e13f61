"""Per-key actors (the Durable Object role): one writer per key, state in the store.

``ActorHost.call(actor, tenant, method, fn)`` runs ``fn(state, tx)`` under the actor's
lock (calls to one key never interleave) inside one store transaction: the state is read,
the method mutates it, the state is written back and the transaction commits. A method
that raises, even after mutating, leaves the state as it was before the call (the
transaction rolls back); the error is counted (``durable_object_invocations_total`` with
``status="error"``), emitted as :class:`ActorFailed` and logged with the tenant and the
actor id, and the actor serves its next call normally.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry, Counter

from mitigate.web import current_trace_id

from .events import ActorFailed

__all__ = ["ActorHost"]

T = TypeVar("T")
Method = Callable[[dict[str, Any], Any], Awaitable[T]]

log = logging.getLogger("services.edge.actors")


class ActorHost:
    def __init__(self, runtime: Any, *, registry: CollectorRegistry) -> None:
        self.rt = runtime
        self._locks: dict[str, asyncio.Lock] = {}
        self.invocations = Counter(
            "durable_object_invocations",
            "Actor method calls by outcome",
            ["status"],
            registry=registry,
        )

    def _lock(self, actor: str) -> asyncio.Lock:
        lock = self._locks.get(actor)
        if lock is None:
            lock = self._locks[actor] = asyncio.Lock()
        return lock

    async def state(self, actor: str) -> dict[str, Any]:
        rows = await self.rt.store.fetch(
            "SELECT state FROM edge_actor_state WHERE actor = ?", (actor,)
        )
        return dict(json.loads(rows[0][0])) if rows else {}

    async def call(self, actor: str, tenant: str, method: str, fn: Method[T]) -> T:
        async with self._lock(actor):
            state: dict[str, Any] = {}
            try:
                async with self.rt.store.transaction() as tx:
                    row = await tx.fetchone(
                        "SELECT state FROM edge_actor_state WHERE actor = ?", (actor,)
                    )
                    state = dict(json.loads(row[0])) if row else {}
                    result = await fn(state, tx)
                    await _save(tx, actor, state)
            except Exception as exc:
                self.invocations.labels(status="error").inc()
                self.rt.emit(
                    ActorFailed(
                        target="actor." + method,
                        at=self.rt.clock.now(),
                        actor=actor,
                        tenant_id=tenant,
                        method=method,
                        error=exc,
                    )
                )
                fields = {
                    "requestId": current_trace_id() or "",
                    "tenantId": tenant,
                    "actor": actor,
                    "method": method,
                }
                log.error("actor method failed %s", json.dumps(fields), extra=fields)
                if not self.rt.switches.enabled("edge.switch.actor-transaction"):
                    # The mutation: what the method had already written stays written.
                    async with self.rt.store.transaction() as tx:
                        await _save(tx, actor, state)
                raise
            self.invocations.labels(status="ok").inc()
            return result


async def _save(tx: Any, actor: str, state: dict[str, Any]) -> None:
    await tx.execute("DELETE FROM edge_actor_state WHERE actor = ?", (actor,))
    await tx.execute(
        "INSERT INTO edge_actor_state (actor, state, version) VALUES (?, ?, 0)",
        (actor, json.dumps(state, sort_keys=True)),
    )
