"""Health: per-check timeouts on the clock, critical vs not, liveness vs readiness, routes."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from starlette.applications import Starlette

from mitigate.clock import VirtualClock
from mitigate.errors import ConfigError
from mitigate.observe.observers import Recorder
from mitigate.observe.service_events import HealthCheckFailed
from mitigate.web import Health


def _health(clock: VirtualClock, rec: Recorder | None = None) -> Health:
    health = Health(clock=clock, timeout=2.0, observers=[rec] if rec is not None else ())

    async def database() -> None:
        await clock.asleep(0.05)

    health.check("database", database)
    health.check("loop", lambda: True, liveness=True)
    return health


async def test_all_passing_is_ok_and_lists_each_check() -> None:
    clock = VirtualClock()
    ok, details = await _health(clock).ready()
    assert ok and details["status"] == "ok"
    assert set(details["checks"]) == {"database", "loop"}
    assert details["checks"]["database"] == {"ok": True, "critical": True, "duration": 0.05}


async def test_a_hanging_check_times_out_on_the_clock_and_checks_run_concurrently() -> None:
    clock = VirtualClock()
    rec = Recorder()
    health = _health(clock, rec)

    async def hangs() -> None:
        await clock.asleep(3600)

    async def slow_cache() -> None:
        await clock.asleep(1.5)

    health.check("search", hangs, timeout=0.5)
    health.check("cache", slow_cache, critical=False)
    started = clock.now()
    ok, details = await health.ready()
    assert clock.now() - started == pytest.approx(1.5)  # concurrent: the slowest one, not a sum
    assert not ok and details["status"] == "failing"
    assert details["checks"]["search"] == {
        "ok": False, "critical": True, "duration": 0.5, "error": "timed out after 0.5s",
    }  # fmt: skip
    assert details["checks"]["cache"]["ok"]
    (event,) = rec.of(HealthCheckFailed)
    assert event.target == "search" and event.critical


async def test_a_non_critical_failure_only_degrades() -> None:
    clock = VirtualClock()
    health = _health(clock)

    def thumbnails() -> None:
        raise ConnectionError("thumbnailer at 127.0.0.1:9 refused")

    health.check("thumbnails", thumbnails, critical=False)
    ok, details = await health.ready()
    assert ok and details["status"] == "degraded"
    assert details["checks"]["thumbnails"]["error"].startswith("ConnectionError: thumbnailer")


async def test_liveness_runs_only_liveness_checks() -> None:
    clock = VirtualClock()
    health = _health(clock)
    health.check("database_down", lambda: False)
    assert await health.live()  # a dependency outage must not restart the instance
    assert not (await health.ready())[0]
    health.check("stuck_worker", lambda: False, liveness=True)
    assert not await health.live()


async def test_routes_serve_healthz_and_readyz() -> None:
    clock = VirtualClock()
    health = _health(clock)
    down = asyncio.Event()
    health.check("bus", lambda: not down.is_set())
    app = Starlette(routes=health.routes())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://svc"
    ) as client:
        ready = await client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "ok"
        down.set()
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["bus"] == {
            "ok": False, "critical": True, "duration": 0.0, "error": "answered False",
        }  # fmt: skip
        live = await client.get("/healthz")
        assert live.status_code == 200 and set(live.json()["checks"]) == {"loop"}
        head = await client.head("/readyz")
        assert head.status_code == 503 and head.content == b""


def test_bad_registration_is_refused() -> None:
    health = Health(clock=VirtualClock())
    health.check("db", lambda: True)
    with pytest.raises(ConfigError, match="unique"):
        health.check("db", lambda: True)
    with pytest.raises(ConfigError, match="positive"):
        health.check("x", lambda: True, timeout=0)
    with pytest.raises(ConfigError):
        health.asgi("deep")
