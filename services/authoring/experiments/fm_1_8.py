"""authoring.fm.1.8: the AI budget runs out mid-session.

A tenant's cloud AI use is driven to 79 %, 80 %, 95 % and 100 % of its budget (100 units,
one per answer): no warning at 79 %, a warning at 80 %, an admin alert at 95 %, and at
100 % ``429 ai.refused.budget``. Without consent nothing more is written; with consent the
local model answers, marked reduced quality, with its provenance. Each answer is billed
once."""

from __future__ import annotations

from typing import Any

from mitigate.chaos import Run, experiment
from services.authoring.harness import alerts, open_world


@experiment("authoring.fm.1.8", failure_modes=["authoring.fm.1.8"])
async def ai_budget_runs_out(run: Run) -> None:
    world = await open_world(run)
    draft = await world.new_draft()

    async def use(n: int) -> dict[str, Any]:
        last: dict[str, Any] = {}
        for _ in range(n):
            response = await world.ai_block(draft, "quiz question")
            run.require("within budget: written", response.status_code == 201, response.text)
            last = response.json()
        return last

    first = await use(1)
    await run.steady("AI works", first["budget"]["status"] == "ok")
    at79 = await use(78)
    run.expect("79 %: no warning", at79["budget"]["status"] == "ok", str(at79["budget"]))
    run.expect("79 %: no alert", not alerts(run, "authoring.rule.ai-budget-warning"))
    at80 = await use(1)
    run.expect("80 %: warning shown", at80["budget"]["status"] == "warning", str(at80["budget"]))
    run.expect("80 %: warning raised", bool(alerts(run, "authoring.rule.ai-budget-warning")))
    run.expect("80 %: no admin alert yet", not alerts(run, "authoring.rule.ai-budget-admin"))
    await use(14)
    run.expect("94 %: no admin alert", not alerts(run, "authoring.rule.ai-budget-admin"))
    await use(1)
    run.expect("95 %: admin alert", bool(alerts(run, "authoring.rule.ai-budget-admin")))
    admin = (await world.http.get("/v1/alerts", params={"audience": "admin"})).json()
    run.expect("95 %: admin alert stored once", len(admin) == 1, str(admin))
    await use(5)
    budget = (await world.http.get("/v1/ai/budget")).json()
    run.expect("100 %: exhausted, billed once each", budget["used"] == 100, str(budget))

    refused = await world.ai_block(draft, "one more")
    run.expect("100 %: 429", refused.status_code == 429, refused.text)
    run.expect("ai.refused.budget", refused.json().get("code") == "ai.refused.budget")
    local = await world.ai_block(draft, "one more", consent=True)
    body = local.json()
    prov = (body.get("block") or {}).get("aiProvenance") or {}
    run.expect("with consent: the local model answers", local.status_code == 201, local.text)
    run.expect("reduced quality", body.get("reducedQuality") is True)
    run.expect("local-model provenance", prov.get("model") == "local-model-1", str(prov))
    after = (await world.http.get("/v1/ai/budget")).json()
    run.expect("the local answer is not billed", after["used"] == 100, str(after))
