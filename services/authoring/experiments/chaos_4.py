"""authoring.chaos.4: a PostgreSQL primary failover during a stream of block writes.

An editor writes a block every second, each with its operation id, and keeps every write
it has no answer for as pending (its CRDT state). The primary is cut: the write in flight
commits but its answer is lost; for 30 s every write fails inside its 300 ms budget and is
not acknowledged. The standby is promoted; the first write on it meets a reset pooled
connection, which the write retry rides; the editor resends everything pending with the
same operation ids. Nothing acknowledged is lost, nothing is stored twice.

Virtual time, embedded: the cut is an outage of ``store.write`` on SQLite. The same run on
a real primary and a promoted streaming standby is tests/services/authoring/
test_pg_failover.py (real clock, the TCP fault proxy, ``pg_ctl promote``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from mitigate.chaos import Failure, Run, experiment
from services.authoring.harness import World, alerts, events_since, open_world


@dataclass
class Editor:
    """A client that acknowledges an edit only when the service answered 201."""

    world: World
    draft: str
    sent: int = 0
    acked: set[str] = field(default_factory=set)
    pending: list[str] = field(default_factory=list)

    async def write(self, op: str) -> int:
        url = f"/v1/drafts/{self.draft}/blocks"
        body = {"kind": "text", "body": {"op": op}, "operationId": op}
        response = await self.world.http.post(url, json=body)
        if response.status_code == 201:
            self.acked.add(op)
            if op in self.pending:
                self.pending.remove(op)
        elif op not in self.pending:
            self.pending.append(op)
        return response.status_code

    async def edit(self) -> tuple[int, float]:
        self.sent += 1
        start = self.world.run.clock.now()
        status = await self.write(f"op-{self.sent}")
        return status, self.world.run.clock.now() - start


@experiment("authoring.chaos.4")
async def postgres_failover_during_block_writes(run: Run) -> None:
    world = await open_world(run)
    editor = Editor(world, await world.new_draft())
    for _ in range(5):
        await editor.edit()
        await run.clock.asleep(1)
    await run.steady("block writes are acknowledged", len(editor.acked) == 5)

    # The cut lands right after COMMIT of the write in flight: stored, answer lost.
    editor.sent += 1
    lost = f"op-{editor.sent}"
    await world.http.post(
        f"/v1/drafts/{editor.draft}/blocks",
        json={"kind": "text", "body": {"op": lost}, "operationId": lost},
    )
    editor.pending.append(lost)
    t0 = run.clock.now()
    gap: list[tuple[int, float]] = []
    async with run.fault(Failure("store.write", error=ConnectionResetError("primary gone"))):
        for _ in range(30):  # 30 s until the standby is promoted
            gap.append(await editor.edit())
            await run.clock.asleep(1)
    run.expect("writes in the gap are refused", all(s == 503 for s, _ in gap), str(gap[:3]))
    run.expect("each within its 300 ms budget", all(t <= 0.3 + 1e-9 for _, t in gap))
    errors = events_since(run, "attempt.failed", "store.write", t0)
    run.expect("connection errors seen", bool(errors))
    run.expect("alert raised", bool(alerts(run, "authoring.rule.block-write-failed")))

    # Promoted: the pool's first connection is a stale one (reset), then writes flow.
    pending = list(editor.pending)
    resent: list[int] = []
    async with run.fault(Failure("store.write", times=1, error=ConnectionResetError("stale"))):
        for op in pending:
            resent.append(await editor.write(op))
    run.expect("every resend acknowledged at once", all(s == 201 for s in resent), str(resent))
    run.expect("nothing left pending", editor.pending == [], str(editor.pending))

    blocks = (await world.draft(editor.draft))["blocks"]
    stored = [str(b["body"].get("op")) for b in blocks]
    run.expect("every acknowledged write is stored", editor.acked <= set(stored))
    run.expect("every edit is stored", len(set(stored)) == editor.sent, f"{len(set(stored))}")
    run.expect("no duplicates", len(stored) == len(set(stored)), f"{len(stored)} blocks")
