"""theme.fm.2.17: an editor whose screen shows revision 3 saves after someone else saved
revision 4: 412 with the precondition-failed code, no merge, revision 4 intact; after a
reload the editor's save goes through."""

from __future__ import annotations

from services.theme.harness import alerts, open_world, sample_document

from mitigate.chaos import Run, experiment

RULE = "theme.rule.edit-conflicts"


@experiment("theme.fm.2.17", failure_modes=["theme.fm.2.17"])
async def stale_editor(run: Run) -> None:
    world = await open_world(run)
    http = world.http
    created = await http.put("/v1/themes/main", json=sample_document())
    await run.steady("a theme is created", created.status_code == 200)
    etag = created.headers["etag"]
    for name in ("Harbour 2", "Harbour 3"):
        saved = await http.put(
            "/v1/themes/main", json=sample_document(name=name), headers={"if-match": etag}
        )
        run.require(f"save {name}", saved.status_code == 200, saved.text)
        etag = saved.headers["etag"]
    stale = etag  # the editor's screen: revision 3
    run.require("the editor holds revision 3", stale == '"3"', stale)

    other = await http.put(
        "/v1/themes/main", json=sample_document(name="Theirs"), headers={"if-match": stale}
    )
    run.require("someone else saves revision 4", other.headers.get("etag") == '"4"', other.text)

    mine = await http.put(
        "/v1/themes/main", json=sample_document(name="Mine"), headers={"if-match": stale}
    )
    body = mine.json()
    run.expect(
        "the stale save gets 412 PRECONDITION_FAILED",
        mine.status_code == 412 and body.get("code") == "MELMASTOON.PLATFORM.PRECONDITION_FAILED",
        f"{mine.status_code} {body}",
    )
    run.expect("the message asks for a reload", "reload" in str(body.get("message", "")))
    row = await world.row("main")
    run.expect(
        "revision 4 intact, nothing merged",
        row is not None and row[0] == 4 and '"Theirs"' in row[2] and '"Mine"' not in row[2],
        str(row),
    )
    fired = alerts(run, RULE)
    run.expect(f"{RULE} raised alert.raised", len(fired) >= 1, str(len(fired)))
    if fired:
        run.detected(RULE)

    reloaded = await http.get("/v1/themes/main")
    again = await http.put(
        "/v1/themes/main",
        json=sample_document(name="Mine"),
        headers={"if-match": reloaded.headers["etag"]},
    )
    run.expect(
        "after the reload the save goes through as revision 5",
        again.status_code == 200 and again.headers.get("etag") == '"5"',
        again.text,
    )
