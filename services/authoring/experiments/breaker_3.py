"""authoring.breaker.3: the catalog service breaker (5 / 30s, reset 60 s) in the publish
saga's registration step; open-breaker refusals feed the step retries (authoring.retry.4)."""

from __future__ import annotations

from mitigate.chaos import Run, experiment
from services.authoring.harness import open_world
from services.authoring.saga_breaker_row import check_saga_breaker


@experiment("authoring.breaker.3")
async def catalog_breaker(run: Run) -> None:
    world = await open_world(run)
    catalog = world.service.fakes.catalog
    run.require("the fake catalog runs", catalog is not None)
    assert catalog is not None
    await check_saga_breaker(
        run,
        world,
        "catalog.register",
        "authoring.rule.catalog-breaker-open",
        lambda: catalog.requests,
    )
