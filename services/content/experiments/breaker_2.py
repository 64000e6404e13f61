"""content.breaker.2: the object-store (S3) breaker, trips at 10 failures in 30 s, resets
after 60 s.

Through publishes over the HTTP API: 9 upload failures in 30 s leave it closed; the 10th
inside 30 s opens it; 10 failures spread over more than 30 s leave it closed; while open,
uploads fail fast, the object store sees no write and the publish waits in its saga (the
author's request is not failed); 60 s later one probe decides (ok: closed; failing: open
for another 60 s)."""

from __future__ import annotations

from services.content.breaker_row import BreakerRow, check_breaker_row
from services.content.harness import open_world

from mitigate.chaos import Run, experiment


@experiment("content.breaker.2")
async def s3_breaker(run: Run) -> None:
    world = await open_world(run)
    world.asset("index.html", b"<p>lesson</p>")
    store = world.content.runtime.objects

    async def publish_waits() -> None:
        waiting = (await world.http.get("/v1/drafts/ten")).json()
        run.expect(
            "while open, the publish waits (building), the request did not fail",
            waiting["state"] == "building",
            waiting["state"],
        )

    # Nine failures land inside 30 s as 6 in the first upload call and 3 in the next.
    row = BreakerRow(
        target="objects.put",
        calls=lambda: store.writes,
        fail_fast="while open, uploads fail fast (rejected)",
        zero_calls="while open, the object store sees zero writes",
        while_open=publish_waits,
        exact_reset=False,
    )
    await check_breaker_row(run, world, row)
