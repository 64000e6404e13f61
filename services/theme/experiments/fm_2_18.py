"""theme.fm.2.18: removing a locale whose copy an active call to action uses is refused
with 409 LOCALE_IN_USE listing every reference; locale and copy stay; once the copy is
moved to the fallback locale the removal succeeds."""

from __future__ import annotations

from services.theme.harness import alerts, open_world, sample_document

from mitigate.chaos import Run, experiment

RULE = "theme.rule.locale-in-use"


@experiment("theme.fm.2.18", failure_modes=["theme.fm.2.18"])
async def locale_in_use(run: Run) -> None:
    world = await open_world(run)
    http = world.http
    ctas = [
        {"id": "hero-cta", "locale": "fr", "key": "book"},
        {"id": "footer-cta", "locale": "fr", "key": "book"},
        {"id": "nav-cta", "locale": "en", "key": "book"},
    ]
    saved = await http.put("/v1/themes/loc", json=sample_document(ctas=ctas))
    await run.steady("a theme with French calls to action", saved.status_code == 200)
    before = await world.row("loc")

    answer = await http.delete("/v1/themes/loc/locales/fr")
    body = answer.json()
    refs = body.get("references", [])
    run.expect(
        "409 LOCALE_IN_USE",
        answer.status_code == 409 and body.get("code") == "LOCALE_IN_USE",
        f"{answer.status_code} {body}",
    )
    run.expect(
        "every reference is listed (and only those)",
        len(refs) == 2
        and any("hero-cta" in r for r in refs)
        and any("footer-cta" in r for r in refs),
        str(refs),
    )
    run.expect("locale and copy intact", await world.row("loc") == before)
    fired = alerts(run, RULE)
    run.expect(f"{RULE} raised alert.raised", len(fired) >= 1, str(len(fired)))
    if fired:
        run.detected(RULE)

    moved = [dict(c, locale="en") for c in ctas]
    migrated = await http.put(
        "/v1/themes/loc",
        json=sample_document(ctas=moved),
        headers={"if-match": saved.headers["etag"]},
    )
    run.require("the author moves the copy to the fallback locale", migrated.status_code == 200)
    removed = await http.delete("/v1/themes/loc/locales/fr")
    locales = removed.json().get("document", {}).get("locales")
    run.expect(
        "then the removal succeeds",
        removed.status_code == 200 and locales == ["en"],
        f"{removed.status_code} {removed.text}",
    )
