"""theme.fm.2.21: ProvisionDefaultThemeUseCase raises for one new tenant during its
onboarding. The event is retried 5 times, then dead-lettered; the onboarding saga records
the brand step as degraded and finishes the other steps; the tenant admin can brand by
hand in the wizard; after the fix a DLQ replay provisions the default theme once."""

from __future__ import annotations

from services.theme.harness import alerts, open_world, sample_document
from services.theme.provisioning import CONSUMER

from mitigate.chaos import Failure, Run, experiment

RULE = "theme.rule.inbox-dlq"
OPS = {"x-ops-token": "local-operator"}
GLOBEX = {"x-tenant-id": "globex"}


@experiment("theme.fm.2.21", failure_modes=["theme.fm.2.21"])
async def provisioning_fails(run: Run) -> None:
    world = await open_world(run, workers=True, events=True)
    http = world.http
    onboarding = world.theme.onboarding
    assert onboarding is not None

    ok = await onboarding.onboard("initech")
    await run.steady(
        "an onboarding provisions the default theme",
        ok.state == "completed" and ok.results.get("brand", {}).get("brand") == "done",
    )

    t0 = run.clock.now()
    async with run.fault(Failure("theme.provision.globex", error=RuntimeError("template bug"))):
        outcome = await onboarding.onboard("globex", "de")
    fired = alerts(run, RULE)
    run.expect(f"{RULE} raised alert.raised", len(fired) >= 1, str(len(fired)))
    if fired:
        run.detected(RULE)
    retries = [e for e in run.recorder.named("retry.scheduled", CONSUMER) if e.at >= t0]
    dead = [d for d in (await http.get("/ops/dlq", headers=OPS)).json() if "globex" in d["msgId"]]
    run.expect(
        "5 retries, then the DLQ",
        len(retries) == 5 and len(dead) == 1 and dead[0]["attempts"] == 6,
        f"{len(retries)} retries, dlq {dead}",
    )
    steps = (await http.get("/v1/onboarding", headers=GLOBEX)).json()["steps"]
    run.expect(
        "the onboarding finishes with the brand step degraded",
        outcome.state == "completed"
        and steps.get("brand", {}).get("state") == "degraded"
        and steps.get("account", {}).get("state") == "done"
        and steps.get("welcome", {}).get("state") == "done",
        f"{outcome.state} {steps}",
    )
    run.expect(
        "the missing step is recorded with what to do",
        "wizard" in steps.get("brand", {}).get("detail", ""),
        str(steps.get("brand")),
    )
    wizard = await http.put("/v1/themes/brand", json=sample_document(), headers=GLOBEX)
    run.expect("the manual wizard path works", wizard.status_code == 200, wizard.text)

    replay = await http.post("/ops/dlq/replay", json={"ids": [d["id"] for d in dead]}, headers=OPS)
    run.require("the replay is accepted", replay.status_code == 200 or not dead, replay.text)
    await run.wait(20.0)
    status = (await http.get("/v1/provisioning", headers=GLOBEX)).json()
    run.expect(
        "after the fix the replay provisions once",
        status.get("state") == "provisioned" and status.get("times") == 1,
        str(status),
    )
    default = await http.get("/v1/themes/default", headers=GLOBEX)
    run.expect("the tenant has its default theme", default.status_code == 200, default.text)
    run.mitigated("brand step degraded, onboarding finished; replay provisioned once")
