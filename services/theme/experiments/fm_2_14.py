"""theme.fm.2.14: assets the active version shows are deleted. (a) The media service
deletes one and its deletion event arrives twice: one broken-asset event, one banner
naming the block. (b) Another is deleted silently: the daily origin scan finds the 404
and flags it. The booking page keeps answering 200, with a placeholder and the alt text
where the image was."""

from __future__ import annotations

from dataclasses import replace

from services.theme.adapters.media import FakeMedia
from services.theme.harness import alerts, open_world, sample_document

from mitigate.chaos import Run, experiment

RULE = "theme.rule.broken-asset"
BLOCKS = [
    {"id": "hero", "html": '<p><img src="/media/harbour.jpg" alt="The harbour at dawn"></p>'},
    {"id": "rooms", "html": '<p><img src="/media/room.jpg" alt="A sea-view room"></p>'},
]


@experiment("theme.fm.2.14", failure_modes=["theme.fm.2.14"])
async def broken_asset(run: Run) -> None:
    world = await open_world(run, workers=True, events=True)
    http = world.http
    media = FakeMedia(world.theme.runtime)
    for asset in ("harbour.jpg", "room.jpg"):
        await media.upload("acme", asset, b"\xff\xd8 jpeg bytes")
    await http.put("/v1/themes/brand", json=sample_document(blocks=BLOCKS))
    published = await http.post("/v1/themes/brand/publish")
    run.require("the theme is published", published.status_code == 200, published.text)
    page = await http.get("/v1/themes/brand/render")
    await run.steady("the page shows both images", page.text.count("<img") == 2)

    # (a) deleted by the media service; the event is delivered twice
    t0 = run.clock.now()
    await media.delete("acme", "harbour.jpg")
    await world.theme.runtime.bus.publish(
        replace(media.deleted("acme", "harbour.jpg"), dedup_id="resent")
    )
    await run.wait(10.0)
    flagged = [e for e in run.recorder.named("theme.broken_asset_detected") if e.at >= t0]
    run.expect(
        "(a) one broken-asset event for two deliveries",
        [(getattr(e, "block", ""), getattr(e, "source", "")) for e in flagged]
        == [("hero", "event")],
        str([(getattr(e, "block", ""), getattr(e, "source", "")) for e in flagged]),
    )
    fired = alerts(run, RULE)
    if fired:
        run.detected(RULE)
    banners = (await http.get("/v1/themes/brand/banners")).json()
    run.expect(
        "(a) the backoffice banner names the offending block",
        [(b["banner"], b["block"], b["asset"]) for b in banners]
        == [("Broken asset detected", "hero", "harbour.jpg")],
        str(banners),
    )
    page = await http.get("/v1/themes/brand/render")
    run.expect(
        "(a) the booking page answers 200 with a placeholder and the alt text",
        page.status_code == 200
        and "asset-placeholder" in page.text
        and "The harbour at dawn" in page.text
        and page.text.count("<img") == 1,
        f"{page.status_code} {page.text[:300]}",
    )

    # (b) deleted silently: only the daily scan can see it
    await world.stop_events()  # a quiet day: nothing to consume, no bus polling
    await media.delete("acme", "room.jpg", announce=False)
    t1 = run.clock.now()
    await run.wait(3600.0)
    early = [e for e in run.recorder.named("theme.broken_asset_detected") if e.at >= t1]
    await run.wait(24 * 3600.0)
    found = [e for e in run.recorder.named("theme.broken_asset_detected") if e.at >= t1]
    run.expect(
        "(b) the daily origin scan finds the 404 and flags it, once",
        not early
        and [(getattr(e, "block", ""), getattr(e, "source", "")) for e in found]
        == [("rooms", "scan")],
        str([(getattr(e, "block", ""), getattr(e, "source", "")) for e in found]),
    )
    if found and not fired:
        run.detected(RULE)
    run.expect(
        f"{RULE} raised alert.raised", len(alerts(run, RULE)) >= 1, str(len(alerts(run, RULE)))
    )
    page = await http.get("/v1/themes/brand/render")
    run.expect(
        "(b) the page still answers 200, both images as placeholders with alt text",
        page.status_code == 200
        and page.text.count("asset-placeholder") == 2
        and "A sea-view room" in page.text,
        f"{page.status_code} {page.text[:300]}",
    )
    outbox = await world.theme.runtime.store.fetch(
        "SELECT COUNT(*) FROM mitigate_outbox WHERE subject LIKE ?",
        ("%theme.broken_asset_detected.v1",),
    )
    run.expect("each flag is an outbox event", int(outbox[0][0]) == 2, str(outbox))
    run.mitigated("flagged once per asset (event and scan); pages render placeholders")
