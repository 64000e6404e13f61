"""comms.budget.1: 51 % of the 30-day error budget burned in a 7-day window freezes
adapter changes; 49 % does not; the freeze lifts once the window clears."""

from __future__ import annotations

from typing import Any

from services.comms.harness import alerts, open_world

from mitigate.chaos import Run, experiment

RULE = "comms.rule.budget-burn"
DAY = 86400.0
PER_DAY = 1000  # samples per SLO per day: 7 000 a week, budget 1 % x 30 000 = 300 a month
ADAPTER = ["services/comms/adapters/sms.py"]
DOCS = ["services/comms/README.md"]
# Bad samples per day index. Send latency: 7 x 21 = 147 in days 2-8, 49 % of 300.
# Dispatch success: 153 (51 %) in days 17-23, a window that starts mid-week: calendar
# weeks (days 14-20 and 21-27) hold 88 and 65 of them, both under 50 %.
LATENCY_BAD = {day: 21 for day in range(2, 9)}
SUCCESS_BAD = {day: (21 if day == 23 else 22) for day in range(17, 24)}


@experiment("comms.budget.1", failure_modes=["comms.budget.1"])
async def error_budget_freeze(run: Run) -> None:
    """30 simulated days of SLI batches, one per SLO per day (at noon), posted to the
    service. The latency SLO burns 49 % in a 7-day window: no freeze, the gate passes an
    adapter change. Dispatch success then burns 51 % in a window not aligned to calendar
    weeks: the rule fires, the freeze flag is set, the gate refuses the adapter change
    (and passes a docs change); the next day the window no longer holds the burn and the
    gate passes again."""
    world = await open_world(run, workers=False)  # a month of virtual time, API only

    async def post_day(day: int) -> dict[str, Any]:
        answer: dict[str, Any] = {}
        for slo, bad_by_day in (("send-latency", LATENCY_BAD), ("dispatch-success", SUCCESS_BAD)):
            bad = bad_by_day.get(day, 0)
            sent = await world.ops.post(
                "/ops/sli", json={"slo": slo, "good": PER_DAY - bad, "bad": bad}
            )
            sent.raise_for_status()
            answer = sent.json()
        return answer

    async def gate(paths: list[str]) -> int:
        return (await world.ops.post("/ops/gate", json={"paths": paths})).status_code

    await run.wait(DAY / 2)
    peak = 0.0
    for day in range(0, 15):
        answer = await post_day(day)
        peak = max(peak, answer["burn"]["send-latency"])
        run.expect(f"day {day}: not frozen", not answer["frozen"], str(answer))
        await run.wait(DAY)
    run.expect("the latency SLO peaked at 49 % of its budget", round(peak, 4) == 0.49, str(peak))
    run.expect("no alert at 49 %", not alerts(run, RULE))
    run.expect("the gate passes an adapter change at 49 %", await gate(ADAPTER) == 200)

    frozen_days = []
    for day in range(15, 24):
        answer = await post_day(day)
        if answer["frozen"]:
            frozen_days.append(day)
        if day < 23:
            await run.wait(DAY)
    budget = (await world.ops.get("/ops/budget")).json()
    run.expect(
        "dispatch success burned 51 % in days 17-23",
        round(budget["burn"]["dispatch-success"], 4) == 0.51,
        str(budget),
    )
    fired = alerts(run, RULE)
    run.expect("the budget rule fired at 51 %", bool(fired), str(fired))
    if fired:
        run.detected(RULE)
    run.expect("frozen only on day 23", frozen_days == [23], str(frozen_days))
    run.expect("the flag is set", budget["frozen"] and budget["slo"] == "dispatch-success")
    refused = await world.ops.post("/ops/gate", json={"paths": [*DOCS, *ADAPTER]})
    run.expect(
        "the gate refuses an adapter change while frozen",
        refused.status_code == 409 and refused.json()["code"] == "COMMS.BUDGET.FROZEN",
        refused.text,
    )
    run.expect("a change outside the adapters passes", await gate(DOCS) == 200)
    run.mitigated("adapter changes frozen by the gate")

    for day in range(24, 30):
        await run.wait(DAY)
        answer = await post_day(day)
        run.expect(f"day {day}: the window cleared", not answer["frozen"], str(answer))
    run.expect("the gate passes the adapter change again", await gate(ADAPTER) == 200)
