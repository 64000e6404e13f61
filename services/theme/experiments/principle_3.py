"""theme.principle.3: every retried operation is safe to repeat. A save sent again (also
concurrently) with its If-Match has one effect, the repeats refused; a publish sent twice
with one Idempotency-Key has one effect and the same answer; a consumed event delivered
twice is applied once; a bundle built twice is the same bytes, the same digest."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from services.theme.domain.bundle import build_bundle
from services.theme.domain.document import ThemeDocument
from services.theme.harness import open_world, sample_document
from services.theme.provisioning import created_message

import mitigate
from mitigate.chaos import Run, experiment

GLOBEX = {"x-tenant-id": "globex"}


@experiment("theme.principle.3")
async def safe_to_repeat(run: Run) -> None:
    world = await open_world(run, events=True)
    http = world.http
    first = await http.put("/v1/themes/brand", json=sample_document(name="v1"))
    await run.steady("a theme is saved", first.status_code == 200)

    # a save sent twice at once, then once more: If-Match makes the repeats refusals
    key = {"if-match": '"1"'}
    body = sample_document(name="v2")
    racing = await asyncio.gather(
        http.put("/v1/themes/brand", json=body, headers=key),
        http.put("/v1/themes/brand", json=body, headers=key),
    )
    again = await http.put("/v1/themes/brand", json=body, headers=key)
    statuses = sorted(r.status_code for r in [*racing, again])
    row = await world.row("brand")
    run.expect(
        "a save repeated: one effect, the repeats refused (412), nothing merged",
        row is not None and row[0] == 2 and statuses == [200, 412, 412],
        f"revision {row and row[0]}, {statuses}",
    )

    # a publish sent twice with one key
    publish = {"idempotency-key": "publish-2"}
    one = await http.post("/v1/themes/brand/publish", headers=publish)
    two = await http.post("/v1/themes/brand/publish", headers=publish)
    publications = await world.publications("brand")
    run.expect(
        "a publish repeated with its key: one publication, the same answer",
        one.status_code == 200
        and two.status_code == 200
        and one.json() == two.json()
        and len(publications) == 1,
        f"{one.status_code} {two.status_code} {publications}",
    )
    if one.status_code == two.status_code == 200 and one.json() == two.json():
        run.detected("the repeated publish was answered from the idempotency store")

    # an event delivered twice
    rt = world.theme.runtime
    message = created_message(rt.settings, "globex")
    await rt.bus.publish(message)
    await rt.bus.publish(replace(message, dedup_id="delivered-again"))
    await run.wait(10.0)
    status = (await http.get("/v1/provisioning", headers=GLOBEX)).json()
    run.expect("an event delivered twice is applied once", status.get("times") == 1, str(status))

    # a bundle built twice
    doc = ThemeDocument.model_validate(sample_document(name="pure"))
    html = mitigate.HtmlPolicy()
    a = build_bundle("brand", 3, doc, html.sanitize)
    b = build_bundle(
        "brand", 3, ThemeDocument.model_validate(sample_document(name="pure")), html.sanitize
    )
    run.expect(
        "a bundle built twice: same bytes, same digest", a.data == b.data and a.sha256 == b.sha256
    )
    run.mitigated("Idempotency-Key, OCC, inbox dedupe, pure bundle build")
