"""authoring.fm.1.3: an AI block without provenance is refused at write.

Through the HTTP API: an ``ai-text`` block, and a block of another kind marked
``aiGenerated``, each without (or with incomplete) ``aiProvenance``: 422
``AUTHORING.AI.PROVENANCE_REQUIRED``, the draft's block count unchanged; with complete
provenance the same block is stored. The rule ``authoring.rule.ai-provenance-refused``
raises its alert."""

from __future__ import annotations

from mitigate.chaos import Run, experiment
from services.authoring.harness import alerts, open_world

PROVENANCE = {"model": "cloud-model-1", "promptId": "p-1", "generatedAt": "2026-01-01T00:00:00Z"}


@experiment("authoring.fm.1.3", failure_modes=["authoring.fm.1.3"])
async def ai_block_needs_provenance(run: Run) -> None:
    world = await open_world(run)
    draft = (await world.http.post("/v1/drafts", json={"title": "Course"})).json()["id"]
    url = f"/v1/drafts/{draft}/blocks"
    text = await world.http.post(url, json={"kind": "text", "body": {"text": "hi"}})
    await run.steady("plain blocks are stored", text.status_code == 201)

    refused = [
        {"kind": "ai-text", "body": {"text": "generated"}},
        {"kind": "ai-text", "body": {"text": "generated"}, "aiProvenance": {"model": "m"}},
        {"kind": "text", "body": {"text": "generated", "aiGenerated": True}},
    ]
    for spec in refused:
        response = await world.http.post(url, json=spec)
        code = response.json().get("code")
        run.expect(
            f"refused ({spec['kind']}, provenance {spec.get('aiProvenance')}): 422",
            response.status_code == 422 and code == "AUTHORING.AI.PROVENANCE_REQUIRED",
            response.text,
        )
    blocks = (await world.draft(draft))["blocks"]
    run.expect("nothing written by the refused writes", len(blocks) == 1, str(blocks))
    run.expect("alert raised", bool(alerts(run, "authoring.rule.ai-provenance-refused")))

    ok = await world.http.post(
        url, json={"kind": "ai-text", "body": {"text": "generated"}, "aiProvenance": PROVENANCE}
    )
    run.expect("with provenance: stored", ok.status_code == 201, ok.text)
    stored = (await world.draft(draft))["blocks"][-1]
    run.expect("provenance kept", stored.get("aiProvenance") == PROVENANCE, str(stored))
