"""edge.fm.2.2a: a tenant that does not resolve is refused before any handler.

Unknown x-tenant-id, unknown host, bad API key, no tenant at all: each refused with a clear
code (404 unknown, 400 missing) and no handler called; the registry down: 503, never let
through. One address sending 20 bad requests in a minute raises the probing alert.
"""

from __future__ import annotations

from services.edge.harness import alerts, expect_traceable, open_world

from mitigate.chaos import Failure, Run, experiment

PROBER = "198.51.100.66"


@experiment("edge.fm.2.2a", failure_modes=["edge.fm.2.2a"])
async def tenant_not_found(run: Run) -> None:
    world = await open_world(run)
    edge = world.edge
    threshold = edge.probes.threshold
    good = await world.tenant("acme").get("/v1/hello")
    await run.steady("a known tenant is served", good.json().get("tenant") == "acme")
    by_host = await world.client(host="acme.example.com").get("/v1/hello")
    by_key = await world.client(**{"x-api-key": "key-globex-1"}).get("/v1/hello")
    await run.steady("host and API key resolve", by_host.status_code == by_key.status_code == 200)

    handled = edge.handled
    cases = {
        "unknown x-tenant-id": (world.tenant("nosuch"), 404, "MITIGATE.TENANT.UNKNOWN"),
        "unknown host": (world.client(host="evil.example.net"), 404, "MITIGATE.TENANT.UNKNOWN"),
        "bad API key": (world.client(**{"x-api-key": "stolen"}), 404, "MITIGATE.TENANT.UNKNOWN"),
        "no tenant": (world.client(), 400, "MITIGATE.TENANT.MISSING"),
    }
    for name, (http, status, code) in cases.items():
        response = await http.get("/v1/hello")
        body = response.json()
        run.expect(
            f"{name}: {status} {code}",
            response.status_code == status and body.get("code") == code,
            f"{response.status_code} {response.text[:160]}",
        )
    run.expect("no handler was reached", edge.handled == handled, f"{edge.handled - handled}")

    async with run.fault(Failure("tenant.registry", error=ConnectionError)):
        down = await world.tenant("acme").get("/v1/hello")
        run.expect(
            "registry down: 503, never let through",
            down.status_code == 503
            and down.json().get("code") == "MITIGATE.TENANT.REGISTRY_UNAVAILABLE",
            f"{down.status_code} {down.text[:160]}",
        )
    run.expect("still no handler reached", edge.handled == handled, f"{edge.handled - handled}")

    prober = world.client(ip=PROBER, **{"x-tenant-id": "guess"})
    for i in range(threshold):
        await prober.get("/v1/hello", headers={"x-tenant-id": f"guess-{i}"})
        await run.wait(1.0)
    run.expect(
        f"{threshold} failures from one address are counted",
        edge.probes.count(PROBER) == threshold,
        str(edge.probes.count(PROBER)),
    )
    fired = alerts(run, "edge.rule.tenant-probing")
    run.expect("the probing alert fired", bool(fired))
    probing = run.recorder.named("edge.tenant.probing")
    run.expect(
        "the alert names the probing address only",
        [e.target for e in probing] == [PROBER],
        str([e.target for e in probing]),
    )
    after = await world.tenant("acme").get("/v1/hello")
    run.expect("known tenants keep being served", after.status_code == 200)
    expect_traceable(run, world)
