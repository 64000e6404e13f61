"""theme.fm.2.4: the bundle upload fails. (a) The upload hangs 11 s: cut at 10 s, the
publish aborts before its transaction (no database write, no object). (b) The upload
succeeds but the client loses the response: the retry with the same Idempotency-Key gets
the same answer, one object, one publication. (c) An orphan object is left behind: the
sweep deletes it after the orphan age, not before, and keeps the named one."""

from __future__ import annotations

from services.theme.harness import TENANT, alerts, open_world, sample_document

import mitigate.chaos
from mitigate.chaos import Run, experiment

ORPHAN_AGE = 3600.0
SWEEP_EVERY = 900.0


@experiment("theme.fm.2.4", failure_modes=["theme.fm.2.4"])
async def upload_failure(run: Run) -> None:
    world = await open_world(run, workers=True)
    http = world.http
    saved = await http.put("/v1/themes/main", json=sample_document())
    await run.steady("a publishable theme", saved.status_code == 200)

    async def snapshot() -> tuple[object, ...]:
        objects = await world.theme.runtime.objects.list("bundles/")
        return (await world.row("main"), await world.publications("main"), sorted(objects))

    # (a) the upload hangs 11 s
    before = await snapshot()
    await run.inject(mitigate.chaos.Latency(target="bundle.upload", delay=11.0), duration=1.0)
    t0 = run.clock.now()
    hung = await http.post("/v1/themes/main/publish")
    took = run.clock.now() - t0
    run.expect(
        "(a) cut at 10 s with a retryable error",
        hung.status_code == 503
        and hung.json().get("code") == "MELMASTOON.THEME.BUNDLE_UPLOAD_FAILED"
        and abs(took - 10.0) < 0.5
        and "retry-after" in hung.headers,
        f"{hung.status_code} {hung.text} after {took:.2f}s",
    )
    run.expect("(a) no database write, no object", await snapshot() == before)
    fired = alerts(run, "theme.rule.upload-failed")
    run.expect("(a) theme.rule.upload-failed raised alert.raised", len(fired) >= 1)
    if fired:
        run.detected("theme.rule.upload-failed")

    # (b) the response is lost: the client retries with the same key
    await run.wait(2.0)
    key = {"idempotency-key": "publish-main-1"}
    first = await http.post("/v1/themes/main/publish", headers=key)
    run.require("(b) the first publish went through server-side", first.status_code == 200)
    retry = await http.post("/v1/themes/main/publish", headers=key)
    objects = await world.theme.runtime.objects.list("bundles/")
    publications = await world.publications("main")
    run.expect(
        "(b) the retry gets the same answer; one object, one publication",
        retry.status_code == 200
        and retry.json() == first.json()
        and len(objects) == 1
        and publications == [(1, 1)],
        f"{retry.text} {objects} {publications}",
    )

    # (c) an upload whose publish never flipped leaves an orphan
    orphan = f"bundles/{TENANT}/main/{'0' * 64}.json"
    await world.theme.runtime.objects.put(orphan, b'{"orphan":true}')
    await run.wait(ORPHAN_AGE / 2)
    left = await world.theme.runtime.objects.list("bundles/")
    run.expect("(c) not reaped before the orphan age", orphan in left, str(left))
    await run.wait(ORPHAN_AGE / 2 + 2 * SWEEP_EVERY)
    left = await world.theme.runtime.objects.list("bundles/")
    run.expect(
        "(c) the sweep deleted the orphan and kept the published bundle",
        orphan not in left and set(objects) <= set(left),
        str(left),
    )
    reaped = alerts(run, "theme.rule.orphans-reaped")
    run.expect("(c) theme.rule.orphans-reaped raised alert.raised", len(reaped) >= 1)
