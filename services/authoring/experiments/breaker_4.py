"""authoring.breaker.4: the content service breaker (5 / 30s, reset 60 s) in the publish
saga's bundling step; open-breaker refusals feed the step retries (authoring.retry.4)."""

from __future__ import annotations

from mitigate.chaos import Run, experiment
from services.authoring.harness import open_world
from services.authoring.saga_breaker_row import check_saga_breaker


@experiment("authoring.breaker.4")
async def content_breaker(run: Run) -> None:
    world = await open_world(run)
    content = world.service.fakes.content
    run.require("the fake content service runs", content is not None)
    assert content is not None
    await check_saga_breaker(
        run,
        world,
        "content.bundle",
        "authoring.rule.content-breaker-open",
        lambda: content.requests,
    )
