"""edge.principle.1: security and tenancy checks deny on failure (fail closed).

Each guard's dependency gets each fault kind: error, timeout and corrupt data. The tenant
guards (x-tenant-id, host, API key) all read the tenant registry: a caller that is
allowed while it is healthy is refused 503 under every fault, and a caller refused while
it is healthy stays refused; no handler is reached. The digest check of a chat archive
(the verifier role) reads the archive back: under every fault nothing is deleted. The
property: no fault kind turns a deny into an allow.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from services.edge.harness import World, alerts, expect_traceable, open_world

from mitigate.chaos import Corrupt, Failure, Fault, Latency, Run, experiment, flip_bytes


def _garbled(rows: Any, draw: Callable[[], float]) -> Any:
    # One flipped bit in every text column the registry answers (ids, hosts, key hashes).
    return [tuple(flip_bytes(v, draw) if isinstance(v, str) else v for v in row) for row in rows]


# A reply this late is past every timeout of the catalog (2 s registry, 5 s archive).
LATE = 60.0


def _faults(target: str) -> dict[str, Fault]:
    """Error, timeout and corrupt data at ``target``."""
    corrupt = Corrupt(target, corrupt=_garbled) if target == "tenant.registry" else Corrupt(target)
    return {
        "error": Failure(target, error=ConnectionError),
        "timeout": Latency(target, delay=LATE),
        "corrupt": corrupt,
    }


def _callers(world: World) -> dict[str, tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """Per guard: a caller it allows and one it refuses while the registry is healthy."""
    return {
        "x-tenant-id": (world.tenant("acme"), world.tenant("nosuch")),
        "host": (world.client(host="acme.example.com"), world.client(host="evil.example.net")),
        "API key": (
            world.client(**{"x-api-key": "key-acme-1"}),
            world.client(**{"x-api-key": "stolen"}),
        ),
    }


async def _tenant_guards(run: Run, world: World) -> None:
    callers = _callers(world)
    for guard, (allowed, refused) in callers.items():
        ok = await allowed.get("/v1/hello")
        no = await refused.get("/v1/hello")
        await run.steady(
            f"{guard}: healthy, the known caller is served and the unknown one refused",
            ok.status_code == 200 and no.status_code == 404,
        )
    handled = world.edge.handled
    for kind, fault in _faults("tenant.registry").items():
        async with run.fault(fault):
            for guard, (allowed, refused) in callers.items():
                known = await allowed.get("/v1/hello")
                unknown = await refused.get("/v1/hello")
                run.expect(
                    f"registry {kind}, {guard}: the known caller is refused",
                    known.status_code in (404, 503) and known.json().get("code", "") != "",
                    f"{known.status_code} {known.text[:120]}",
                )
                run.expect(
                    f"registry {kind}, {guard}: the unknown caller stays refused",
                    unknown.status_code in (404, 503),
                    f"{unknown.status_code} {unknown.text[:120]}",
                )
    run.expect(
        "no handler was reached under any fault",
        world.edge.handled == handled,
        f"{world.edge.handled - handled} requests reached a handler",
    )
    run.expect(
        "the registry-error alert fired",
        bool(alerts(run, "edge.rule.tenant-registry-errors")),
    )


async def _send(http: httpx.AsyncClient, session: str, first: int, count: int) -> int:
    live = 0
    for i in range(first, first + count):
        reply = await http.post(f"/v1/sessions/{session}/messages", json={"text": f"m{i}"})
        live = int(reply.json()["live"])
    return live


async def _archive_verifier(run: Run, world: World) -> None:
    cap = int(run.catalog.failure_mode("edge.fm.2.4c").details["maxMessagesPerSession"])
    http = world.tenant("acme")
    sent = cap
    await _send(http, "guarded", 1, sent)
    for kind, fault in _faults("chat.archive.verify").items():
        before = (await http.get("/v1/sessions/guarded")).json()
        async with run.fault(fault):
            await _send(http, "guarded", sent + 1, 2)
            sent += 2
        after = (await http.get("/v1/sessions/guarded")).json()
        run.expect(
            f"archive read-back {kind}: nothing deleted",
            after["live"] == before["live"] + 2 and len(after["archives"]) == 0,
            f"live {before['live']} -> {after['live']}, archives {len(after['archives'])}",
        )


@experiment("edge.principle.1")
async def fail_closed(run: Run) -> None:
    world = await open_world(run)
    await _tenant_guards(run, world)
    await _archive_verifier(run, world)
    after = await world.tenant("acme").get("/v1/hello")
    run.expect("after the faults the known tenant is served again", after.status_code == 200)
    expect_traceable(run, world)
