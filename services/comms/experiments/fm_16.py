"""comms.fm.16: a receipt worker's clock drifts; receipts keep their order."""

from __future__ import annotations

from services.comms.harness import World, alerts, open_world

from mitigate.chaos import ClockSkew, Run, experiment

RULE = "comms.rule.clock-skew"
HEADERS = {"x-tenant-id": "clinic-a"}


async def _reads(
    world: World, thread: str, count: int, tag: str
) -> tuple[list[str], dict[str, int]]:
    """``count`` receipts, 100 ms apart, alternating workers; a 503 goes to the other
    worker (as a load balancer would). Returns the participants in commit order and how
    many each worker stamped."""
    sent, by = [], {"worker-a": 0, "worker-b": 0}
    for n in range(count):
        participant = f"{tag}{n}"
        worker = "worker-b" if n % 2 else "worker-a"
        answer = await world.http.post(
            f"/v1/threads/{thread}/reads",
            json={"participant": participant},
            headers={**HEADERS, "x-worker": worker},
        )
        if answer.status_code == 503:
            worker = "worker-a" if worker == "worker-b" else "worker-b"
            answer = await world.http.post(
                f"/v1/threads/{thread}/reads",
                json={"participant": participant},
                headers={**HEADERS, "x-worker": worker},
            )
        if answer.status_code == 200:
            sent.append(participant)
            by[worker] += 1
        await world.clock.asleep(0.1)
    return sent, by


async def _listed(world: World, thread: str) -> list[str]:
    rows = (await world.http.get(f"/v1/threads/{thread}/reads", headers=HEADERS)).json()
    return [r["participant"] for r in rows]


@experiment("comms.fm.16", failure_modes=["comms.fm.16"])
async def clock_skew(run: Run) -> None:
    """Worker B's clock 400 ms ahead: no alert, B keeps stamping, receipts listed in commit
    order (B's later stamps would sort wrong by host time). 800 ms ahead: the alert fires,
    B issues no receipts (its callers go to A) until corrected; the order still holds."""
    world = await open_world(run)
    sent, _ = await _reads(world, "t-1", 4, "calm-")
    await run.steady("receipts in order", await _listed(world, "t-1") == sent)

    async with run.fault(ClockSkew("clock", party="worker-b", offset=0.4)):
        sent, by = await _reads(world, "t-2", 10, "small-")
    run.expect("400 ms: no alert", not alerts(run, RULE))
    run.expect("400 ms: worker B still issues receipts", by["worker-b"] == 5, str(by))
    run.expect(
        "listed in commit order",
        await _listed(world, "t-2") == sent,
        str(await _listed(world, "t-2")),
    )

    async with run.fault(ClockSkew("clock", party="worker-b", offset=0.8)):
        sent, by = await _reads(world, "t-3", 10, "big-")
        fired = alerts(run, RULE)
        run.expect("800 ms: the skew alert fired", bool(fired), str([a.value for a in fired]))
        if fired:
            run.detected(RULE)
        run.expect("800 ms: worker B issued no receipt", by["worker-b"] == 0, str(by))
        run.expect("every receipt still taken (by A)", len(sent) == 10, str(sent))
    run.expect("listed in commit order", await _listed(world, "t-3") == sent)
    run.mitigated("skewed worker stops stamping; order from the database sequence")
    sent, by = await _reads(world, "t-4", 4, "after-")
    run.expect("corrected: B issues receipts again", by["worker-b"] == 2, str(by))
