"""theme.fm.2.19: the front-end platform deactivates the preset a theme's booking surface
selects; the publish is refused with MELMASTOON.THEME.LAYOUT_PRESET_INACTIVE naming the
surface, the version unchanged; with another preset chosen it publishes."""

from __future__ import annotations

from services.theme.harness import alerts, open_world, sample_document

from mitigate.chaos import Run, experiment

RULE = "theme.rule.preset-inactive"
OPS = {"x-ops-token": "local-operator"}
LAYOUT = {"home": {"presetKey": "hero-split"}, "booking": {"presetKey": "grid"}}


@experiment("theme.fm.2.19", failure_modes=["theme.fm.2.19"])
async def preset_inactive(run: Run) -> None:
    world = await open_world(run)
    http = world.http
    saved = await http.put("/v1/themes/lay", json=sample_document(layoutSelections=LAYOUT))
    await run.steady("a theme selecting presets", saved.status_code == 200)
    off = await http.put("/ops/layout-presets/grid", json={"active": False}, headers=OPS)
    run.require("the platform deactivates grid", off.status_code == 200, off.text)
    before = (await world.row("lay"), await world.publications("lay"))

    answer = await http.post("/v1/themes/lay/publish")
    body = answer.json()
    run.expect(
        "refused with LAYOUT_PRESET_INACTIVE naming the surface",
        answer.status_code == 422
        and body.get("code") == "MELMASTOON.THEME.LAYOUT_PRESET_INACTIVE"
        and "booking" in body.get("message", "")
        and [v["path"] for v in body.get("violations", [])]
        == ["layoutSelections.booking.presetKey"],
        f"{answer.status_code} {body}",
    )
    after = (await world.row("lay"), await world.publications("lay"))
    run.expect(
        "version state unchanged",
        after == before and after[0] is not None and after[0][1] == "preview_ready",
        str(after),
    )
    fired = alerts(run, RULE)
    run.expect(f"{RULE} raised alert.raised", len(fired) >= 1, str(len(fired)))
    if fired:
        run.detected(RULE)

    other = dict(LAYOUT, booking={"presetKey": "compact"})
    fixed = await http.put(
        "/v1/themes/lay",
        json=sample_document(layoutSelections=other),
        headers={"if-match": saved.headers["etag"]},
    )
    published = await http.post("/v1/themes/lay/publish")
    run.expect(
        "with another preset the theme publishes",
        fixed.status_code == 200 and published.status_code == 200,
        f"{fixed.text} {published.text}",
    )
