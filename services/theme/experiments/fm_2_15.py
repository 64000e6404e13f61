"""theme.fm.2.15: the AI orchestrator answers (a) 5xx, (b) safety-blocked, (c) output that
breaks the schema. Each gives 503 MELMASTOON.AI.UNAVAILABLE with Retry-After; nothing is
stored; authoring keeps working (a steady-state probe saves during each)."""

from __future__ import annotations

from services.theme.harness import alerts, open_world, sample_document

from mitigate.chaos import Run, experiment

RULE = "theme.rule.ai-unavailable"


@experiment("theme.fm.2.15", failure_modes=["theme.fm.2.15"])
async def ai_down(run: Run) -> None:
    world = await open_world(run)
    http = world.http
    fake = world.theme.fake_ai
    run.require("the fake orchestrator is wired", fake is not None)
    assert fake is not None
    saved = await http.put("/v1/themes/ai", json=sample_document())
    etag = saved.headers.get("etag", "")
    ok = await http.post("/v1/themes/ai/suggestions", json={"prompt": "warmer colours"})
    await run.steady("a suggestion is stored as pending", ok.status_code == 201)
    stored = len((await http.get("/v1/themes/ai/suggestions")).json())

    for mode in ("5xx", "blocked", "invalid"):
        fake.mode = mode
        answer = await http.post("/v1/themes/ai/suggestions", json={"prompt": "bolder"})
        body = answer.json()
        run.expect(
            f"({mode}) 503 MELMASTOON.AI.UNAVAILABLE with Retry-After",
            answer.status_code == 503
            and body.get("code") == "MELMASTOON.AI.UNAVAILABLE"
            and "retry-after" in answer.headers,
            f"{answer.status_code} {body}",
        )
        now = len((await http.get("/v1/themes/ai/suggestions")).json())
        run.expect(f"({mode}) nothing stored", now == stored, f"{now} vs {stored}")
        edit = await http.put(
            "/v1/themes/ai", json=sample_document(name=f"manual {mode}"), headers={"if-match": etag}
        )
        run.expect(f"({mode}) manual editing keeps working", edit.status_code == 200, edit.text)
        etag = edit.headers.get("etag", etag)
    fired = alerts(run, RULE)
    run.expect(f"{RULE} raised alert.raised", len(fired) >= 1, str(len(fired)))
    if fired:
        run.detected(RULE)
    doc = (await http.get("/v1/themes/ai")).json()["document"]
    run.expect("the theme holds no AI output", "#2e86de" not in str(doc), str(doc["colors"]))
