"""Thread participants across tenants (comms.fm.12): checked twice.

The application refuses a user of another tenant (403); under it, the database refuses
the row whatever the code did: a PostgreSQL row-level-security policy ``WITH CHECK``
(the participant, the thread and the row share the transaction's tenant) and, on the
embedded SQLite store, a trigger with the same condition. Each refusal emits
``comms.participant_rejected`` naming the layer that refused. On PostgreSQL the service
connects as ``comms_app`` (``app_role``; the tables' owner runs the migrations), and
:func:`check_database_role` refuses to start on a connection RLS would not bind.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, ClassVar

import mitigate
from services.kit.errors import ServiceError
from services.kit.roles import check_rls_binds

__all__ = ["APP_CHECK_POINT", "ParticipantRejected", "Participants", "check_database_role"]

# Fault point: a chaos run drops the application check here (the bug the row imagines).
APP_CHECK_POINT = "participants.app-check"
_DB_REFUSALS = ("row-level security", "COMMS_CROSS_TENANT")


@dataclass(frozen=True, slots=True, kw_only=True)
class ParticipantRejected(mitigate.Event):
    """A user of another tenant was refused as a thread participant."""

    name: ClassVar[str] = "comms.participant_rejected"
    default_severity: ClassVar[mitigate.Severity] = mitigate.Severity.CRITICAL
    layer: str = ""  # application or database
    thread: str = ""
    user: str = ""


def _refused_by_database(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if any(mark in str(seen) for mark in _DB_REFUSALS):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class Participants:
    def __init__(self, runtime: Any, *, switch: str) -> None:
        self.runtime = runtime
        self.store = runtime.store
        self.clock = runtime.clock
        self.switch = switch

    def _app_check(self) -> bool:
        if not self.runtime.switches.enabled(self.switch):
            return False
        injector = self.runtime.injector
        if injector is None:
            return True
        decision = injector.decide(APP_CHECK_POINT, self.clock.now())
        return decision is None or decision.result is mitigate.NO_RESULT

    async def register(self, tenant: str, user: str) -> dict[str, Any]:
        """Put ``user`` in ``tenant``'s directory; a user id of another tenant is refused."""
        await self.store.execute(
            "INSERT INTO comms_users (id, tenant, at) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING",
            (user, tenant, self.clock.now()),
        )
        rows = await self.store.fetch("SELECT tenant FROM comms_users WHERE id = ?", (user,))
        if str(rows[0][0]) != tenant:
            raise ServiceError("COMMS.USER.TAKEN", f"user id {user} is taken", status=409)
        return {"user": user, "tenant": tenant}

    async def open_thread(self, tenant: str, patient: str) -> dict[str, Any]:
        thread = f"t-{uuid.uuid4().hex[:16]}"
        await self.store.execute(
            "INSERT INTO comms_threads (id, tenant, patient, day, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (thread, tenant, patient, int(self.clock.wall() // 86400), self.clock.now()),
        )
        return {"id": thread, "patient": patient}

    async def _thread_tenant(self, thread: str) -> str | None:
        rows = await self.store.fetch("SELECT tenant FROM comms_threads WHERE id = ?", (thread,))
        return str(rows[0][0]) if rows else None

    async def add(self, tenant: str, thread: str, user: str) -> dict[str, Any]:
        if await self._thread_tenant(thread) != tenant:  # fail closed: not this tenant's
            raise ServiceError("COMMS.THREAD.UNKNOWN", f"no thread {thread}", status=404)
        if self._app_check():
            rows = await self.store.fetch("SELECT tenant FROM comms_users WHERE id = ?", (user,))
            if not rows or str(rows[0][0]) != tenant:
                self._rejected("application", thread, user)
        try:
            async with self.store.transaction() as tx:
                if self.store.dialect == "postgres":
                    await tx.execute("SELECT set_config('app.tenant_id', ?, true)", (tenant,))
                await tx.execute(
                    "INSERT INTO comms_thread_participants (tenant, thread_id, user_id, at)"
                    " VALUES (?, ?, ?, ?) ON CONFLICT (thread_id, user_id) DO NOTHING",
                    (tenant, thread, user, self.clock.now()),
                )
        except Exception as exc:
            if _refused_by_database(exc):
                self._rejected("database", thread, user)
            raise
        return {"thread": thread, "user": user}

    def _rejected(self, layer: str, thread: str, user: str) -> None:
        self.runtime.emit(
            ParticipantRejected(
                target=f"participants.{layer}",
                at=self.clock.now(),
                layer=layer,
                thread=thread,
                user=user,
            )
        )
        raise ServiceError(
            "COMMS.PARTICIPANT.CROSS_TENANT",
            f"user {user} is not of this thread's tenant",
            status=403,
            details={"refusedBy": layer},
        )

    async def listing(self, tenant: str, thread: str) -> list[str]:
        async with self.store.transaction() as tx:
            if self.store.dialect == "postgres":
                await tx.execute("SELECT set_config('app.tenant_id', ?, true)", (tenant,))
            rows = await tx.fetchall(
                "SELECT user_id FROM comms_thread_participants WHERE tenant = ? AND thread_id = ?"
                " ORDER BY at, user_id",
                (tenant, thread),
            )
        return [str(r[0]) for r in rows]


async def check_database_role(runtime: Any) -> None:
    """At start on PostgreSQL: the service's own connection must be bound by the
    participants' row-level security (not a superuser, not the table's owner, no
    BYPASSRLS; RLS enabled and forced), else it refuses to run (``RlsError``)."""
    # SQLite: the trigger does the database's part.
    await check_rls_binds(runtime, ["comms_thread_participants"])
