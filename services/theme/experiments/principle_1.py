"""theme.principle.1: writes fail closed, reads degrade gracefully. Each dependency is
taken down in turn: the primary database, the bundle cache, the object store (upload
refused; origin bytes corrupted). Every write either commits fully or is refused promptly
with the database unchanged (a snapshot of every theme table before and after); every
read walks cache -> origin -> last-known-good and answers 200."""

from __future__ import annotations

from typing import Any

from services.theme.harness import TENANT, World, alerts, open_world, sample_document

from mitigate.chaos import Failure, Latency, Run, experiment

RULE = "theme.rule.db-unavailable"
TABLES = ("theme_themes", "theme_publications", "theme_purges", "mitigate_outbox")


async def snapshot(world: World) -> dict[str, list[Any]]:
    return {t: sorted(map(tuple, await world.fetch(TENANT, f"SELECT * FROM {t}"))) for t in TABLES}


@experiment("theme.principle.1")
async def fail_closed_fail_open(run: Run) -> None:
    world = await open_world(run)
    http = world.http
    saved = await http.put("/v1/themes/brand", json=sample_document(name="v1"))
    await http.post("/v1/themes/brand/publish")
    etag = saved.headers["etag"]
    for _ in range(2):
        ok = await http.get("/v1/themes/brand/read")
    await run.steady("reads come from the cache", ok.headers.get("x-theme-source") == "cache")

    # the primary database down: the write is refused promptly, nothing changed
    before = await snapshot(world)
    async with run.fault(Latency("theme.db", delay=3600.0)):
        start = run.clock.now()
        write = await http.put(
            "/v1/themes/brand", json=sample_document(name="v2"), headers={"if-match": etag}
        )
        took = run.clock.now() - start
        reads = [(await http.get("/v1/themes/brand/read")).status_code for _ in range(3)]
    after = await snapshot(world)
    run.expect(
        "database down: the write is refused within 10 s, the database unchanged",
        write.status_code == 503 and took <= 10.0 and before == after,
        f"{write.status_code} in {took:.1f}s, unchanged {before == after}",
    )
    run.expect("database down: reads answer 200", reads == [200, 200, 200], str(reads))
    fired = alerts(run, RULE)
    if fired:
        run.detected(RULE)
    run.expect(f"{RULE} raised alert.raised", bool(fired))
    await run.wait(30.0)  # the primary is back; its breaker closes on the next call

    # the cache down: writes commit fully, reads go to origin
    async with run.fault(Latency("bundle.cache", delay=30.0), duration=60.0):
        write = await http.put(
            "/v1/themes/brand", json=sample_document(name="v2"), headers={"if-match": etag}
        )
        published = await http.post("/v1/themes/brand/publish")
        read = await http.get("/v1/themes/brand/read")
    row = await world.row("brand")
    run.expect(
        "cache down: the write and the publish commit fully",
        write.status_code == 200
        and published.status_code == 200
        and row is not None
        and row[0] == 2
        and row[1] == "published",
        f"{write.status_code} {published.status_code} {row and row[:2]}",
    )
    run.expect(
        "cache down: the read answers 200 from origin",
        read.status_code == 200 and read.headers.get("x-theme-source") == "origin",
        f"{read.status_code} {read.headers.get('x-theme-source')}",
    )
    good = (await http.get("/v1/themes/brand/read")).content

    # the object store: an upload refused is a refused publish; corrupted origin bytes
    etag = write.headers.get("etag", etag)
    write = await http.put(
        "/v1/themes/brand", json=sample_document(name="v3"), headers={"if-match": etag}
    )
    before = await snapshot(world)
    async with run.fault(Failure("bundle.upload", error=ConnectionError("store down"))):
        refused = await http.post("/v1/themes/brand/publish")
    after = await snapshot(world)
    run.expect(
        "object store down: the publish is refused, the database unchanged",
        refused.status_code == 503 and before == after,
        f"{refused.status_code} unchanged {before == after}",
    )
    key = (await http.get("/v1/themes/brand/publication")).json()["objectKey"]
    reader = world.theme.reader
    assert reader is not None
    await world.theme.runtime.objects.put(key, b"garbage")
    await reader.cache_purge(key)
    read = await http.get("/v1/themes/brand/read")
    run.expect(
        "origin corrupted: the read answers 200 from last-known-good",
        read.status_code == 200
        and read.content == good
        and read.headers.get("x-theme-source") == "last-known-good",
        f"{read.status_code} {read.headers.get('x-theme-source')}",
    )
    run.mitigated("writes refused with the database unchanged; reads degraded, never failed")
