"""edge.fm.2.5b: a tenant exhausts its AI budget; another has an invalid key.

Tenant acme (budget 20 a day) sends 45 requests: 20 answered, the rest 429 with reason
quota; tenant globex keeps working, because the provider's global quota (40) was never
drained by acme; tenant initech, configured with an invalid key, gets an auth error that
is not retried. Every rejection is logged with its reason and the alert fires.
"""

from __future__ import annotations

import json

from services.edge.harness import TENANTS, alerts, expect_traceable, open_world

from mitigate.chaos import Run, experiment

TENANT_SET = {
    **TENANTS,
    "acme": {**TENANTS["acme"], "limits": {"ai_requests_per_day": 20}},
    "initech": {"id": "initech", "plan": "standard", "ai_key": "revoked-key"},
}
GLOBAL_QUOTA = 40


@experiment("edge.fm.2.5b", failure_modes=["edge.fm.2.5b"])
async def ai_quota(run: Run) -> None:
    world = await open_world(run, tenants=TENANT_SET)
    provider = world.edge.fake_ai
    assert provider is not None
    provider.quota = GLOBAL_QUOTA
    prompt = {"prompt": "summarise my course"}
    b = world.tenant("globex")
    first = await b.post("/v1/assistant/answer", json=prompt)
    await run.steady("tenant globex is answered", first.status_code == 200)

    a = world.tenant("acme")
    answers = [await a.post("/v1/assistant/answer", json=prompt) for _ in range(45)]
    ok = [r for r in answers if r.status_code == 200]
    refused = [r for r in answers if r.status_code != 200]
    run.expect("acme: 20 answered (its budget)", len(ok) == 20, str(len(ok)))
    run.expect(
        "acme: the rest get 429 with reason quota",
        bool(refused)
        and all(
            r.status_code == 429
            and r.json().get("code") == "EDGE.AI.QUOTA"
            and "reason: quota" in r.json().get("message", "")
            for r in refused
        ),
        refused[0].text if refused else "none refused",
    )
    others = [await b.post("/v1/assistant/answer", json=prompt) for _ in range(10)]
    run.expect(
        "globex keeps working",
        all(r.status_code == 200 for r in others),
        str([r.status_code for r in others]),
    )
    used = provider.used.get("key-platform", 0)
    run.expect(
        f"the provider's global quota ({GLOBAL_QUOTA}) was never drained",
        used < GLOBAL_QUOTA,
        str(used),
    )

    c = world.tenant("initech")
    bad = await c.post("/v1/assistant/answer", json=prompt)
    run.expect(
        "initech: an auth error with its reason",
        bad.status_code == 502
        and bad.json().get("code") == "EDGE.AI.AUTH"
        and "reason: auth" in bad.json().get("message", ""),
        bad.text,
    )
    run.expect(
        "initech: the invalid key is not retried",
        provider.calls_by_key.get("revoked-key") == 1,
        str(provider.calls_by_key.get("revoked-key")),
    )
    reasons = [
        json.loads(r.getMessage().split(" ", 3)[3])
        for r in world.logs.records
        if r.getMessage().startswith("ai request rejected")
    ]
    run.expect(
        "the logs show the reason per rejection",
        {(x["tenantId"], x["reason"]) for x in reasons} == {("acme", "quota"), ("initech", "auth")},
        str(reasons[:3]),
    )
    run.expect("the rejection alert fired", bool(alerts(run, "edge.rule.ai-rejections")))
    expect_traceable(run, world)
