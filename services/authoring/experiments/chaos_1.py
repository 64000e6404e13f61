"""authoring.chaos.1: kill the collab process serving a draft with 3 active editors.

Three editors type steadily; the process serving the draft is killed while each holds
acknowledged edits and edits not yet sent. Every client sees its socket drop within
seconds, reconnects to the same survivor and resumes; the merged document holds every
acknowledged and every pending edit. Then the dead process comes back and the survivor
is restarted gracefully: its clients get the reconnect hint and move together again."""

from __future__ import annotations

from mitigate.chaos import Run, experiment
from services.authoring.harness import alerts, open_world


@experiment("authoring.chaos.1", failure_modes=["authoring.fm.1.7"])
async def kill_collab_process(run: Run) -> None:
    world = await open_world(run)
    draft = await world.new_draft()
    users = ("ann", "bob", "cat")
    clients = [world.editor(u, draft) for u in users]
    for client in clients:
        await client.join()
    for n in range(3):
        for client in clients:
            await client.edit(f"{client.name}-{n}", f"{client.name} paragraph {n}")
        await run.clock.asleep(1)
    for client in clients:
        await client.settled(limit=5)
    await run.steady("one process serves the draft", len({c.server for c in clients}) == 1)
    # Two rooms of one draft on two processes would fight over the event log's versions.
    churn = any(len(c.statuses) > 1 for c in clients)
    await run.steady("no reconnects while nothing fails", not churn)
    acked = set().union(*(c.acked for c in clients))
    await run.steady("9 edits acknowledged", len(acked) == 9)

    host = world.server(clients[0].server)
    for client in clients:
        client.edit_local(f"{client.name}-pending", f"{client.name} unsent")
    t0 = run.clock.now()
    host.kill()
    settled = [await c.settled() for c in clients]
    dropped = [
        next((at for at, s in c.statuses if s == "reconnecting" and at >= t0), None)
        for c in clients
    ]
    seen = [at - t0 for at in dropped if at is not None]
    if len(seen) == 3 and max(seen) < 5:
        run.detected("every client saw its socket drop")
    run.expect("every client saw the drop within seconds", len(seen) == 3 and max(seen) < 5)
    run.expect("every client resumed", all(settled), str(settled))
    survivors = {c.server for c in clients}
    run.expect("all on the same survivor", len(survivors) == 1 and host.name not in survivors)
    run.expect("alert raised", bool(alerts(run, "authoring.rule.collab-process-down")))
    pending = {f"{u}-pending" for u in users}
    document = (await world.document(draft))["blocks"]
    run.expect("every acknowledged edit kept", acked <= set(document), str(sorted(document)))
    run.expect("every pending edit merged", pending <= set(document))
    run.expect("identical everywhere", all(c.blocks() == document for c in clients))

    # The dead process is back; the survivor restarts gracefully: reconnect hint.
    host.revive()
    survivor = world.server(clients[0].server)
    await survivor.restart()
    settled = [await c.settled() for c in clients]
    run.expect("rejoined after the reconnect hint", all(settled))
    run.expect("still together", len({c.server for c in clients}) == 1)
    await clients[0].edit("ann-after", "after the restart")
    for client in clients:
        await client.settled(limit=5)
    await run.clock.asleep(1)
    document = (await world.document(draft))["blocks"]
    run.expect("editing continues", all(c.blocks() == document for c in clients))
    run.expect("nothing lost", len(document) == 13, str(len(document)))
