"""comms.fm.8: the AV scanner slows to a tenth of its speed with 2000 uploads waiting."""

from __future__ import annotations

from typing import Any

from services.comms.adapters.fake_scanner import EICAR
from services.comms.harness import alerts, open_world

from mitigate.chaos import Run, experiment

RULE = "comms.rule.scan-backlog"
A = {"x-tenant-id": "clinic-a"}
BACKLOG = 2000
MINUTE = 60.0


@experiment("comms.fm.8", failure_modes=["comms.fm.8"])
async def attachment_scan_stuck(run: Run) -> None:
    """Uploads are scanned before anyone can download them (409 while pending, 403 for
    the EICAR file). The scanner slows to a tenth of its speed and 2000 uploads arrive:
    further uploads are refused with 503 + Retry-After; the backlog rule stays quiet at
    14 minutes and fires at 15; a second scanner worker then shares the queue; every
    accepted upload is scanned and only then downloadable."""
    world = await open_world(run)
    scanner = world.fakes.scanner

    async def upload(body: bytes) -> Any:
        return await world.http.post("/v1/attachments", content=body, headers=A)

    async def ops() -> dict[str, Any]:
        return (await world.ops.get("/ops/scans")).json()  # type: ignore[no-any-return]

    clean = (await upload(b"lab results, page 1")).json()["id"]
    infected = (await upload(b"attached: " + EICAR)).json()["id"]
    early = await world.http.get(f"/v1/attachments/{clean}", headers=A)
    await run.steady("nothing downloadable before its scan", early.status_code == 409)
    await run.wait(5)
    got = await world.http.get(f"/v1/attachments/{clean}", headers=A)
    await run.steady("a clean upload is downloadable once scanned", got.status_code == 200)
    bad = await world.http.get(f"/v1/attachments/{infected}", headers=A)
    await run.steady("the EICAR upload never is", bad.status_code == 403)

    label = "AV scanner at a tenth of its speed"
    start = run.clock.now()
    run.timeline.window(start, None, label)
    scanner.slow(10)
    accepted = []
    for n in range(BACKLOG):
        answer = await upload(f"scan me {n}".encode())
        if answer.status_code == 201:
            accepted.append(answer.json()["id"])
    refused = None
    for n in range(200):  # the scanner drains 1/s: uploads soon reach the limit
        answer = await upload(f"one more {n}".encode())
        if answer.status_code != 201:
            refused = answer
            break
        accepted.append(answer.json()["id"])
    run.expect(
        "uploads beyond 2000 waiting are refused with 503 + Retry-After",
        refused is not None
        and refused.status_code == 503
        and "retry-after" in refused.headers
        and refused.json()["code"] == "COMMS.UPLOAD.SCAN_BACKLOG",
        refused.text if refused is not None else "never refused",
    )
    waiting = (await ops())["waiting"]
    run.expect("the backlog is at the limit", waiting >= BACKLOG, str(waiting))
    pending = await world.http.get(f"/v1/attachments/{accepted[-1]}", headers=A)
    run.expect("a waiting upload is not downloadable", pending.status_code == 409, pending.text)

    await run.wait(start + 14 * MINUTE - run.clock.now())
    run.expect("no alert at 14 minutes", not alerts(run, RULE), str(alerts(run, RULE)))
    run.expect("one scanner worker so far", (await ops())["workers"] == 1)
    await run.wait(90)
    fired = alerts(run, RULE)
    run.expect("the backlog alert fired at 15 minutes", bool(fired), str(fired))
    if fired:
        run.detected(RULE)
    await run.wait(31)
    run.expect("a second scanner worker shares the queue", (await ops())["workers"] == 2)
    run.mitigated("second scanner worker; uploads refused at the limit")

    end = run.clock.now() + 60 * MINUTE
    while (await ops())["waiting"] and run.clock.now() < end:
        await run.wait(MINUTE)
    drained_in = run.clock.now() - start
    scanner.restore()
    run.timeline.close_window(label, run.clock.now())
    summary = await ops()
    run.expect(
        "every accepted upload was scanned",
        summary["waiting"] == 0
        and summary["states"] == {"clean": len(accepted) + 1, "infected": 1},
        f"{summary} after {drained_in:.0f}s",
    )
    run.expect(
        "two workers drained it faster than one would (1/s)",
        drained_in < len(accepted),
        f"{drained_in:.0f}s for {len(accepted)}",
    )
    sample = accepted[:: max(1, len(accepted) // 20)]
    codes = {(await world.http.get(f"/v1/attachments/{a}", headers=A)).status_code for a in sample}
    run.expect("and is downloadable now", codes == {200}, str(codes))
