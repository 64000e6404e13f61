"""authoring.fallback.3: the media preview CDN fails; previews load from the origin.

The CDN edge loses its backend (each request hangs 60 s, then 504): the preview request
is cut by its 2 s timeout and the editor is redirected to the origin by a signed URL; the
preview is byte-identical. A tampered or expired origin URL is refused (403). After the
CDN heals, previews go through it again."""

from __future__ import annotations

from urllib.parse import urlsplit

from mitigate.chaos import Run, experiment
from services.authoring.harness import TENANT, alerts, events_since, open_world
from services.authoring.previews import preview_key


@experiment("authoring.fallback.3")
async def preview_cdn_to_origin(run: Run) -> None:
    world = await open_world(run)
    cdn = world.service.fakes.cdn
    assert cdn is not None
    images = {f"img-{n}": bytes([n]) * 5000 for n in range(3)}
    for name, data in images.items():
        await world.service.runtime.objects.put(preview_key(TENANT, name), data)

    def url(name: str) -> str:
        return f"/v1/media/{name}/preview"

    ok = await world.http.get(url("img-0"))
    await run.steady("previews come from the CDN", ok.headers.get("x-via") == "cdn")
    await run.steady("the preview is right", ok.content == images["img-0"])

    cdn.down = True
    t0 = run.clock.now()
    first = await world.http.get(url("img-1"))
    took = run.clock.now() - t0
    run.expect("redirected to the origin", first.status_code == 307, first.text)
    origin = first.headers.get("location", "")
    loaded = await world.http.get(origin)
    run.expect("the preview loads from the origin", loaded.status_code == 200, loaded.text)
    run.expect("byte-identical", loaded.content == images["img-1"])
    run.expect("within 3 s, not the edge's 60 s", took <= 3.0, f"{took:.1f}s")
    run.expect("fallback-used event", bool(events_since(run, "fallback.used", "media.preview", t0)))
    run.expect("alert raised", bool(alerts(run, "authoring.rule.preview-fallback")))

    parts = urlsplit(origin)
    other = f"{parts.path.replace('img-1', 'img-2')}?{parts.query}"
    forged = await world.http.get(other)
    run.expect("a URL signed for another object is refused", forged.status_code == 403)
    again = await world.http.get(url("img-2"))
    await run.clock.asleep(11 * 60)
    late = await world.http.get(again.headers.get("location", ""))
    run.expect("an expired origin URL is refused", late.status_code == 403, str(late.status_code))

    cdn.down = False
    fills, fallbacks = cdn.fills, len(run.recorder.named("fallback.used", "media.preview"))
    healed = await world.http.get(url("img-2"))
    run.expect("after the CDN heals, through the CDN again", healed.headers.get("x-via") == "cdn")
    run.expect("filled from the origin once", cdn.fills == fills + 1, str(cdn.fills))
    run.expect("the preview is right", healed.content == images["img-2"])
    now = len(run.recorder.named("fallback.used", "media.preview"))
    run.expect("no more fallbacks", now == fallbacks, f"{fallbacks} -> {now}")
