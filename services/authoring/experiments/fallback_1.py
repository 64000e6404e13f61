"""authoring.fallback.1: the cloud model falls back to the local model, with consent.

The cloud model server is down (503 on every call): with consent the local model answers,
the block is marked reduced quality and carries the local model's provenance, a
fallback-used event is raised; without consent the author is told the AI is unavailable
(503, continue manually) and nothing is written."""

from __future__ import annotations

from mitigate.chaos import Run, experiment
from services.authoring.harness import alerts, events_since, open_world


@experiment("authoring.fallback.1")
async def cloud_to_local_model(run: Run) -> None:
    world = await open_world(run)
    cloud, local = world.service.fakes.ai, world.service.fakes.ai_local
    assert cloud is not None and local is not None
    draft = await world.new_draft()
    ok = await world.ai_block(draft, "photosynthesis", consent=True)
    await run.steady("the cloud model answers", ok.status_code == 201)
    run.expect("full quality from the cloud", ok.json()["reducedQuality"] is False)

    cloud.fail = [503] * 6
    t0 = run.clock.now()
    without = await world.ai_block(draft, "cells")
    retries = events_since(run, "retry.scheduled", "ai.generate", t0)
    run.expect("the cloud model is retried first (2 retries)", len(retries) == 2, str(retries))
    code = without.json().get("code")
    run.expect("without consent: AI unavailable", without.status_code == 503, without.text)
    run.expect("the unavailable code", code == "AUTHORING.AI.UNAVAILABLE", str(code))
    run.expect("without consent: the local model is not asked", local.requests == 0)
    run.expect("unavailable alert raised", bool(alerts(run, "authoring.rule.ai-unavailable")))

    cloud.fail = [503] * 6
    body = (await world.ai_block(draft, "cells", consent=True)).json()
    block = body.get("block") or {}
    prov = block.get("aiProvenance") or {}
    run.expect("with consent: the local model answers", prov.get("model") == "local-model-1")
    run.expect("marked reduced quality", body.get("reducedQuality") is True, str(body))
    run.expect("in the block too", block.get("body", {}).get("reducedQuality") is True)
    run.expect("fallback alert raised", bool(alerts(run, "authoring.rule.ai-fallback")))
    blocks = (await world.draft(draft))["blocks"]
    run.expect("two AI blocks stored (not the refused one)", len(blocks) == 2, str(len(blocks)))
