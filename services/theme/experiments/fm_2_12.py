"""theme.fm.2.12: the published bundle is corrupted at origin and in the cache. The read
fails the digest check and emits the integrity event; the cache is purged and the origin
read again; still wrong, so the previous bundle comes from last-known-good. Bytes that
fail the digest are never served; no 5xx."""

from __future__ import annotations

from services.theme.harness import alerts, open_world, sample_document

from mitigate.chaos import Run, experiment

RULE = "theme.rule.bundle-integrity"
EVIL = b'{"colors":{"primary":"#ff0000"},"tampered":true}'


@experiment("theme.fm.2.12", failure_modes=["theme.fm.2.12"])
async def digest_mismatch(run: Run) -> None:
    world = await open_world(run)
    http = world.http
    await http.put("/v1/themes/brand", json=sample_document(name="One"))
    await http.post("/v1/themes/brand/publish")
    first = await http.get("/v1/themes/brand/read")
    await run.steady("revision 1 is read", first.status_code == 200)
    good = first.content

    await http.put(
        "/v1/themes/brand", json=sample_document(name="Two"), headers={"if-match": '"1"'}
    )
    published = await http.post("/v1/themes/brand/publish")
    run.require("revision 2 published", published.status_code == 200, published.text)
    key = (await http.get("/v1/themes/brand/publication")).json()["objectKey"]
    reader = world.theme.reader
    assert reader is not None
    await world.theme.runtime.objects.put(key, EVIL)  # origin corrupted
    await reader.cache_put(key, EVIL)  # and the cache

    answer = await http.get("/v1/themes/brand/read")
    violations = run.recorder.named("theme.bundle.integrity.violation")
    run.expect(
        "the cache copy, then the origin copy, fail the digest",
        [getattr(v, "where", "") for v in violations] == ["cache", "origin"],
        str([getattr(v, "where", "") for v in violations]),
    )
    run.expect(
        "the previous bundle is served from last-known-good, no 5xx",
        answer.status_code == 200
        and answer.content == good
        and answer.headers.get("x-theme-source") == "last-known-good",
        f"{answer.status_code} {answer.headers.get('x-theme-source')}",
    )
    run.expect("tampered bytes never served", b"tampered" not in answer.content)
    run.expect("the cache was purged", await reader.cache_get(key) is None)
    fired = alerts(run, RULE)
    run.expect(f"{RULE} raised alert.raised", len(fired) >= 1, str(len(fired)))
    if fired:
        run.detected(RULE)
