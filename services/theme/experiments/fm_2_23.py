"""theme.fm.2.23: bundles just above the 40 KB soft budget. Each breach warns (event and
metric) and still publishes; 5 breaches in a day raise no alert, the 6th does; 6 breaches
spread over two days raise none; a bundle of exactly 40 KB is no breach."""

from __future__ import annotations

from services.theme.domain.bundle import build_bundle
from services.theme.domain.document import ThemeDocument
from services.theme.harness import alerts, open_world, sample_document
from services.theme.themes import BUDGET_BYTES

import mitigate
from mitigate.chaos import Run, experiment

RULE = "theme.rule.budget-persistent"
HOUR = 3600.0


def sized(theme_id: str, size: int) -> dict[str, object]:
    """A document whose bundle (revision 1) is exactly ``size`` bytes."""
    base = sample_document(blocks=[{"id": "pad", "html": ""}])
    empty = build_bundle(theme_id, 1, ThemeDocument.model_validate(base), mitigate.sanitize)
    return sample_document(blocks=[{"id": "pad", "html": "x" * (size - len(empty.data))}])


@experiment("theme.fm.2.23", failure_modes=["theme.fm.2.23"])
async def over_budget(run: Run) -> None:
    world = await open_world(run)
    http = world.http
    count = 0

    async def publish(size: int) -> int:
        nonlocal count
        count += 1
        theme_id = f"t{count:03d}"
        await http.put(f"/v1/themes/{theme_id}", json=sized(theme_id, size))
        answer = await http.post(f"/v1/themes/{theme_id}/publish")
        run.require(f"{theme_id} publishes", answer.status_code == 200, answer.text)
        return int(answer.json()["size"])

    def breaches() -> int:
        return len(run.recorder.named("theme.bundle_over_budget"))

    exact = await publish(BUDGET_BYTES)
    await run.steady("exactly 40 KB is within budget", exact == BUDGET_BYTES and breaches() == 0)

    for i in range(5):
        size = await publish(BUDGET_BYTES + 1)
        run.expect(f"breach {i + 1}: warned and published", breaches() == i + 1, str(size))
        await run.wait(HOUR)
    run.expect("5 breaches in a day: no alert", alerts(run, RULE) == [])
    await publish(BUDGET_BYTES + 1)
    await run.wait(1.0)
    fired = alerts(run, RULE)
    run.expect("the 6th breach within a day raises the alert", len(fired) == 1, str(len(fired)))
    if fired:
        run.detected(RULE)
    metric = world.theme.runtime.registry.get_sample_value(
        "theme_bundle_budget_breaches_total", {"tenant": "acme"}
    )
    run.expect("a metric increment per breach", metric == 6, str(metric))

    # Two days later: 6 breaches spread over two days (3, then 3 more 25 h later).
    await run.wait(48 * HOUR)
    for _ in range(3):
        await publish(BUDGET_BYTES + 1)
    await run.wait(25 * HOUR)
    for _ in range(3):
        await publish(BUDGET_BYTES + 1)
    await run.wait(1.0)
    run.expect("6 breaches over two days: no new alert", len(alerts(run, RULE)) == 1)
    run.expect("every publish proceeded", breaches() == 12, str(breaches()))
