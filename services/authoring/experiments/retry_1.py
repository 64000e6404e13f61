"""authoring.retry.1: the block write schedule, max 3 retries at 10 ms, 50 ms, 200 ms
inside a 300 ms budget (embedded: injected ``store.write`` errors on SQLite).

Two connection resets, then OK: retried after 10 ms and 50 ms, stored on the 3rd
attempt. Always failing: 3 retries (260 ms of waiting) inside 300 ms, the error reaches
the caller (503) and nothing is stored. An answer lost after COMMIT: the client resends
with its operation id, and one block is stored. Not shown here: that a constraint
violation is not retried (the code treats it as permanent, but a fault injected at the
pipeline cannot reach inside the write, and no real violation can be provoked yet)."""

from __future__ import annotations

from typing import Any

from mitigate.chaos import Failure, Run, experiment
from services.authoring.harness import alerts, events_since, open_world


@experiment("authoring.retry.1")
async def block_write_schedule(run: Run) -> None:
    world = await open_world(run)
    draft = await world.new_draft()
    url = f"/v1/drafts/{draft}/blocks"
    ok = await world.http.post(url, json={"kind": "text"})
    await run.steady("blocks are written", ok.status_code == 201)

    def attempts(since: int) -> list[Any]:
        return run.recorder.named("attempt.started", "store.write")[since:]

    seen = len(run.recorder.named("attempt.started", "store.write"))
    t0 = run.clock.now()
    async with run.fault(Failure("store.write", times=2, error=ConnectionResetError("reset"))):
        flaky = await world.http.post(url, json={"kind": "text"})
    delays = [e.delay for e in events_since(run, "retry.scheduled", "store.write", t0)]
    run.expect("retries after 10 ms and 50 ms", delays == [0.01, 0.05], str(delays))
    run.expect("stored on the 3rd attempt", len(attempts(seen)) == 3, str(len(attempts(seen))))
    run.expect("acknowledged", flaky.status_code == 201, flaky.text)

    seen = len(run.recorder.named("attempt.started", "store.write"))
    t1 = run.clock.now()
    async with run.fault(Failure("store.write")):
        down = await world.http.post(url, json={"kind": "text"})
    took = run.clock.now() - t1
    delays = [e.delay for e in events_since(run, "retry.scheduled", "store.write", t1)]
    run.expect("gives up after 3 retries", len(attempts(seen)) == 4, str(len(attempts(seen))))
    run.expect("260 ms of waiting", abs(sum(delays) - 0.26) < 1e-9, str(delays))
    run.expect("inside 300 ms", took <= 0.3, f"{took:.3f}s")
    run.expect("the error reaches the caller", down.status_code == 503, down.text)
    blocks = (await world.draft(draft))["blocks"]
    run.expect("nothing acknowledged, nothing stored", len(blocks) == 2, str(len(blocks)))
    run.expect("alert raised", bool(alerts(run, "authoring.rule.block-write-failed")))

    # The answer is lost after COMMIT: the client resends with the same operation id.
    body = {"kind": "text", "body": {"t": "once"}, "operationId": "op-42"}
    first = await world.http.post(url, json=body)
    again = await world.http.post(url, json=body)
    blocks = (await world.draft(draft))["blocks"]
    same = [b for b in blocks if b["body"].get("t") == "once"]
    run.expect("the resend is answered", first.status_code == again.status_code == 201)
    run.expect("exactly one block for the operation", len(same) == 1, str(len(same)))
