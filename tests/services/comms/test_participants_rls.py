"""comms.fm.12 on real PostgreSQL: with the application check off, the row-level-security
policy (FORCEd, WITH CHECK) of the comms migrations refuses a participant of another
tenant, for a service connected as a plain application role."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest
from services.comms.participants import Participants
from services.comms.schema import ensure_schema
from services.kit.errors import ServiceError
from tests.conftest import require_postgres

import mitigate
from mitigate.guard.rls import app_role_sql

SWITCH = "comms.switch.participant-check"
TABLES = ("comms_users", "comms_threads", "comms_thread_participants")


class _AppCheckOff:
    def enabled(self, name: str) -> bool:
        return name != SWITCH


@pytest.fixture
async def stores() -> AsyncIterator[tuple[Any, Any]]:
    """(owner store, application-role store) on one throwaway schema."""
    dsn = require_postgres()
    schema = f"comms_rls_{uuid.uuid4().hex[:10]}"
    role = f"{schema}_app"
    owner = await mitigate.open_store(f"{dsn}?schema={schema}", migrate=False)
    await owner.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    await ensure_schema(owner)
    for statement in app_role_sql(
        role, schema=schema, tables=[f"{schema}.{t}" for t in TABLES], login=True
    ):
        await owner.execute(statement)
    host = dsn.split("@", 1)[1]
    app = await mitigate.open_store(f"postgresql://{role}@{host}?schema={schema}", migrate=False)
    yield owner, app
    await app.aclose()
    await owner.drop_schema()
    await owner.execute(f'DROP OWNED BY "{role}"')
    await owner.execute(f'DROP ROLE "{role}"')
    await owner.aclose()


def _service(store: Any, events: list[Any]) -> Participants:
    runtime = SimpleNamespace(
        store=store,
        clock=mitigate.VirtualClock(),
        switches=_AppCheckOff(),
        injector=None,
        emit=events.append,
    )
    return Participants(runtime, switch=SWITCH)


async def test_rls_with_check_refuses_a_participant_of_another_tenant(
    stores: tuple[Any, Any],
) -> None:
    owner, app = stores
    events: list[Any] = []
    setup = _service(owner, events)
    await setup.register("clinic-a", "dr-ada")
    await setup.register("clinic-b", "dr-bob")
    thread = (await setup.open_thread("clinic-a", "pat-1"))["id"]

    service = _service(app, events)
    assert await service.add("clinic-a", thread, "dr-ada") == {"thread": thread, "user": "dr-ada"}
    with pytest.raises(ServiceError) as refused:
        await service.add("clinic-a", thread, "dr-bob")  # the application check is off
    assert refused.value.status == 403
    assert refused.value.details == {"refusedBy": "database"}
    assert [e.layer for e in events] == ["database"]
    assert await service.listing("clinic-a", thread) == ["dr-ada"]
    assert await service.listing("clinic-b", thread) == []  # USING hides tenant A's rows
    rows = await owner.fetch(
        "SELECT user_id FROM comms_thread_participants WHERE thread_id = ?", (thread,)
    )
    assert [r[0] for r in rows] == ["dr-ada"]


async def test_without_a_tenant_the_application_role_writes_nothing(
    stores: tuple[Any, Any],
) -> None:
    owner, app = stores
    setup = _service(owner, [])
    await setup.register("clinic-a", "dr-ada")
    thread = (await setup.open_thread("clinic-a", "pat-1"))["id"]
    with pytest.raises(mitigate.StoreError, match="row-level security"):
        await app.execute(
            "INSERT INTO comms_thread_participants (tenant, thread_id, user_id, at)"
            " VALUES (?, ?, ?, 0)",
            ("clinic-a", thread, "dr-ada"),
        )
