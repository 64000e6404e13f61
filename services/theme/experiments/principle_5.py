"""theme.principle.5: rollback is always available and the reader keeps the last good
bundle 24 h. The current bundle fails its integrity check: the last-known-good copy is
served at 23 h 59 min after it was cached and no longer after 24 h; a rollback to the
previous version succeeds (its object was never reaped) and readers get it, verified."""

from __future__ import annotations

from services.theme.harness import alerts, open_world, sample_document

from mitigate.chaos import Run, experiment

RULE = "theme.rule.bundle-integrity"


@experiment("theme.principle.5")
async def rollback_and_lkg(run: Run) -> None:
    world = await open_world(run)
    http = world.http
    await http.put("/v1/themes/brand", json=sample_document(name="One"))
    await http.post("/v1/themes/brand/publish")
    one = (await http.get("/v1/themes/brand/read")).content
    await http.put(
        "/v1/themes/brand", json=sample_document(name="Two"), headers={"if-match": '"1"'}
    )
    await http.post("/v1/themes/brand/publish")
    two = await http.get("/v1/themes/brand/read")
    await run.steady("revision 2 is read", two.status_code == 200 and two.content != one)
    cached_at = run.clock.now()
    key = (await http.get("/v1/themes/brand/publication")).json()["objectKey"]
    reader = world.theme.reader
    assert reader is not None
    await world.theme.runtime.objects.put(key, b'{"tampered": true}')
    await reader.cache_put(key, b'{"tampered": true}')

    first = await http.get("/v1/themes/brand/read")
    fired = alerts(run, RULE)
    if fired:
        run.detected(RULE)
    run.expect(f"{RULE} raised alert.raised", bool(fired))
    await run.wait(cached_at + 23 * 3600 + 59 * 60 - run.clock.now())
    late = await http.get("/v1/themes/brand/read")
    run.expect(
        "last-known-good served at 23 h 59 min",
        first.content == two.content
        and late.status_code == 200
        and late.content == two.content
        and late.headers.get("x-theme-source") == "last-known-good",
        f"{late.status_code} {late.headers.get('x-theme-source')}",
    )
    await run.wait(2 * 60)
    expired = await http.get("/v1/themes/brand/read")
    run.expect(
        "expired after 24 h (no unverified byte instead)", expired.status_code == 503, expired.text
    )

    await world.theme.orphans.sweep_once()  # the orphan sweep never takes a published object
    back = await http.post("/v1/themes/brand/rollback", json={"revision": 1})
    read = await http.get("/v1/themes/brand/read")
    run.expect(
        "the rollback to the previous version succeeds and is read, verified",
        back.status_code == 200 and read.status_code == 200 and read.content == one,
        f"{back.status_code} {back.text} / {read.status_code}",
    )
    run.mitigated("last-known-good for 24 h; rollback to the previous publication")
