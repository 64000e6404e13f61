"""theme.fm.2.3: a publish of a version with several invalid fields is refused before any
transaction: field-level violations with their paths, one publish-rejected event, the
version still preview_ready, the database and the object store unchanged. Fixed, the
same theme publishes."""

from __future__ import annotations

from services.theme.harness import alerts, open_world, sample_document

from mitigate.chaos import Run, experiment

RULE = "theme.rule.publish-rejected"
INVALID = {
    "colors": {"primary": "blue", "background": "#ffffff"},
    "defaultLocale": "es",
    "ctas": [{"id": "hero-cta", "locale": "de", "key": "book"}],
}
PATHS = {"colors.text", "colors.primary", "defaultLocale", "ctas[0].locale"}


@experiment("theme.fm.2.3", failure_modes=["theme.fm.2.3"])
async def invalid_publish(run: Run) -> None:
    world = await open_world(run)
    http = world.http
    saved = await http.put("/v1/themes/spring", json=sample_document(**INVALID))
    await run.steady("an invalid draft can be saved", saved.status_code == 200)

    async def snapshot() -> tuple[object, ...]:
        objects = await world.theme.runtime.objects.list("")
        return (await world.row("spring"), await world.publications("spring"), sorted(objects))

    before = await snapshot()
    answer = await http.post("/v1/themes/spring/publish")
    body = answer.json()
    paths = {v.get("path") for v in body.get("violations", [])}
    run.expect(
        "refused with the field-level violations and their paths",
        answer.status_code == 422 and paths == PATHS,
        f"{answer.status_code} {body}",
    )
    rejected = run.recorder.named("theme.publish_rejected")
    run.expect("one publish-rejected event", len(rejected) == 1, str(len(rejected)))
    run.expect("nothing written: database and objects unchanged", await snapshot() == before)
    state = (await http.get("/v1/themes/spring")).json().get("state")
    run.expect("the version stays preview_ready", state == "preview_ready", str(state))
    fired = alerts(run, RULE)
    run.expect(f"{RULE} raised alert.raised", len(fired) >= 1, str(len(fired)))
    if fired:
        run.detected(RULE)

    fixed = await http.put(
        "/v1/themes/spring", json=sample_document(), headers={"if-match": saved.headers["etag"]}
    )
    run.require("the author fixes the fields", fixed.status_code == 200, fixed.text)
    published = await http.post("/v1/themes/spring/publish")
    state = (await http.get("/v1/themes/spring")).json().get("state")
    run.expect(
        "the fixed version publishes",
        published.status_code == 200 and state == "published",
        f"{published.status_code} {published.text} {state}",
    )
