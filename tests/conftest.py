"""Shared test helpers: real-server gates.

A backend test calls ``require_postgres()`` (or redis, nats). On a user's machine without
that server the test is skipped with the reason; in CI (``CI=true``) an absent server fails
the test instead, so nothing is skipped silently.
"""

from __future__ import annotations

import os
import socket

import pytest

POSTGRES_DSN = os.environ.get(
    "MITIGATE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("MITIGATE_TEST_REDIS", "redis://127.0.0.1:6379/0")
NATS_URL = os.environ.get("MITIGATE_TEST_NATS", "nats://127.0.0.1:4222")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _reachable(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def require_or_skip(present: bool, reason: str) -> None:
    """Nothing when ``present``; else skip with ``reason``, or fail under CI=true."""
    if present:
        return
    if in_ci():
        pytest.fail(f"{reason}, and CI=true requires it")
    pytest.skip(reason)


def _require(name: str, port: int) -> None:
    require_or_skip(_reachable(port), f"{name} is not reachable on 127.0.0.1:{port}")


def require_postgres() -> str:
    """Return the test DSN, or skip (fail under CI) when PostgreSQL is absent."""
    _require("PostgreSQL", 5432)
    return POSTGRES_DSN


def require_redis() -> str:
    _require("Redis", 6379)
    return REDIS_URL


def require_nats() -> str:
    _require("NATS JetStream", 4222)
    return NATS_URL


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "background_run(name, *argv): the test reads a mitigate run started"
        " at collection (tests/background.py)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Tests that read a background run go last: their runs get the whole suite's time.
    from tests.background import MARKER

    waiting = [i for i in items if i.get_closest_marker(MARKER) is not None]
    items[:] = [i for i in items if i.get_closest_marker(MARKER) is None] + waiting


def pytest_collection_finish(session: pytest.Session) -> None:
    # After -k / -m / deselection: only the runs of tests that will run start.
    from tests.background import start_marked

    start_marked(session.items)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    from tests.background import RUNS

    RUNS.stop_all()
