"""Health checks: named dependency checks with per-check timeouts, for liveness and readiness.

``live()`` answers "is this process working at all?" (a restart would help when not):
only the checks registered with ``liveness=True`` run. ``ready()`` answers "should this
instance take traffic now?": every check runs, at once, each bounded by its timeout on the
clock. A failing *critical* check makes the instance not ready; a failing non-critical one
only marks it ``degraded``. ``routes()`` serves both as ``/healthz`` and ``/readyz``.

>>> import asyncio
>>> from mitigate.clock import VirtualClock
>>> health = Health(clock=VirtualClock(), timeout=1.0)
>>> async def database() -> None:
...     pass
>>> async def thumbnails() -> bool:
...     return False
>>> health.check("database", database)
>>> health.check("thumbnails", thumbnails, critical=False)
>>> ok, details = asyncio.run(health.ready())
>>> ok, details["status"], details["checks"]["thumbnails"]["error"]
(True, 'degraded', 'answered False')

.. versionadded:: 0.1
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from mitigate.clock import Clock, default_clock
from mitigate.errors import ConfigError
from mitigate.observe.observers import Observer, Observers
from mitigate.observe.service_events import HealthCheckFailed

__all__ = ["CheckFn", "Health"]

#: A check: sync or async, no arguments. It fails when it raises or returns False.
CheckFn = Callable[[], Awaitable[object] | object]

_MAX_ERROR = 200  # health bodies may be public: say what failed, not a whole dump


@dataclass(frozen=True, slots=True)
class _Check:
    name: str
    fn: CheckFn
    critical: bool
    timeout: float
    liveness: bool


class Health:
    """Named checks, run concurrently, each bounded by its own timeout on ``clock``.

    ``timeout`` is the default per check (seconds). ``observers`` get a
    :class:`~mitigate.observe.service_events.HealthCheckFailed` per failing check.
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        timeout: float = 2.0,
        observers: Iterable[Observer] = (),
    ) -> None:
        self.clock = clock if clock is not None else default_clock()
        self.timeout = _positive(timeout, "timeout")
        self.observers = Observers(observers)
        self._checks: dict[str, _Check] = {}

    def check(
        self,
        name: str,
        fn: CheckFn,
        *,
        critical: bool = True,
        timeout: float | None = None,
        liveness: bool = False,
    ) -> None:
        """Register a check (a name is used once). ``liveness=True`` also runs it in
        :meth:`live`: use it only for what a restart fixes (a stuck loop), never for a
        dependency, or an outage restarts every instance."""
        if not name or name in self._checks:
            raise ConfigError(
                name or None,
                "a health check needs a unique, non-empty name",
                code="MITIGATE.CONFIG.HEALTH",
            )
        seconds = self.timeout if timeout is None else _positive(timeout, f"{name} timeout")
        self._checks[name] = _Check(name, fn, critical, seconds, liveness)

    @property
    def names(self) -> list[str]:
        return list(self._checks)

    async def live(self) -> bool:
        """True when every critical liveness check passes (True with none registered)."""
        ok, _ = await self._run([c for c in self._checks.values() if c.liveness])
        return ok

    async def ready(self) -> tuple[bool, dict[str, Any]]:
        """Run every check; ``(ok, details)`` where ``details`` is the JSON body:
        ``{"status": "ok" | "degraded" | "failing", "checks": {name: {...}}}``."""
        return await self._run(list(self._checks.values()))

    async def live_details(self) -> tuple[bool, dict[str, Any]]:
        """Like :meth:`live`, with the body ``/healthz`` serves."""
        return await self._run([c for c in self._checks.values() if c.liveness])

    def routes(self, *, live_path: str = "/healthz", ready_path: str = "/readyz") -> list[Route]:
        """Starlette routes (FastAPI: ``app.router.routes.extend(health.routes())``):
        200 when ok or degraded, 503 when a critical check fails."""
        return [
            Route(live_path, self.asgi("live"), methods=["GET", "HEAD"]),
            Route(ready_path, self.asgi("ready"), methods=["GET", "HEAD"]),
        ]

    def asgi(self, kind: str) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
        """A bare ASGI app answering the ``"live"`` or ``"ready"`` body."""
        if kind not in ("live", "ready"):
            raise ConfigError(kind, "kind must be 'live' or 'ready'", code="MITIGATE.CONFIG.HEALTH")
        return _HealthApp(self.live_details if kind == "live" else self.ready)

    async def _run(self, checks: list[_Check]) -> tuple[bool, dict[str, Any]]:
        results = await asyncio.gather(*(self._one(c) for c in checks))
        by_name = {c.name: r for c, r in zip(checks, results, strict=True)}
        failing = any(not r["ok"] and r["critical"] for r in results)
        degraded = any(not r["ok"] for r in results)
        status = "failing" if failing else "degraded" if degraded else "ok"
        return not failing, {"status": status, "checks": by_name}

    async def _one(self, check: _Check) -> dict[str, Any]:
        started = self.clock.now()
        error = await self._within_timeout(check)
        duration = round(self.clock.now() - started, 6)
        result: dict[str, Any] = {
            "ok": error is None,
            "critical": check.critical,
            "duration": duration,
        }
        if error is not None:
            result["error"] = error
            if self.observers:
                self.observers.emit(
                    HealthCheckFailed(
                        target=check.name,
                        at=self.clock.now(),
                        critical=check.critical,
                        reason=error,
                        duration=duration,
                    )
                )
        return result

    async def _within_timeout(self, check: _Check) -> str | None:
        """None when the check passed, else what went wrong (short, one line)."""
        work = asyncio.ensure_future(_call(check.fn))
        timer = asyncio.ensure_future(self.clock.asleep(check.timeout))
        try:
            await asyncio.wait({work, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
            timed_out = not work.done()
            if timed_out:
                work.cancel()  # also when the probe itself was cancelled (client gone)
        if timed_out:
            return f"timed out after {check.timeout:g}s"
        exc = work.exception()
        if exc is not None:
            return f"{type(exc).__name__}: {exc}"[:_MAX_ERROR]
        answer = work.result()
        if answer is False:
            return "answered False"
        return None


class _HealthApp:
    """An ASGI app (a class, so Starlette's Route passes it scope, receive and send)."""

    def __init__(self, run: Callable[[], Awaitable[tuple[bool, dict[str, Any]]]]) -> None:
        self.run = run

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ok, details = await self.run()
        body = json.dumps(details, sort_keys=True).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"),
        ]
        await send(
            {"type": "http.response.start", "status": 200 if ok else 503, "headers": headers}
        )
        head = scope.get("method") == "HEAD"
        await send({"type": "http.response.body", "body": b"" if head else body})


async def _call(fn: CheckFn) -> object:
    result = fn()
    if inspect.isawaitable(result):
        return await result
    return result


def _positive(seconds: float, what: str) -> float:
    if not seconds > 0:
        raise ConfigError(
            what, f"must be a positive number of seconds, not {seconds!r}",
            code="MITIGATE.CONFIG.HEALTH",
        )  # fmt: skip
    return float(seconds)
