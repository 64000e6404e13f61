"""On PostgreSQL the comms service connects as its app role, which row-level security
binds: ``--backend postgres`` makes the backend's user the tables' owner (it runs the
migrations and grants) and connects the service as ``comms_app``; a service pointed at
a superuser connection refuses to start."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import psycopg
import pytest
from services.comms.service import open_comms
from services.comms.settings import CommsSettings
from tests.conftest import POSTGRES_DSN, require_postgres

import mitigate


def _drop(schema: str) -> None:
    with psycopg.connect(POSTGRES_DSN, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_with_backend_postgres_the_service_connects_as_the_app_role(tmp_path: Path) -> None:
    require_postgres()
    schema = f"comms_role_{uuid.uuid4().hex[:10]}"
    settings = CommsSettings(data_dir=tmp_path, schema_name=schema).with_backend("postgres")
    assert settings.store_owner == POSTGRES_DSN
    assert settings.store.startswith("postgresql://comms_app@")

    async def scenario() -> tuple[str, bool]:
        comms = await open_comms(settings)  # type: ignore[arg-type]
        try:
            ((user, bypass),) = await comms.runtime.store.fetch(
                "SELECT current_user, rolbypassrls OR rolsuper FROM pg_roles"
                " WHERE rolname = current_user"
            )
            return str(user), bool(bypass)
        finally:
            await comms.aclose()

    try:
        assert asyncio.run(scenario()) == ("comms_app", False)
    finally:
        _drop(schema)


def test_a_superuser_connection_is_refused_at_start(tmp_path: Path) -> None:
    require_postgres()
    schema = f"comms_role_{uuid.uuid4().hex[:10]}"
    settings = CommsSettings(data_dir=tmp_path, schema_name=schema, store=POSTGRES_DSN)

    async def scenario() -> None:
        await open_comms(settings)

    try:
        with pytest.raises(mitigate.RlsError, match=r"superuser|owner"):
            asyncio.run(scenario())
    finally:
        _drop(schema)
