"""theme.fm.2.9: the ``tenant.created.v1`` handler keeps failing for one tenant. Its
redeliveries rise and the DLQ inflow alerts; it is retried 5 times with growing delays,
then dead-lettered, while the other tenants' events flow. After the fix an operator
replays it and the tenant gets its default theme, once (a duplicate delivery changes
nothing)."""

from __future__ import annotations

from dataclasses import replace

from services.theme.harness import alerts, open_world
from services.theme.provisioning import CONSUMER, created_message

from mitigate.chaos import Failure, Run, experiment

DLQ_RULE = "theme.rule.inbox-dlq"
REDELIVERY_RULE = "theme.rule.inbox-redeliveries"
OPS = {"x-ops-token": "local-operator"}


def tenant(name: str) -> dict[str, str]:
    return {"x-tenant-id": name}


@experiment("theme.fm.2.9", failure_modes=["theme.fm.2.9"])
async def inbox_stuck(run: Run) -> None:
    world = await open_world(run, workers=True, events=True)
    http = world.http
    rt = world.theme.runtime

    async def status(name: str) -> dict[str, object]:
        answer = await http.get("/v1/provisioning", headers=tenant(name))
        return dict(answer.json())

    await rt.bus.publish(created_message(rt.settings, "acme"))
    await run.wait(5.0)
    await run.steady(
        "a new tenant gets its default theme", (await status("acme"))["state"] == "provisioned"
    )

    t0 = run.clock.now()
    async with run.fault(Failure("theme.provision.globex", error=RuntimeError("template bug"))):
        await rt.bus.publish(created_message(rt.settings, "globex", "de"))
        await run.wait(1.0)
        initech = created_message(rt.settings, "initech")
        await rt.bus.publish(initech)
        await rt.bus.publish(replace(initech, dedup_id="initech-resent"))  # delivered twice
        await run.wait(10.0)
        flowing = (await status("initech"))["state"]
        stuck = (await status("globex"))["state"]
        await run.wait(120.0)
        dead_state = await status("globex")
    run.expect(
        "other tenants' events keep flowing while one fails",
        flowing == "provisioned" and stuck == "pending",
        f"initech {flowing}, globex {stuck}",
    )
    fired = alerts(run, DLQ_RULE) + alerts(run, REDELIVERY_RULE)
    run.expect(
        "redeliveries and the DLQ inflow alert", bool(alerts(run, DLQ_RULE)), str(len(fired))
    )
    if fired:
        run.detected(min(fired, key=lambda e: e.at).rule)
    retries = [e for e in run.recorder.named("retry.scheduled", CONSUMER) if e.at >= t0]
    delays = [round(float(getattr(e, "delay", 0.0)), 1) for e in retries]
    run.expect(
        "5 retries with growing delays (not 4, not 6)",
        len(retries) == 5 and delays == sorted(delays) and delays[0] < delays[-1],
        str(delays),
    )
    dead = (await http.get("/ops/dlq", headers=OPS)).json()
    mine = [d for d in dead if d["msgId"] == "tenant.created:globex"]
    run.expect(
        "then the DLQ, after 6 deliveries",
        len(mine) == 1 and mine[0]["attempts"] == 6 and dead_state["state"] == "failed",
        f"{mine} {dead_state}",
    )

    # The fix is deployed (the fault is gone): the operator replays the entry.
    replay = await http.post("/ops/dlq/replay", json={"ids": [d["id"] for d in mine]}, headers=OPS)
    run.require("the replay is accepted", replay.status_code == 200 or not mine, replay.text)
    await run.wait(15.0)
    await rt.bus.publish(replace(created_message(rt.settings, "globex", "de"), dedup_id="again"))
    await run.wait(15.0)
    after = await status("globex")
    run.expect(
        "after the replay the tenant is provisioned, once",
        after.get("state") == "provisioned" and after.get("times") == 1,
        str(after),
    )
    theme = await http.get("/v1/themes/default", headers=tenant("globex"))
    run.expect("the tenant has its default theme", theme.status_code == 200, theme.text)
    twice = await status("initech")
    run.expect("a duplicate delivery provisions nothing more", twice.get("times") == 1, str(twice))
    run.mitigated("retried 5 times, dead-lettered, replayed once after the fix")
