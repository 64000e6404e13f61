"""edge.fm.2.2b: an invalid tenant config never loads.

A malformed file and a schema-invalid one: the validate command fails naming file and
field path; a fresh process with that set never becomes ready and serves nothing; a
running process given the bad set on hot reload refuses it and keeps its last valid
config; the config-rejected alert fires.
"""

from __future__ import annotations

import contextlib
import io
import json

from services.edge.harness import TENANTS, alerts, expect_traceable, open_world, write_tenants
from services.edge.validate import main as validate

from mitigate.chaos import Run, experiment

BAD = {
    **TENANTS,
    "broken": '{"id": "broken", "plan": "standard",',
    "badplan": json.dumps({"id": "badplan", "plan": "platinum", "hosts": ["b.example.com"]}),
}


@experiment("edge.fm.2.2b", failure_modes=["edge.fm.2.2b"])
async def invalid_tenant_config(run: Run) -> None:
    healthy = await open_world(run)
    ready = await healthy.client().get("/readyz")
    await run.steady("a valid set makes the process ready", ready.status_code == 200)
    served = await healthy.tenant("globex").get("/v1/hello")
    await run.steady("its tenants are served", served.status_code == 200)

    write_tenants(healthy.tenants_dir, BAD)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = validate([str(healthy.tenants_dir)])
    report = out.getvalue()
    run.expect("validate fails", status == 1, report)
    run.expect("validate names the malformed file", "broken.json: $: not valid JSON" in report)
    run.expect("validate names file and field path", "badplan.json: plan:" in report, report)
    if status == 1:
        run.detected("validate command")

    # Hot reload of the bad set into the running process.
    reload = await healthy.ops().post("/ops/tenants/reload")
    run.expect(
        "the bad reload is refused",
        reload.status_code == 422 and reload.json().get("code") == "EDGE.CONFIG.INVALID",
        reload.text[:200],
    )
    kept = await healthy.tenant("globex").get("/v1/hello")
    unknown = await healthy.tenant("badplan").get("/v1/hello")
    run.expect("the last valid config keeps serving", kept.status_code == 200, kept.text[:120])
    run.expect("nothing of the bad set was loaded", unknown.status_code == 404)
    run.expect("still ready", (await healthy.client().get("/readyz")).status_code == 200)

    # A fresh process deployed with the bad set.
    fresh = await open_world(run, tenants=BAD)
    for _ in range(3):
        probe = await fresh.client().get("/readyz")
        run.expect("the fresh process is not ready", probe.status_code == 503, probe.text[:160])
        await run.wait(10)
    refused = await fresh.tenant("acme").get("/v1/hello")
    run.expect(
        "the fresh process serves no request with a broken config",
        refused.status_code == 503 and fresh.edge.handled == 0,
        f"{refused.status_code} {refused.text[:120]}",
    )
    run.expect("the config-rejected alert fired", bool(alerts(run, "edge.rule.config-rejected")))

    write_tenants(fresh.tenants_dir)  # the fix: the valid set redeployed
    fixed = await fresh.ops().post("/ops/tenants/reload")
    run.expect("the fixed set loads", fixed.status_code == 200, fixed.text[:160])
    ready_now = await fresh.client().get("/readyz")
    run.expect("then the process is ready", ready_now.status_code == 200)
    expect_traceable(run, fresh)
