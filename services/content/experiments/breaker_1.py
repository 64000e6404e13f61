"""content.breaker.1: the KMS breaker, trips at 10 failures in 30 s, resets after 60 s.

Through publishes over the HTTP API: 9 signing failures in 30 s leave it closed; the 10th
inside 30 s opens it; 10 failures spread over more than 30 s leave it closed; while open,
signing fails fast and the key ring sees no call; 60 s later one probe decides (ok: closed;
failing: open for another 60 s)."""

from __future__ import annotations

from services.content.breaker_row import BreakerRow, check_breaker_row
from services.content.harness import open_world

from mitigate.chaos import Run, experiment


@experiment("content.breaker.1")
async def kms_breaker(run: Run) -> None:
    world = await open_world(run)
    world.asset("index.html", b"<p>lesson</p>")
    signer = world.content.publisher.signer
    # Nine failures land inside 30 s as 4 + 4 + 1 across the publish step's retries.
    row = BreakerRow(
        target="kms.sign",
        calls=lambda: signer.calls,
        fail_fast="while open, signing fails fast (rejected)",
        zero_calls="while open, the key ring sees zero calls",
    )
    await check_breaker_row(run, world, row)
