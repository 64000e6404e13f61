"""The comms service opened for one experiment run: its workers running on the run's
clock, its fake providers in process, and a client that drives it over HTTP.

The service is built on the run's policies (faults attach to them and ``--mutate`` can
remove them), switches and observers plus the run's catalog detector, so what the service
emits (``template.not_found``, ``pii.leak_blocked``) reaches the detection rules.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from services.kit.runtime import AllOn, Runtime

from .fakes import FakeProviders
from .service import Comms, open_comms
from .settings import HERE, CommsSettings
from .workers import running

__all__ = ["OPS_TOKEN", "World", "alerts", "open_world"]

OPS_TOKEN = "experiment-operator"


@dataclass
class World:
    run: Any
    comms: Comms
    http: httpx.AsyncClient
    ops: httpx.AsyncClient
    templates: Path

    @property
    def clock(self) -> Any:
        return self.run.clock

    @property
    def fakes(self) -> FakeProviders:
        assert self.comms.fakes is not None
        return self.comms.fakes

    async def dispatch(self, tenant: str = "clinic-a", **body: Any) -> dict[str, Any]:
        answer = await self.http.post("/v1/dispatches", json=body, headers={"x-tenant-id": tenant})
        answer.raise_for_status()
        return answer.json()  # type: ignore[no-any-return]

    async def view(self, dispatch_id: str, tenant: str = "clinic-a") -> dict[str, Any]:
        answer = await self.http.get(
            f"/v1/dispatches/{dispatch_id}", headers={"x-tenant-id": tenant}
        )
        return answer.json()  # type: ignore[no-any-return]

    async def states(self, ids: list[str], tenant: str = "clinic-a") -> dict[str, str]:
        answer = await self.http.get("/v1/dispatches", headers={"x-tenant-id": tenant})
        found = {d["id"]: d["state"] for d in answer.json()}
        return {i: found.get(i, "missing") for i in ids}

    async def settle(
        self,
        ids: list[str],
        *,
        tenant: str = "clinic-a",
        limit: float = 3600.0,
        every: float = 1.0,
    ) -> None:
        """Wait (on the clock) until none of ``ids`` (the tenant's) is queued any more."""
        end = self.clock.now() + limit
        while self.clock.now() < end:
            states = await self.states(ids, tenant)
            if "missing" in states.values():
                raise LookupError(f"{tenant} has no dispatch {states}")
            if "queued" not in states.values():
                return
            await self.clock.asleep(every)

    def deploy(self, channel: str, key: str, text: str) -> None:
        """Deploy a template file into the running version."""
        folder = self.templates / channel
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{key}.json").write_text(text)


def alerts(run: Any, rule: str) -> list[Any]:
    """The ``alert.raised`` events of one detection rule in this run."""
    return [e for e in run.recorder.named("alert.raised") if getattr(e, "rule", "") == rule]


async def open_world(
    run: Any, *, without: tuple[str, ...] = (), workers: bool = True, **overrides: Any
) -> World:
    """The comms service for this run with the shipped templates (less ``without``:
    ``"sms/appointment-reminder"``) in a folder of its own, its workers running (unless
    ``workers`` is False: rows that span weeks of virtual time and need only the API)."""
    root = Path(tempfile.mkdtemp(prefix="comms-run-"))
    templates = root / "templates"
    shutil.copytree(HERE / "templates", templates)
    for name in without:
        (templates / f"{name}.json").unlink()
    settings = CommsSettings(
        data_dir=root,
        templates=str(templates),
        ops_token=OPS_TOKEN,
        poll=1.0,
        store=f"sqlite:///{root / 'comms.db'}?durability=normal",
        **overrides,
    )
    catalog = getattr(run, "catalog", None)
    detector = [catalog.detector] if catalog is not None else []
    runtime = await Runtime.open(
        settings,
        clock=run.clock,
        policy=run.policy,
        switches=getattr(run, "switches", None) or AllOn(),
        observers=[*run.observers, *detector],
        injector=run.injector,
    )
    comms = await open_comms(settings, runtime=runtime, detector=detector[0] if detector else None)
    loops = running(comms) if workers else None
    if loops is not None:
        await loops.__aenter__()
    transport = httpx.ASGITransport(app=comms.app)
    http = httpx.AsyncClient(transport=transport, base_url="http://comms.test")
    ops = httpx.AsyncClient(
        transport=transport, base_url="http://comms.test", headers={"x-ops-token": OPS_TOKEN}
    )
    world = World(run, comms, http, ops, templates)

    async def close() -> None:
        await http.aclose()
        await ops.aclose()
        if loops is not None:
            await loops.__aexit__(None, None, None)
        await comms.aclose()
        shutil.rmtree(root, ignore_errors=True)

    run.rollback(close)
    return world
